"""AdaTask's synthetic claims (Tables 2 and 5, Fig. 2) at one profile: a thin wrapper over the CLI.

``paper`` sweeps run one way, through the command line; this script is kept so that the command
the chapters' prose names still works. It runs

    python -m mtl_lib run adatask_rau --profile PROFILE [--workers N] [--results DIR] --save-summary

(the Fig. 2 bucket runs, the Tables 2 and 5 runs and the EqualWeight probe run, resumable, then
the saved summary ``data/paper_verdicts/synthetic_verdicts.<profile>.json``; see
:mod:`mtl_lib.studies.adatask_rau.saved`). ``--summaries`` sets ``$MTL_SUMMARIES_DIR``.

    python benchmarks/synthetic_verdicts.py --profile paper --workers 2

``--refresh-probe`` instead re-runs only the EqualWeight probe run, the ablation runs and the
GradNorm bucket runs they are paired with, and recomputes the probe claims and the ablations of
the existing summary in place (:func:`mtl_lib.studies.adatask_rau.refresh_probe_claims`; the
summary's provenance records it):

    python benchmarks/synthetic_verdicts.py --profile paper --workers 2 --refresh-probe
"""

from __future__ import annotations

import argparse
import os
import sys

from mtl_lib.cli import main as cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="paper", choices=("smoke", "quick", "paper"))
    parser.add_argument("--workers", default=None, help="worker processes (default: cores)")
    parser.add_argument("--results", default=None, help="results root (default: $MTL_RESULTS_DIR or _build/results)")
    parser.add_argument("--summaries", default=None, help="summary folder (default: data/paper_verdicts)")
    parser.add_argument("--refresh-probe", action="store_true", help="recompute only the probe claims and ablations")
    args = parser.parse_args(argv)
    if args.summaries:
        os.environ["MTL_SUMMARIES_DIR"] = args.summaries
    if args.refresh_probe:
        from mtl_lib.experiments import default_results_dir
        from mtl_lib.studies.adatask_rau import refresh_probe_claims

        workers = int(args.workers) if args.workers else None
        changes = refresh_probe_claims(args.profile, args.results or default_results_dir(), workers=workers)
        print(f"refreshed; verdicts changed: {changes or 'none'}")
        return 0
    command = ["run", "adatask_rau", "--profile", args.profile, "--save-summary"]
    command += ["--workers", args.workers] if args.workers else []
    command += ["--results", args.results] if args.results else []
    return cli(command)


if __name__ == "__main__":
    sys.exit(main())
