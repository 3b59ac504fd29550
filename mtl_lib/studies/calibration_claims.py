"""The calibration chapter's two claims: do the searched settings put the baselines on the
papers' rows? Each is a yes/no statement about the *search* (its best row, one run per setting),
not an interval over seeds, and says so in its ``test``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mtl_lib.studies._common import Claim

#: How close the best searched setting must come to a paper's baseline: within 25 % (a factor
#: of 1.25 either way) on each error; the leaf row within 0.05 of the study's F1.
ERROR_FACTOR = 1.25
LEAF_F1_TOLERANCE = 0.05
SEARCH_TEST = "best row of the search (one run per setting, no interval): a statement about the search"


def _within_factor(ours: float, paper: float, factor: float = ERROR_FACTOR) -> bool:
    return paper / factor <= ours <= paper * factor


def synthetic_baseline_claim(best: Mapping[str, Any], target: Mapping[str, float]) -> Claim:
    """EqualWeight at the search's best setting against AdaTask's Table 2 row (``target``: A, B)."""
    holds = _within_factor(best["A"], target["A"]) and _within_factor(best["B"], target["B"])
    return Claim.check(
        f"Some searched setting puts EqualWeight on the paper's Table 2 row (A {target['A']}, B {target['B']}): "
        "both errors within 25 %.",
        f"A {target['A']}, B {target['B']}, A/B {target['A'] / target['B']:.1f}",
        f"A {best['A']:.4f}, B {best['B']:.4f}, A/B {best['A/B']:.1f} (best of the search)",
        holds,
        test=SEARCH_TEST,
    )


def leaf_baseline_claim(leaf_top: Mapping[str, Any], paper_f1: float = 0.776) -> Claim:
    """Approach A on the calibrated stand-in against the leaf study's Table II row."""
    return Claim.check(
        f"Approach A on the calibrated stand-in lands near the paper's A row (average weighted F1 {paper_f1}).",
        f"{paper_f1}",
        f"{leaf_top['average f1']:.3f} (best of the search)",
        abs(leaf_top["average f1"] - paper_f1) <= LEAF_F1_TOLERANCE,
        test=SEARCH_TEST,
    )


__all__ = ["leaf_baseline_claim", "synthetic_baseline_claim"]
