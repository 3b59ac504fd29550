"""The gradient-balancing chapter's claims read off its own summary table: which directions
lower every loss to first order on the survey's conflicting gradient pair."""

from __future__ import annotations

import pandas as pd

from mtl_lib.studies._common import Claim, identify

#: The methods whose papers promise a common descent direction, and their register ids.
DESCENT_CLAIM_IDS = ("survey.mgda.common_descent", "survey.cagrad.every_loss")
DESCENT_METHODS = ("MGDA", "CAGrad")
FIRST, SECOND = "⟨d, g1⟩", "⟨d, g2⟩"


def descent_claims(summary: pd.DataFrame) -> list[Claim]:
    """For MGDA and CAGrad: does the direction have a non-negative inner product with both task
    gradients of the pair (the first-order change of each loss is −η⟨d, g_k⟩)? An exact
    computation on one fixed pair, so a yes/no verdict."""
    claims = [
        Claim.check(
            f"{method}'s direction decreases every task's loss to first order on a conflicting pair.",
            "a common descent direction (MGDA, CAGrad slides)",
            f"{FIRST} = {summary.loc[method, FIRST]:+.3f}, {SECOND} = {summary.loc[method, SECOND]:+.3f}",
            bool(summary.loc[method, FIRST] >= 0 and summary.loc[method, SECOND] >= 0),
        )
        for method in DESCENT_METHODS
    ]
    return identify(claims, DESCENT_CLAIM_IDS)


__all__ = ["DESCENT_CLAIM_IDS", "descent_claims"]
