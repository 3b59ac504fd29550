"""The chapter's saved ``paper`` summary: its sweep plan, what it stores, and the comparison with it."""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mtl_lib.experiments.saved_summaries import missing_message, read_summary, write_summary
from mtl_lib.studies.multidigits.config import (
    TUNED_EW,
    configs,
    grid_configs,
    settings,
    tuned_configs,
)
from mtl_lib.studies.multidigits.equal_tuning import (
    choose_equal,
    equal_delta_m,
    equal_grid_configs,
    equal_summary,
    equal_test_configs,
    equal_tuning_claim,
)
from mtl_lib.studies.multidigits.rau import (
    dominance,
    rau_configs,
    rau_frame,
)
from mtl_lib.studies.multidigits.tables import (
    delta_m_values,
    summary_table,
    tuned_ew_claim,
    tuned_ew_verdict,
)
from mtl_lib.studies.multidigits.tuning import (
    choose_base_lrs,
    choose_tuned,
)
from mtl_lib.studies.registry import Stage

#: File stem of the chapter's saved summaries (``data/paper_verdicts/multidigits.<profile>.json``).
SAVED_NAME = "multidigits"

#: The command that runs the sweep at a profile (resumable: finished runs are reused).
SWEEP_COMMAND = "python -m mtl_lib run multidigits --profile {profile} --workers 2 --save-summary"


def summary_payload(
    records: Sequence[dict[str, Any]],
    tuned_records: Sequence[dict[str, Any]],
    grid_records: Sequence[dict[str, Any]],
    rau_records: Sequence[dict[str, Any]],
    profile: str,
) -> dict[str, Any]:
    """Everything the chapter shows, computed from the runs, as plain JSON-ready data: the
    summary table, per-seed Δm (against each method's reference and against tuned EW, so the
    figures can be redrawn), the tuned-EW verdict, the rAU dominance table, the chosen learning
    rates, and the sizes and summed run time of the sweep."""
    everything = [*records, *tuned_records, *grid_records, *rau_records]
    both = [*records, *tuned_records]
    summary = summary_table(both, profile)
    claim = tuned_ew_claim(delta_m_values(both, profile, against=TUNED_EW), profile)
    columns = ["right-dominated %", "left-dominated %", "balanced %"]
    dominant = (
        dominance(rau_frame(rau_records))
        if rau_records
        else pd.DataFrame(columns=columns, index=pd.MultiIndex.from_tuples([], names=["condition", "method"]))
    )
    return {
        "sizes": settings(profile),
        "runs": {"methods": len(records), "tuned EW": len(tuned_records), "grid": len(grid_records),
                 "rAU": len(rau_records)},
        "statuses": sorted({r.get("status", "finished") for r in everything}),
        "run_seconds": round(sum(float(r.get("wall_time_s", 0.0)) for r in everything), 1),
        "torch_threads_per_run": sorted({r.get("torch_threads") for r in everything}, key=str),
        "base_lrs": choose_base_lrs(grid_records),
        "tuned_choice": choose_tuned(grid_records),
        "summary": summary.reset_index().to_dict(orient="records"),
        # the JSON writer sorts keys, so the column order travels separately
        "summary_columns": ["method", *summary.columns],
        "tuned_ew_verdict": tuned_ew_verdict(summary),
        # the claims with their verdicts, keyed by the stable id the book's front page pairs them by
        "claims": [{"id": claim.id, "source": "MultiDigits", "claim": claim.claim, "paper": claim.paper,
                    "ours": claim.ours, "verdict": claim.verdict}],
        "delta_m": delta_m_values(both, profile),
        "delta_m_vs_tuned": delta_m_values(both, profile, against=TUNED_EW),
        "dominance": dominant.reset_index().to_dict(orient="records"),
        "dominance_columns": ["condition", "method", *dominant.columns],
    }  # fmt: skip


def equal_payload(search: Sequence[dict[str, Any]], test: Sequence[dict[str, Any]], *,
                  before: dict[str, list[float]], profile: str) -> dict[str, Any]:  # fmt: skip
    """The equal-tuning protocol's results as JSON-ready data: its table (chosen settings, Δm vs
    tuned EW before and after), per-seed Δm, the claim, and its run count and run seconds."""
    choices = choose_equal(profile, search)
    table = equal_summary(test, choices, profile, before=before)
    values = equal_delta_m(test, profile)
    claim = equal_tuning_claim(values, profile)
    return {
        "table": table.reset_index().astype(str).to_dict(orient="records"),
        "table_columns": ["method", *table.columns], "delta_m_vs_tuned": values,
        "claim": {"id": claim.id, "claim": claim.claim, "ours": claim.ours, "verdict": claim.verdict},
        "runs": len(search) + len(test),
        "run_seconds": round(sum(float(r.get("wall_time_s", 0.0)) for r in [*search, *test]), 1),
    }  # fmt: skip


def summary_markdown(payload: dict[str, Any], profile: str) -> str:
    """The payload as a page a person can read on the repository's web view."""
    runs = payload["runs"]
    lines = [
        f"# MultiDigits at `{profile}`",
        "",
        f"{sum(runs.values())} runs ({', '.join(f'{k} {v}' for k, v in runs.items())}), "
        f"{payload['run_seconds']:.0f} run-seconds in total (one torch thread per run). "
        f"Learning rates chosen on validation: {payload['base_lrs']}; tuned EW: {payload['tuned_choice']}.",
        "",
        payload["tuned_ew_verdict"],
        "",
        saved_table(payload).to_markdown(),
        "",
        "rAU dominance of the shared parameters (% of parameters, mean over seeds):",
        "",
        saved_dominance(payload).to_markdown(),
    ]
    return "\n".join(lines) + "\n"


def save_summary(
    records: Sequence[dict[str, Any]],
    tuned_records: Sequence[dict[str, Any]],
    grid_records: Sequence[dict[str, Any]],
    rau_records: Sequence[dict[str, Any]],
    profile: str,
    folder: str | Path | None = None,
    equal: tuple[Sequence[dict[str, Any]], Sequence[dict[str, Any]]] | None = None,
) -> Path:
    """Write :func:`summary_payload` (and its markdown) with provenance, for the chapter to show
    at other profiles; returns the JSON path. Refuses a sweep with failed runs."""
    failed = [r["run_id"] for r in [*records, *tuned_records, *grid_records, *rau_records]
              if r.get("status", "finished") != "finished"]  # fmt: skip
    if failed:
        raise ValueError(f"{len(failed)} runs did not finish (e.g. {failed[0]}): re-run the sweep before saving")
    payload = summary_payload(records, tuned_records, grid_records, rau_records, profile)
    if equal is not None:
        payload["equal_tuning"] = equal_payload(*equal, before=payload["delta_m_vs_tuned"], profile=profile)
        payload["claims"].append({"source": "MultiDigits", "paper": "", **payload["equal_tuning"]["claim"]})
    return write_summary(SAVED_NAME, profile, payload, summary_markdown(payload, profile), folder)


def rejudged(saved: dict[str, Any]) -> dict[str, Any]:
    """``saved`` with its claims recomputed under today's rule from the per-seed Δm it stores
    (``delta_m_vs_tuned``, and the equal-tuning section's when present): no run is needed."""
    profile = saved["profile"]
    claim = tuned_ew_claim(saved["delta_m_vs_tuned"], profile)
    claims = [{"id": claim.id, "source": "MultiDigits", "claim": claim.claim, "paper": claim.paper,
               "ours": claim.ours, "verdict": claim.verdict, "test": claim.test}]  # fmt: skip
    if "equal_tuning" in saved:
        equal = equal_tuning_claim(saved["equal_tuning"]["delta_m_vs_tuned"], profile)
        claims.append({"id": equal.id, "source": "MultiDigits", "claim": equal.claim, "paper": equal.paper,
                       "ours": equal.ours, "verdict": equal.verdict, "test": equal.test})  # fmt: skip
    return {**saved, "claims": claims, "tuned_ew_verdict": tuned_ew_verdict(saved_table(saved))}


#: What the chapter's page reads from its saved summary, with the types it needs.
SAVED_KEYS: dict[str, type | tuple[type, ...]] = {
    "sizes": dict, "runs": dict, "run_seconds": (int, float), "base_lrs": dict, "tuned_choice": dict,
    "summary": list, "summary_columns": list, "tuned_ew_verdict": str, "claims": list, "delta_m": dict,
    "delta_m_vs_tuned": dict, "dominance": list, "dominance_columns": list,
}  # fmt: skip


def read_saved(profile: str = "paper", folder: str | Path | None = None) -> dict[str, Any] | None:
    """The saved summary at ``profile``, or None (then :func:`missing_saved` says how to make it);
    a damaged one raises a one-line error naming the file and the command that remakes it."""
    return read_summary(
        SAVED_NAME, profile, folder, command=SWEEP_COMMAND.format(profile=profile), required=SAVED_KEYS,
        check=saved_problem,
    )  # fmt: skip


def saved_problem(saved: dict[str, Any]) -> str | None:
    """What the page cannot draw from ``saved`` (its tables, its facts line, its Δm figure), or None."""
    for rows, columns in (("summary", "summary_columns"), ("dominance", "dominance_columns")):
        for index, row in enumerate(saved[rows], start=1):
            missing = [c for c in saved[columns] if not isinstance(row, dict) or c not in row]
            if missing:
                return f"row {index} of {rows!r} lacks the column(s) {missing}"
    try:
        saved_table(saved)
        saved_dominance(saved)
        saved_facts(saved)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        return f"the page cannot read it ({type(error).__name__}: {error})"
    for key in ("delta_m", "delta_m_vs_tuned"):
        for method, values in saved[key].items():
            if not isinstance(values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
            ):
                return f"{key}[{method!r}] must be a list of finite numbers, got {values!r}"
    return None


def missing_saved(profile: str = "paper", folder: str | Path | None = None) -> str:
    """Why there is nothing to show, and the command that makes it."""
    return missing_message(SAVED_NAME, profile, SWEEP_COMMAND.format(profile=profile), folder)


def saved_table(saved: dict[str, Any]) -> pd.DataFrame:
    """The saved summary table, indexed by method like :func:`summary_table`."""
    return pd.DataFrame(saved["summary"], columns=saved["summary_columns"]).set_index("method")


def saved_facts(saved: dict[str, Any]) -> str:
    """One sentence on the saved sweep's size and cost."""
    size, runs = saved["sizes"], saved["runs"]
    steps = size["epochs"] * math.ceil(size["data"]["n_train"] / size["batch_size"])
    return (
        f"{sum(runs.values())} runs ({', '.join(f'{k} {v}' for k, v in runs.items())}): {size['data']} composites, "
        f"{size['epochs']} epochs of batch {size['batch_size']} ({steps} steps per run), seeds "
        f"{list(size['seeds'])}; {saved['run_seconds'] / 3600:.2f} run-hours in total "
        f"(one torch thread per run); learning rates chosen on validation {saved['base_lrs']}, "
        f"tuned EW {saved['tuned_choice']}."
    )


def compare_verdicts(here: pd.DataFrame, saved: pd.DataFrame, here_label: str, saved_label: str) -> pd.DataFrame:
    """Per method of ``here`` (references left out), Δm against its reference and the verdict in
    both summaries side by side, and whether the verdicts agree; a method missing from the saved
    summary (registered after it was written) has empty saved columns and "same verdict" None."""
    columns = ["Δm % vs reference", "verdict"]
    mine = here[columns].rename(columns=lambda c: f"{c} ({here_label})")
    both = mine.join(saved[columns].rename(columns=lambda c: f"{c} ({saved_label})"), how="left")
    both = both[both[f"verdict ({here_label})"] != "(reference)"]
    mine, theirs = both[f"verdict ({here_label})"], both[f"verdict ({saved_label})"]
    both["same verdict"] = [None if not isinstance(b, str) else a == b for a, b in zip(mine, theirs)]
    return both


def agreement_sentence(comparison: pd.DataFrame, here_label: str, saved_label: str) -> str:
    """How many verdicts the two profiles share, the counts of each verdict at both, and the
    methods the saved summary does not have."""
    present = comparison[comparison["same verdict"].notna()]
    same = int(present["same verdict"].astype(bool).sum())

    def counts(label: str) -> str:
        values = present[f"verdict ({label})"].value_counts()
        return ", ".join(f"{n} {v}" for v, n in values.items())

    text = (
        f"{same} of {len(present)} verdicts are the same at '{here_label}' and '{saved_label}'. "
        f"At '{here_label}': {counts(here_label)}. At '{saved_label}': {counts(saved_label)}."
    )
    missing = [m for m in comparison.index if m not in present.index]
    if missing:
        text += f" Not in the saved sweep (re-run it to add them): {', '.join(missing)}."
    return text


def saved_dominance(saved: dict[str, Any]) -> pd.DataFrame:
    """The saved rAU dominance table, indexed like :func:`dominance`."""
    return pd.DataFrame(saved["dominance"], columns=saved["dominance_columns"]).set_index(["condition", "method"])


__all__ = [
    "SAVED_KEYS",
    "saved_problem",
    "GRID",
    "MAIN",
    "RAU",
    "TUNED",
    "sweep_plan",
    "write_cli_summary",
    "SAVED_NAME",
    "SWEEP_COMMAND",
    "summary_payload",
    "equal_payload",
    "EQUAL_GRID",
    "EQUAL_TEST",
    "summary_markdown",
    "save_summary",
    "read_saved",
    "missing_saved",
    "saved_table",
    "rejudged",
    "saved_facts",
    "compare_verdicts",
    "agreement_sentence",
    "saved_dominance",
]


# ------------------------------------------------------------------------------ the sweep, for the command line
#: Labels of the sweep's stages (the grid decides the learning rates of the others; the equal-tuning
#: search decides the settings of the equal-tuning test runs).
GRID, MAIN, TUNED, RAU = "grid (validation split)", "methods", "tuned EW", "rAU"
EQUAL_GRID, EQUAL_TEST = "equal tuning: search (validation split)", "equal tuning: test"


def sweep_plan(profile: str, data_dir: str | None, device: str) -> Generator[Stage, list[dict[str, Any]], None]:
    """The chapter's sweep in the notebook's order: the validation grid, then (at the learning
    rates it chose) every method, tuned EW, and the rAU runs."""
    grid = yield Stage(GRID, grid_configs(profile, device=device))
    base_lrs = choose_base_lrs(grid)
    yield Stage(MAIN, configs(profile, device=device, base_lrs=base_lrs))
    yield Stage(TUNED, tuned_configs(profile, choose_tuned(grid), device=device))
    yield Stage(RAU, rau_configs(profile, device=device, base_lrs=base_lrs))
    search = yield Stage(EQUAL_GRID, equal_grid_configs(profile, device=device))
    yield Stage(EQUAL_TEST, equal_test_configs(profile, choose_equal(profile, search), device=device))


def write_cli_summary(
    profile: str, records: Mapping[str, list[dict[str, Any]]], root: Path, device: str = "auto"
) -> Path:
    """:func:`save_summary` of :func:`sweep_plan`'s records (what ``run multidigits --save-summary`` writes)."""
    equal = (records[EQUAL_GRID], records[EQUAL_TEST]) if EQUAL_TEST in records else None
    return save_summary(records[MAIN], records[TUNED], records[GRID], records[RAU], profile, equal=equal)
