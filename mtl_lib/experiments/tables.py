"""Tables of run records for notebooks: long-format frames of every epoch or the last one,
and the failed runs with their errors."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable
from typing import Any

import pandas as pd

from mtl_lib.core.history_keys import parse_key, split_of


def split_failed(
    records: Iterable[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(finished, failed)`` records."""
    finished, failed = [], []
    for record in records:
        (failed if record.get("status", "finished") == "failed" else finished).append(record)
    return finished, failed


def _finished_only(records: Iterable[dict[str, Any]], caller: str) -> list[dict[str, Any]]:
    finished, failed = split_failed(records)
    if failed:
        warnings.warn(
            f"{caller}: {len(failed)} failed run(s) left out: " + ", ".join(r["run_id"] for r in failed)
            + " (failure_summary(records) says why)", stacklevel=3,
        )  # fmt: skip
    return finished


def _warn_merged_optimizers(records: list[dict[str, Any]], caller: str) -> None:
    """The default method label names the weighting and aggregator, not the optimizer: two runs
    that differ only in their optimizer would share a table row unnoticed."""
    optimizers: dict[str, set[str]] = {}
    for record in records:
        optimizer = (record.get("config") or {}).get("optimizer")
        if isinstance(optimizer, str):
            optimizers.setdefault(record["method"], set()).add(optimizer)
    merged = {method: sorted(names) for method, names in optimizers.items() if len(names) > 1}
    if merged:
        listed = "; ".join(f"{method!r}: {', '.join(names)}" for method, names in sorted(merged.items()))
        warnings.warn(
            f"{caller}: one method label covers runs with different optimizers ({listed}); their "
            "rows are merged. Give each config its own RunConfig(label=...) to tell them apart",
            stacklevel=3,
        )


def _long_rows(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for record in records:
        for epoch in record["history"]:
            for key, value in epoch.items():
                parsed = parse_key(key)
                if parsed is None:
                    continue
                task, metric = parsed
                rows.append(
                    {
                        "run_id": record["run_id"],
                        "method": record["method"],
                        "seed": record["seed"],
                        "epoch": epoch["epoch"],
                        "phase": epoch.get("phase"),
                        "split": split_of(metric),
                        "task": task,
                        "metric": metric,
                        "value": value,
                    }
                )
    return pd.DataFrame(rows)


def history_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Long-format table of every epoch of every finished run:
    columns run_id, method, seed, epoch, phase (the training schedule's), split ("train" for
    the epoch's mean training loss, "eval" for metrics on the evaluation data), task, metric,
    value. Reads both history key schemes (:mod:`mtl_lib.core.history_keys`). Failed runs are left out
    (with a warning naming them; :func:`report_failures` says why they failed)."""
    finished = _finished_only(records, "history_frame")
    _warn_merged_optimizers(finished, "history_frame")
    frame = _long_rows(finished)
    if frame.empty:
        warnings.warn("history_frame: no finished records given", stacklevel=2)
    return frame


def final_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per finished run and task/metric at the last epoch (same columns as
    :func:`history_frame`; failed runs left out with a warning)."""
    finished = _finished_only(records, "final_frame")
    _warn_merged_optimizers(finished, "final_frame")
    frame = _long_rows(finished)
    if frame.empty:
        warnings.warn("final_frame: no finished records given", stacklevel=2)
        return frame
    last = frame.groupby("run_id")["epoch"].transform("max")
    return frame[frame["epoch"] == last].reset_index(drop=True)


def failure_summary(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per failed run: run_id, method, seed, epochs completed, error type and message
    (empty frame when nothing failed)."""
    rows = [
        {
            "run_id": r["run_id"],
            "method": r.get("method"),
            "seed": r.get("seed"),
            "epochs completed": len(r.get("history") or []),
            "error": (r.get("error") or {}).get("type"),
            "message": (r.get("error") or {}).get("message"),
        }
        for r in split_failed(records)[1]
    ]
    return pd.DataFrame(rows, columns=["run_id", "method", "seed", "epochs completed", "error", "message"])


def report_failures(records: Iterable[dict[str, Any]], file: Any = None) -> int:
    """Print which runs failed and why (for a notebook, instead of plotting NaN); returns how
    many failed. Prints nothing when every run finished."""
    summary = failure_summary(records)
    if not summary.empty:
        out = file or sys.stdout
        print(f"{len(summary)} run(s) FAILED and are left out of the tables and figures:", file=out)
        for row in summary.itertuples(index=False):
            print(
                f"  {row.method} (seed {row.seed}, {row[3]} epochs done): {row.error}: {row.message}",
                file=out,
            )
        print("A later sweep retries them (sweep(..., retry_failed=True), the default).", file=out)
    return len(summary)


__all__ = ["failure_summary", "final_frame", "history_frame", "report_failures", "split_failed"]
