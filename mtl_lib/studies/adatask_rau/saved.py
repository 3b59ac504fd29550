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

from mtl_lib.experiments.saved_summaries import refresh_claims, summary_path, write_summary
from mtl_lib.studies.adatask_rau.ablations import fig1_ablation_claims, gradnorm_alpha_claims
from mtl_lib.studies.adatask_rau.claims import PROBE_CLAIM_IDS, check_claims, probe_claims
from mtl_lib.studies.adatask_rau.config import ablation_configs, bucket_configs
from mtl_lib.studies.adatask_rau.probes import probe_run
from mtl_lib.studies.registry import Stage

#: Key of the saved summary (``data/paper_verdicts/synthetic_verdicts.<profile>.json``).
SUMMARY_KEY = "synthetic_verdicts"
BUCKETS, TABLES, ABLATIONS = "Fig. 2 bucket sweep", "Tables 2 and 5 sweep", "ablation runs"
#: Where each stage's claims come from (the ``source`` of each saved claim).
SOURCES = {TABLES: "Tables 2/5", BUCKETS: "Fig. 2 / rAU"}


def sweep_plan(profile: str, data_dir: str | None, device: str) -> Generator[Stage, Any, None]:
    """Fig. 2's bucket runs, then the Tables 2 and 5 runs whose claims the saved summary carries too."""
    from mtl_lib.studies.adatask_tables import synthetic_configs

    yield Stage(BUCKETS, bucket_configs(profile, device=device))
    yield Stage(TABLES, synthetic_configs(profile, device=device), folder="adatask_synthetic")
    yield Stage(ABLATIONS, ablation_configs(profile, device=device))


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

    tables, buckets, ablations = records[TABLES], records[BUCKETS], list(records.get(ABLATIONS, []))
    probe = probe_run(profile, Path(root) / "adatask_rau" / profile, "EqualWeight", device=device)
    table = adatask_tables.synthetic_table(tables)
    payload = {
        "runs": len(tables) + len(buckets) + len(ablations) + 1,
        "torch_threads_per_run": sorted({r.get("torch_threads") for r in tables + buckets + ablations}, key=str),
        "run_seconds": {
            TABLES: _run_seconds(tables), BUCKETS: _run_seconds(buckets),
            "EqualWeight probe run": _run_seconds([probe]), ABLATIONS: _run_seconds(ablations),
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
        **_probe_payload(probe, [r for r in buckets if r.get("method") == "GradNorm"] + ablations),
    }  # fmt: skip
    lines = [*_claims_markdown(profile, payload), f"Errors: `{payload['task_normalization']}`.", "",
             table.to_markdown(), ""]  # fmt: skip
    lines += ["Tables 2/5 verdicts under every definition (same runs):", "",
              adatask_tables.verdicts_by_definition(tables).to_markdown(), "",
              "At neighbouring checkpoints:", "", adatask_tables.verdicts_at_checkpoints(tables).to_markdown(), "",
              "Spread over seeds:", "", adatask_tables.spread_table(tables).round(4).to_markdown(), ""]  # fmt: skip
    return write_summary(SUMMARY_KEY, profile, payload, "\n".join(lines + _ablations_markdown(payload)))


def _probe_payload(probe: dict[str, Any], gradnorm_records: list[dict[str, Any]]) -> dict[str, Any]:
    """The ablations (claim rows) and the probe's Fig. 1 evidence a saved summary carries."""
    from mtl_lib.studies.adatask_rau.noise import noise_summary, noise_table

    ablations = fig1_ablation_claims(probe)
    if any(r.get("method") != "GradNorm" for r in gradnorm_records):
        ablations += gradnorm_alpha_claims(gradnorm_records)
    fig1 = noise_table(noise_summary(probe["noise"]))
    return {
        "ablations": claim_rows("ablation", ablations),
        "noise_table": fig1.reset_index(names="setting").to_dict(orient="records"),
        "noise_selected": probe["noise_selected"],
    }


def _claims_markdown(profile: str, payload: dict[str, Any]) -> list[str]:
    lines = [f"# AdaTask synthetic claims at `{profile}`", "",
             f"{payload['runs']} runs; training time summed over runs (one torch thread each): "
             + ", ".join(f"{k} {v:.0f} s" for k, v in payload["run_seconds"].items()),
             "", "| source | claim | paper | ours | verdict |", "|---|---|---|---|---|"]  # fmt: skip
    lines += [
        f"| {c['source']} | {c['claim']} | {c['paper']} | {c['ours']} | {c['verdict']} |" for c in payload["claims"]
    ]
    return [*lines, ""]


def _ablations_markdown(payload: dict[str, Any]) -> list[str]:
    import pandas as pd

    lines = ["## Ablations (ours, not claims of the paper)", "", "| ablation | ours | verdict |", "|---|---|---|"]
    lines += [f"| {c['claim']} | {c['ours']} | {c['verdict']} |" for c in payload.get("ablations", [])]
    if payload.get("noise_table"):
        lines += ["", "Fig. 1 with the ablation selections (relative RMSE increase, %, mean over draws):", "",
                  pd.DataFrame(payload["noise_table"]).set_index("setting").to_markdown()]  # fmt: skip
    return [*lines, ""]


def refresh_probe_claims(
    profile: str = "paper", root: Path | str = "_build/results", device: str = "auto", workers: int | None = None,
    folder: Path | str | None = None,
) -> list[tuple[str, str, str]]:  # fmt: skip
    """Bring an existing saved summary's probe claims (:data:`PROBE_CLAIM_IDS`) and ablations up
    to date without re-running its sweeps: the EqualWeight probe run, the ablation runs and the
    GradNorm bucket runs they are paired with are trained (or read from ``root``), those claims
    are recomputed and replaced by id, and the rest (Fig. 2 shares, Tables 2/5) stays as the
    original sweep wrote it; ``provenance["refreshed"]`` records when, the commit and what
    changed. Returns the verdict changes as ``(id, before, after)``."""
    from mtl_lib.experiments import sweep

    results = Path(root) / "adatask_rau" / profile
    probe = probe_run(profile, results, "EqualWeight", device=device)
    gradnorm = bucket_configs(profile, ["GradNorm"], device=device)
    paired = sweep(gradnorm + ablation_configs(profile, device=device), results, workers=workers)
    fresh = claim_rows(SOURCES[BUCKETS], probe_claims(probe))
    extra = _probe_payload(probe, paired)
    ablation_seconds = _run_seconds([r for r in paired if r.get("method") != "GradNorm"])

    def update(summary: dict[str, Any]) -> dict[str, Any]:
        summary.update(extra)
        summary["run_seconds"] = {**summary["run_seconds"], "EqualWeight probe run": _run_seconds([probe]),
                                  ABLATIONS: ablation_seconds}  # fmt: skip
        summary["runs"] = int(summary["runs"]) + len(paired) - len(gradnorm)
        return summary

    def markdown(summary: dict[str, Any]) -> str:
        old = summary_path(SUMMARY_KEY, profile, folder).with_suffix(".md").read_text()
        # keep the original tables below the claims table; rewrite the claims and the ablations
        rest = old.split("\nErrors: ", 1)[1].split("\n## Ablations", 1)[0] if "\nErrors: " in old else ""
        head = _claims_markdown(profile, summary)
        return "\n".join([*head, "Errors: " + rest.rstrip("\n"), "", *_ablations_markdown(summary)])

    note = (f"probe claims {list(PROBE_CLAIM_IDS)} recomputed from a new EqualWeight probe run (same training "
            "config; the probe now also ranks by AU(B) and Fisher(B)), and the ablations added; Fig. 2 shares "
            "and Tables 2/5 are the original sweep's")  # fmt: skip
    return refresh_claims(summary_path(SUMMARY_KEY, profile, folder), fresh, update=update, note=note,
                          markdown=markdown)  # fmt: skip


__all__ = ["SUMMARY_KEY", "claim_rows", "refresh_probe_claims", "sweep_plan", "write_synthetic_summary"]
