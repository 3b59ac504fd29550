"""AdaTask's synthetic claims (Tables 2 and 5, Fig. 2) at one profile as a saved summary.

The chapter's sweep (:func:`sweep_plan`, run by ``python -m mtl_lib run adatask_rau``) trains
the Fig. 2 bucket runs into ``<results>/adatask_rau/<profile>/`` and the Tables 2 and 5 runs
into ``<results>/adatask_synthetic/<profile>/`` (the folders the notebooks read, so a later
``make book PROFILE=paper`` reuses every run). ``--save-summary`` then calls
:func:`write_synthetic_summary`: the EqualWeight probe run, every claim with its verdict, and
the Tables 2/5 table, written with provenance to ``data/paper_verdicts/synthetic_verdicts.<profile>.json``
(and ``.md``), which the AdaTask chapters show beside their own verdicts. ``run_seconds`` is
summed from the records, so it is the training cost however often the command was re-run.
At ``paper`` the CityScapes part of ``adatask_tables`` is not run (200 epochs per method and
seed: a GPU job, see ``benchmarks/device_check.sh``).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

from mtl_lib.experiments.saved_summaries import write_summary
from mtl_lib.studies.adatask_rau.claims import check_claims
from mtl_lib.studies.adatask_rau.config import bucket_configs
from mtl_lib.studies.adatask_rau.probes import probe_run
from mtl_lib.studies.registry import Stage

#: Key of the saved summary (``data/paper_verdicts/synthetic_verdicts.<profile>.json``).
SUMMARY_KEY = "synthetic_verdicts"
BUCKETS, TABLES = "Fig. 2 bucket sweep", "Tables 2 and 5 sweep"
#: Where each stage's claims come from (the ``source`` of each saved claim).
SOURCES = {TABLES: "Tables 2/5", BUCKETS: "Fig. 2 / rAU"}


def sweep_plan(profile: str, data_dir: str | None, device: str) -> Generator[Stage, Any, None]:
    """Fig. 2's bucket runs, then the Tables 2 and 5 runs whose claims the saved summary carries too."""
    from mtl_lib.studies.adatask_tables import synthetic_configs

    yield Stage(BUCKETS, bucket_configs(profile, device=device))
    yield Stage(TABLES, synthetic_configs(profile, device=device), folder="adatask_synthetic")


def _run_seconds(records: list[dict[str, Any]]) -> float:
    return round(sum(float(r.get("wall_time_s", 0.0)) for r in records), 1)


def claim_rows(source: str, claims: list[Any]) -> list[dict[str, str]]:
    """Claims as the saved summary stores them, keyed by their stable ``id``."""
    return [
        {"id": getattr(c, "id", ""), "source": source, "claim": c.claim, "paper": c.paper, "ours": c.ours,
         "verdict": c.verdict}
        for c in claims
    ]  # fmt: skip


def write_synthetic_summary(
    profile: str, records: Mapping[str, list[dict[str, Any]]], root: Path, device: str = "auto"
) -> Path:
    """The saved summary of :func:`sweep_plan`'s records (and the EqualWeight probe run, trained
    here unless its record is in ``<root>/adatask_rau/<profile>``); returns the JSON path."""
    from mtl_lib.studies import adatask_regime, adatask_tables

    tables, buckets = records[TABLES], records[BUCKETS]
    probe = probe_run(profile, Path(root) / "adatask_rau" / profile, "EqualWeight", device=device)
    table = adatask_tables.synthetic_table(tables)
    payload = {
        "runs": len(tables) + len(buckets) + 1,
        "torch_threads_per_run": sorted({r.get("torch_threads") for r in tables + buckets}, key=str),
        "run_seconds": {
            TABLES: _run_seconds(tables), BUCKETS: _run_seconds(buckets),
            "EqualWeight probe run": _run_seconds([probe]),
        },
        "claims": claim_rows(SOURCES[TABLES], adatask_tables.synthetic_claims(tables))
        + claim_rows(SOURCES[BUCKETS], check_claims(buckets, probe)),
        "table": table.reset_index().to_dict(orient="records"),
        "table_columns": [table.index.name or "method", *table.columns],
        # issue 22: which definition the tables use, the same verdicts under every other one and
        # at neighbouring checkpoints, and each method's spread over seeds (the ablations the page cites)
        "task_normalization": adatask_regime.definition(),
        "verdicts_by_definition": adatask_tables.verdicts_by_definition(tables).reset_index().to_dict(orient="records"),
        "verdicts_at_checkpoints": adatask_tables.verdicts_at_checkpoints(tables).reset_index().to_dict(orient="records"),
        "spread": adatask_tables.spread_table(tables).reset_index().to_dict(orient="records"),
    }  # fmt: skip
    lines = [f"# AdaTask synthetic claims at `{profile}`", "",
             f"{payload['runs']} runs; training time summed over runs (one torch thread each): "
             + ", ".join(f"{k} {v:.0f} s" for k, v in payload["run_seconds"].items()),
             "", "| source | claim | paper | ours | verdict |", "|---|---|---|---|---|"]  # fmt: skip
    lines += [
        f"| {c['source']} | {c['claim']} | {c['paper']} | {c['ours']} | {c['verdict']} |" for c in payload["claims"]
    ]
    lines += ["", f"Errors: `{payload['task_normalization']}`.", "", table.to_markdown(), ""]
    lines += ["Tables 2/5 verdicts under every definition (same runs):", "",
              adatask_tables.verdicts_by_definition(tables).to_markdown(), "",
              "At neighbouring checkpoints:", "", adatask_tables.verdicts_at_checkpoints(tables).to_markdown(), "",
              "Spread over seeds:", "", adatask_tables.spread_table(tables).round(4).to_markdown(), ""]  # fmt: skip
    return write_summary(SUMMARY_KEY, profile, payload, "\n".join(lines))


__all__ = ["SUMMARY_KEY", "claim_rows", "sweep_plan", "write_synthetic_summary"]
