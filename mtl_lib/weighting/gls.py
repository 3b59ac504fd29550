"""GLS: Geometric Loss Strategy (Chennupati, Sistu, Yogamani & Rawashdeh, CVPR Workshops 2019,
"MultiNet++: Multi-Stream Feature Aggregation and Geometric Loss Strategy for Multi-Task
Learning").

The paper's objective is the geometric mean of the task losses,

    G(L) = (Π_k L_k)^{1/K} = exp(mean_k log L_k),      ∂G/∂L_k = G / (K · L_k).

Scale: with all losses equal, ∇G = (1/K) Σ_k ∇L_k, a convex combination of the task gradients
(the weights G/(K L_k) sum to 1 then). Following the library's sum convention we train on
K·G by default (``sum_scale=True``), which equals EW's gradient when the losses are equal; the
factor is a constant, so it only rescales the step (``sum_scale=False`` gives the paper's and
LibMTL's G).

Terms: G is not a sum over tasks, so we split it by its gradient (see
:func:`mtl_lib.weighting._common.gradient_split_terms`):

    term_k = w_k · L_k,   w_k = c·G / (K·L_k) detached,   c = K (sum scale) or 1,

so Σ_k term_k = c·G in value, its gradient is c·∇G, and the per-task row an aggregator sees is
w_k ∇L_k: a task with a small loss gets a large weight (GLS's implicit re-weighting, since
∇ log L_k = ∇L_k / L_k). Every term has the same value c·G/K.

G is computed as exp(mean log L) with the losses clamped to ``eps`` (default 1e-12, ours) so a
zero loss gives finite weights instead of 0/0.
"""

from __future__ import annotations

import torch

from mtl_lib.weighting._common import gradient_split_terms
from mtl_lib.weighting.base import WEIGHTINGS, LossWeighting


@WEIGHTINGS.register("gls")
class GLS(LossWeighting):
    """Geometric mean of the task losses (× K by default), split into per-task terms."""

    def __init__(self, sum_scale: bool = True, eps: float = 1e-12) -> None:
        super().__init__()
        self.sum_scale = bool(sum_scale)
        self.eps = float(eps)

    def objective(self, losses: torch.Tensor) -> torch.Tensor:
        """c · (Π_k L_k)^{1/K} as one scalar (c = K with ``sum_scale``, else 1)."""
        scale = losses.shape[0] if self.sum_scale else 1.0
        return scale * torch.exp(torch.log(losses.clamp_min(self.eps)).mean())

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        return gradient_split_terms(self.objective, losses)

    def extra_repr(self) -> str:
        return f"sum_scale={self.sum_scale}, eps={self.eps}"
