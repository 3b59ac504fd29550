"""CR-MOGM: correlation-reduced weights for stochastic multi-objective gradient manipulation
(Zhou, Zhang, Jiang, Zhang, Wu & Chen, "On the Convergence of Stochastic Multi-Objective Gradient
Manipulation and Beyond", NeurIPS 2022; TorchJD's ``CRMOGMWeighting``).

A modifier, not a method of its own: the weights λ̂_t that another weighted aggregator (MGDA,
UPGrad, IMTL-G, ...) computes from this step's stochastic gradients are smoothed by an
exponential moving average before use, which reduces the correlation between the weights and the
gradient noise that biases stochastic MGDA-type updates:

    λ_t = α λ_{t-1} + (1 − α) λ̂_t,   λ_0 = λ̂_1,      d = Jᵀ λ_t

Defaults: ``base = "mgda"`` (the paper's setting; TorchJD's examples wrap UPGrad), ``alpha = 0.9``
(TorchJD's; the paper's Corollary 1 lets α_t grow towards 1 as the learning rate decays — set
``alpha`` between steps for that). The base must return its weights (``Aggregation.weights``).
Scale: that of the base (its ``scale_equivariance`` and ``min_tasks`` are inherited).
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.aggregators.base import AGGREGATORS, Aggregation, Aggregator


@AGGREGATORS.register("crmogm")
class CRMOGM(Aggregator):
    """Exponential moving average of a weighted aggregator's task weights."""

    def __init__(self, base: str | Aggregator = "mgda", alpha: float = 0.9, **base_kwargs: Any) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.base = AGGREGATORS.build(base, **base_kwargs)
        self.alpha = alpha
        self.needs_losses = self.base.needs_losses
        # the EMA of scale-free weights is scale-free: CR-MOGM inherits the base's rules
        self.scale_equivariance = self.base.scale_equivariance
        self.min_tasks = self.base.min_tasks
        self.smoothed: torch.Tensor | None = None

    def bind_shared_parameters(self, names: list[str], sizes: list[int]) -> None:
        self.base.bind_shared_parameters(names, sizes)

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        current = self.base(jacobian, losses).weights
        if current is None:
            raise ValueError(f"CR-MOGM smooths task weights, but {self.base!r} returns none; use a weighted base")
        previous = current if self.smoothed is None else self.smoothed.to(current)
        self.smoothed = self.alpha * previous + (1.0 - self.alpha) * current
        return Aggregation(direction=self.smoothed @ jacobian, weights=self.smoothed)

    def reset(self) -> None:
        self.base.reset()
        self.smoothed = None

    def state_dict(self) -> dict[str, Any]:
        return {"smoothed": self.smoothed, "base": self.base.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.smoothed = state["smoothed"]
        self.base.load_state_dict(state["base"])

    def __repr__(self) -> str:
        return f"CRMOGM(base={self.base!r}, alpha={self.alpha})"
