"""Equal weighting (EW): the objective is the plain sum of the task losses, Σ_k L_k."""

from __future__ import annotations

import torch

from mtl_lib.weighting.base import WEIGHTINGS, LossWeighting


@WEIGHTINGS.register("ew")
class EqualWeighting(LossWeighting):
    """EW: every task's loss enters the objective with weight 1 (sum, not mean, so that a
    single-task run trains exactly as it would without the library)."""

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        return losses
