#!/usr/bin/env python3
"""Give the claims of the saved summaries written before claims had ids their stable ids.

    python scripts/rekey_saved_summaries.py [--check]

Saved summaries (``data/paper_verdicts/*.json``) used to pair a chapter's claims with their saved
verdicts by the claim's text, so a wording fix meant rewriting the summary. Claims now carry a
stable id (``Claim.id``, declared in each study's ``CLAIM_IDS``). This script maps each claim text
of the two summaries written under the old scheme to its id and writes it into the file through
:func:`mtl_lib.experiments.saved_summaries.rekey_claims`, which records the re-keying in the file's
provenance. Nothing is retrained or recomputed: every number, verdict and ``written_at`` stays.
``--check`` exits 1 when some saved claim still has no id. Re-running it changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mtl_lib.experiments.saved_summaries import rekey_claims  # noqa: E402
from mtl_lib.studies import adatask_rau, adatask_tables, multidigits  # noqa: E402

#: The texts the summaries were written with (2026-12-01), in their order, and the studies' ids.
OLD_TEXTS = {
    "synthetic_verdicts.paper.json": (
        [
            "AdaTask lowers the dominated task A's error compared with EqualWeight (paired over seeds, the 95 % CI "
            "of the difference below 0).",
            "AdaTask has the lowest average error of the six methods of Table 2 (means over seeds).",
            "AdaTask pays on the dominant task B: its B error is above EqualWeight's (paired over seeds).",
            "LAdaTask (Table 5) improves task A over EqualWeight, but less than AdaTask (EqualWeight > LAdaTask > "
            "AdaTask on A, means over seeds).",
            "EqualWeight leaves ≥ 90 % of shared parameters with rAU(B) in (80 %, 100 %].",
            "AdaTask(-RMSProp) leaves ≥ 90 % of shared parameters with rAU(B) in (40 %, 60 %].",
            "PCGrad is close to EqualWeight: its share of B-dominated parameters is within 10 points of EqualWeight's.",
            "GradNorm leaves most shared parameters (≥ 50 %) dominated by neither task, rAU(B) in (20 %, 80 %].",
            "Noise N(0, 0.05) on the top-1 % rAU(B) parameters of EqualWeight hurts task B much more than task A "
            "(we require B's relative RMSE increase ≥ 3× A's).",
            "With N(0, 0.01) on the top 1, 5, 10, 20 % by rAU(B), task B's RMSE increase grows with the fraction "
            "and stays above task A's.",
            "High rAU(B) marks parameters that matter for B: noise N(0, 0.05) on the top-1 % rAU(B) parameters "
            "raises B's RMSE more than on as many random shared parameters (difference beyond its 95 % CI; our "
            "control, the paper has no random baseline).",
            "RMSProp's joint learning rate is set by task B: at the end of EqualWeight training the median (over "
            "sampled shared parameters) of joint / B-alone lies in [0.75, 1.25] while joint / A-alone ≤ 0.5.",
        ],
        adatask_tables.SYNTHETIC_CLAIM_IDS + adatask_rau.CLAIM_IDS,
    ),
    "multidigits.paper.json": (
        ["Tuned EW matches most specialised methods (Kurin et al. 2022; Xin et al. 2022)"],
        (multidigits.CLAIM_ID,),
    ),
}
NOTE = (
    "claims keyed by their stable id (scripts/rekey_saved_summaries.py); the claim texts are those of the "
    "original run, nothing was retrained or recomputed"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a saved claim has no id")
    parser.add_argument("--folder", type=Path, default=ROOT / "data" / "paper_verdicts")
    args = parser.parse_args(argv)
    missing = 0
    for name, (texts, ids) in OLD_TEXTS.items():
        path = args.folder / name
        if not path.exists():
            continue
        if args.check:
            claims = json.loads(path.read_text()).get("claims", [])
            missing += sum(not c.get("id") for c in claims)
            continue
        changed = rekey_claims(path, dict(zip(texts, ids, strict=True)), note=NOTE)
        print(f"{path.name}: {changed} claim(s) given an id")
    if args.check and missing:
        print(f"{missing} saved claim(s) have no id: run python scripts/rekey_saved_summaries.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
