"""RLW: random loss weighting (Lin, Ye, Zhang & Tsang, TMLR 2022, "Reasonable Effectiveness of
Random Weighting: A Litmus Test for Multi-Task Learning"; arXiv 2111.10603, first titled
"A Closer Look at Loss Weighting in Multi-Task Learning").

At every step, fresh weights are drawn and normalised by a softmax:

    ε ~ N(0, I_K),   w = K · softmax(ε),   term_k = w_k · L_k          (w constant)

The paper's (and LibMTL's) weights are softmax(ε), summing to 1; we multiply by K for the
library's sum scale (E[w_k] = 1, as in EW), which only rescales the step.

``distribution`` picks where the weights come from (the paper's Section 3 and LibMTL's ``dist``):

- ``"normal"`` (default; the paper's and LibMTL's): w = K·softmax(ε), ε ~ N(0, I);
- ``"uniform"``: w = K·softmax(ε), ε_k ~ U(0, 1);
- ``"dirichlet"``: w = K·softmax(ε), ε ~ Dir(1, ..., 1) (LibMTL applies the softmax to the
  Dirichlet sample too; sampled as normalised Exp(1) draws);
- ``"bernoulli"``: w_k ∈ {0, 1} i.i.d. with probability 1/2, redrawn while all are 0 (used as
  drawn, not normalised, as in LibMTL: w = 1 is EW);
- ``"constrained_bernoulli"``: w = e_j for one task j drawn uniformly (one task per step; as in
  LibMTL, not rescaled).

Randomness comes from this object's own ``torch.Generator`` seeded with ``seed`` (default 0);
``reset()`` restarts the sequence, and ``state_dict()`` carries the generator state so a
resumed run draws the same weights.
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.weighting.base import WEIGHTINGS, LossWeighting

DISTRIBUTIONS = ("normal", "uniform", "dirichlet", "bernoulli", "constrained_bernoulli")


@WEIGHTINGS.register("rlw")
class RLW(LossWeighting):
    """Random loss weighting: weights drawn anew every step (default K·softmax of N(0, I))."""

    def __init__(self, seed: int = 0, distribution: str = "normal") -> None:
        super().__init__()
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
        self.distribution = distribution
        self.seed = int(seed)
        # A CPU generator gives the same sequence on every device; K numbers per step are cheap.
        self.generator = torch.Generator().manual_seed(self.seed)
        self.last_weights: torch.Tensor | None = None

    def sample_weights(self, num_tasks: int) -> torch.Tensor:
        """Draw the next weight vector (``(K,)``, float64, CPU; summing to K for the softmax
        distributions)."""
        draw = {"generator": self.generator, "dtype": torch.float64}
        if self.distribution == "bernoulli":
            while True:
                weights = (torch.rand(num_tasks, **draw) < 0.5).to(torch.float64)
                if bool(weights.any()):
                    return weights
        if self.distribution == "constrained_bernoulli":
            weights = torch.zeros(num_tasks, dtype=torch.float64)
            weights[int(torch.randint(num_tasks, (1,), generator=self.generator))] = 1.0
            return weights
        if self.distribution == "normal":
            noise = torch.randn(num_tasks, **draw)
        elif self.distribution == "uniform":
            noise = torch.rand(num_tasks, **draw)
        else:  # Dirichlet(1): normalised Exp(1) draws
            exponential = -torch.log1p(-torch.rand(num_tasks, **draw))
            noise = exponential / exponential.sum()
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
        return f"seed={self.seed}, distribution={self.distribution!r}"
