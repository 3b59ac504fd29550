#!/usr/bin/env python3
"""Apply today's verdict rule to the saved ``paper`` summaries that store per-seed values.

    python scripts/rejudge_saved_summaries.py [--folder data/paper_verdicts]

A saved summary (``data/paper_verdicts/*.json``) keeps the verdict words of the rule it was written
under. When the file also stores the per-seed numbers a claim is computed from, the claim can be
judged again under today's rule without retraining anything: this script does that through
:func:`mtl_lib.experiments.saved_summaries.rejudge_claims`, which records the re-judging (when,
why, every verdict that changed) in the file's provenance and keeps ``written_at``. Summaries
whose claims need numbers the file does not hold are left alone (re-run their sweep instead).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mtl_lib.experiments.saved_summaries import read_json, rejudge_claims  # noqa: E402
from mtl_lib.studies import multidigits  # noqa: E402

#: Saved summary file → the function that recomputes its claims from what it stores.
REJUDGE = {"multidigits.paper.json": multidigits.rejudged}
NOTE = (
    "claims recomputed under today's rule (tuned EW 'matches' a method only when the method's whole 95 % "
    "interval of Δm lies below +2 %, and the method is 'better' only when it lies wholly above +2 %) from "
    "the per-seed Δm the file stores; nothing retrained (scripts/rejudge_saved_summaries.py)"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=ROOT / "data" / "paper_verdicts")
    args = parser.parse_args(argv)
    for name, rejudge in REJUDGE.items():
        path = args.folder / name
        if not path.exists():
            print(f"{path}: not there, nothing to do")
            continue
        profile = read_json(path)["profile"]
        markdown = multidigits.summary_markdown(rejudge(read_json(path)), profile)
        changes = rejudge_claims(path, rejudge, note=NOTE, markdown=markdown)
        print(f"{name}: {len(changes)} verdict(s) changed" + "".join(f"\n  {i}: {a} -> {b}" for i, a, b in changes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
