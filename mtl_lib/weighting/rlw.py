"""RLW: random loss weighting (Lin, Ye, Zhang & Tsang, TMLR 2022, "Reasonable Effectiveness of
Random Weighting: A Litmus Test for Multi-Task Learning"; arXiv 2111.10603, first titled
"A Closer Look at Loss Weighting in Multi-Task Learning").

At every step, fresh weights are drawn and normalised by a softmax:

    ε ~ N(0, I_K),   w = K · softmax(ε),   term_k = w_k · L_k          (w constant)

The paper's (and LibMTL's) weights are softmax(ε), summing to 1; we multiply by K for the
library's sum scale (E[w_k] = 1, as in EW), which only rescales the step. The standard normal is
the paper's and LibMTL's default distribution (``dist='Normal'``); the others LibMTL offers
(uniform, Dirichlet, Bernoulli) are not implemented here.

Randomness comes from this object's own ``torch.Generator`` seeded with ``seed`` (default 0);
``reset()`` restarts the sequence, and ``state_dict()`` carries the generator state so a
resumed run draws the same weights.
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.weighting.base import WEIGHTINGS, LossWeighting


@WEIGHTINGS.register("rlw")
class RLW(LossWeighting):
    """Random loss weighting: K·softmax of standard normal samples, drawn anew every step."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = int(seed)
        # A CPU generator gives the same sequence on every device; K numbers per step are cheap.
        self.generator = torch.Generator().manual_seed(self.seed)
        self.last_weights: torch.Tensor | None = None

    def sample_weights(self, num_tasks: int) -> torch.Tensor:
        """Draw the next weight vector (``(K,)``, float64, CPU, summing to K)."""
        noise = torch.randn(num_tasks, generator=self.generator, dtype=torch.float64)
        return num_tasks * torch.softmax(noise, dim=0)

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        weights = self.sample_weights(losses.shape[0])
        self.last_weights = weights
        return weights.to(device=losses.device, dtype=losses.dtype) * losses

    def reset(self) -> None:
        self.generator.manual_seed(self.seed)
        self.last_weights = None

    def get_extra_state(self) -> dict[str, Any]:
        return {"seed": self.seed, "generator": self.generator.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.seed = state["seed"]
        self.generator.set_state(state["generator"])

    def extra_repr(self) -> str:
        return f"seed={self.seed}"
