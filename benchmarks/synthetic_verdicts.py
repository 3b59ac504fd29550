"""AdaTask's synthetic claims (Tables 2 and 5, Fig. 2) at one profile, without the notebooks.

Runs (or resumes) the synthetic sweep of ``adatask_tables`` (its folder is ``adatask_synthetic``) and the rAU bucket sweep and probe
runs of ``adatask_rau`` into ``<results>/<study>/<profile>/`` (the folders the notebooks read,
so a later ``make book PROFILE=paper`` reuses every run), over local worker processes, then writes
every claim with its verdict, as a saved summary (:mod:`mtl_lib.experiments.saved_summaries`), to
``data/paper_verdicts/synthetic_verdicts.<profile>.json`` and ``.md``, which the AdaTask chapters
show beside their own verdicts. Runs already in the results folders are reused, so re-running it
only re-computes the summary; ``run_seconds`` (summed from the records) is the training cost
either way, while ``wall_s_this_invocation`` times this invocation alone.

    python benchmarks/synthetic_verdicts.py --profile paper --workers 2

At ``paper`` the CityScapes part of ``adatask_tables`` is not run (200 epochs per method and
seed: a GPU job, see ``benchmarks/device_check.sh``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mtl_lib.experiments import default_results_dir, sweep, write_summary
from mtl_lib.studies import adatask_rau, adatask_tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="paper", choices=("smoke", "quick", "paper"))
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: cores)")
    parser.add_argument("--results", default=None, help="results root (default: $MTL_RESULTS_DIR or _build/results)")
    parser.add_argument(
        "--summaries", default=None, help="summary folder (default: $MTL_SUMMARIES_DIR or data/paper_verdicts)"
    )
    args = parser.parse_args()

    def folder(study: str) -> Path:
        if args.results:
            return Path(args.results) / study / args.profile
        return default_results_dir(study, args.profile)

    timings = {}
    started = time.perf_counter()
    tables = sweep(adatask_tables.synthetic_configs(args.profile), folder("adatask_synthetic"), workers=args.workers)
    timings["Tables 2 and 5 sweep"] = time.perf_counter() - started
    started = time.perf_counter()
    buckets = sweep(adatask_rau.bucket_configs(args.profile), folder("adatask_rau"), workers=args.workers)
    timings["Fig. 2 bucket sweep"] = time.perf_counter() - started
    started = time.perf_counter()
    probe = adatask_rau.probe_run(args.profile, folder("adatask_rau"), "EqualWeight")
    timings["EqualWeight probe run"] = time.perf_counter() - started

    claims = [("Tables 2/5", c) for c in adatask_tables.synthetic_claims(tables)]
    claims += [("Fig. 2 / rAU", c) for c in adatask_rau.check_claims(buckets, probe)]
    threads = sorted({r.get("torch_threads") for r in tables + buckets})
    table = adatask_tables.synthetic_table(tables)

    def run_seconds(records: list[dict]) -> float:
        return round(sum(float(r.get("wall_time_s", 0.0)) for r in records), 1)

    out = {
        "runs": len(tables) + len(buckets) + 1,
        "torch_threads_per_run": threads,
        "run_seconds": {
            "Tables 2 and 5 sweep": run_seconds(tables),
            "Fig. 2 bucket sweep": run_seconds(buckets),
            "EqualWeight probe run": run_seconds([probe]),
        },
        "wall_s_this_invocation": {k: round(v, 1) for k, v in timings.items()},
        "claims": [
            {"source": s, "claim": c.claim, "paper": c.paper, "ours": c.ours, "verdict": c.verdict} for s, c in claims
        ],  # fmt: skip
        "table": table.reset_index().to_dict(orient="records"),
        "table_columns": [table.index.name or "method", *table.columns],
    }
    lines = [f"# AdaTask synthetic claims at `{args.profile}`", "",
             f"{out['runs']} runs; training time summed over runs (one torch thread each): "
             + ", ".join(f"{k} {v:.0f} s" for k, v in out["run_seconds"].items()),
             "", "| source | claim | paper | ours | verdict |", "|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {c['source']} | {c['claim']} | {c['paper']} | {c['ours']} | {c['verdict']} |" for c in out["claims"]]
    lines += ["", table.to_markdown(), ""]
    path = write_summary("synthetic_verdicts", args.profile, out, "\n".join(lines), folder=args.summaries)
    print("\n".join(lines))
    print(f"written: {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
