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

G is computed as exp(mean log L) with the losses clamped to ``eps`` so a zero loss gives finite
weights instead of 0/0. ``eps=None`` (default) uses the smallest normal number of the losses'
dtype (1.2e-38 in float32), so losses of any positive size keep their exact gradient (a larger
clamp, e.g. 1e-12, would freeze every task whose loss fell below it). The geometric mean is
defined for non-negative losses only: a negative loss is an error naming the task (its log is
undefined, and clamping it would silently drop the task). For losses with a known lower bound
−b < 0 (e.g. the CAGrad toy's objectives, which lie above −20) pass ``shift=b``: GLS then uses the
geometric mean of L_k + b (default ``shift=0``, the paper's form).

A zero loss (L_k + shift = 0) makes G = 0 and every other task's weight G/(K·L_j) zero: the
other tasks stop training. GLS warns (:class:`~mtl_lib.weighting._common.ZeroLossWarning`) at
every such step rather than refusing, since a loss may touch zero for one batch.
"""

from __future__ import annotations

import torch

from mtl_lib.weighting._common import gradient_split_terms, require_positive, warn_zero_losses
from mtl_lib.weighting.base import WEIGHTINGS, LossWeighting


@WEIGHTINGS.register("gls")
class GLS(LossWeighting):
    """Geometric mean of the task losses (× K by default), split into per-task terms."""

    def __init__(self, sum_scale: bool = True, eps: float | None = None, shift: float = 0.0) -> None:
        super().__init__()
        self.sum_scale = bool(sum_scale)
        self.eps = None if eps is None else float(eps)
        self.shift = float(shift)

    def objective(self, losses: torch.Tensor) -> torch.Tensor:
        """c · (Π_k (L_k + shift))^{1/K} as one scalar (c = K with ``sum_scale``, else 1)."""
        scale = losses.shape[0] if self.sum_scale else 1.0
        eps = torch.finfo(losses.dtype).tiny if self.eps is None else self.eps
        return scale * torch.exp(torch.log((losses + self.shift).clamp_min(eps)).mean())

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        require_positive(
            self,
            losses + self.shift,
            f"the geometric mean needs losses + shift >= 0 (shift={self.shift})",
            allow_zero=True,
        )
        warn_zero_losses(
            self,
            losses + self.shift,
            "the geometric mean is 0 and so is its gradient with respect to every other loss",
            "Pass shift=b for losses bounded below by -b, drop the task, or use another weighting.",
        )
        return gradient_split_terms(self.objective, losses)

    def extra_repr(self) -> str:
        return f"sum_scale={self.sum_scale}, eps={self.eps}, shift={self.shift}"
