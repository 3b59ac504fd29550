"""ExcessMTL (He, Xu, Cao, Yu & Wang, "Robust Multi-Task Learning with Excess Risks", ICML 2024;
TorchJD's ``ExcessMTL``).

Tasks are weighted by how far each is from its own optimum (its *excess risk*), estimated from
gradients with a diagonal AdaGrad-style Hessian, and the weights move by exponentiated gradient:

    S_k  ← S_k + g_k ⊙ g_k                                   (accumulated squared gradients)
    e_k  = Σ_i g_ki² / sqrt(S_ki + 1e-7)                      (≈ g_kᵀ H_k⁻¹ g_k, Eqs. 6-7)
    e_k  ← e_k / (e_k⁽⁰⁾ + 1e-7)                              (scale by the first step's value)
    λ    ← softmax(log λ + η e)                               (Eq. 9; λ = 1/K at the start)
    d    = K · Σ_k λ_k g_k

With the default ``n_warmup_steps = 0`` the first step's e becomes the baseline e⁽⁰⁾ and the
weights stay uniform on that step, as in the authors' code (github.com/yifei-he/ExcessMTL,
``LibMTL/weighting/ExcessMTL.py``: the first call only stores ``initial_w``); with
``n_warmup_steps = n`` the weights stay uniform for n steps and e⁽⁰⁾ is the mean e over them (the
paper's Appendix C.1 warm-up). TorchJD 0.18 instead updates the weights with the *raw* e on the
baseline step: with one task's gradient 10× the other's (η = 1) that sends the smaller task's
weight to ~1e-153 after one step (0 in float32, where log 0 keeps it there for good) — a bug we
do not copy; our default equals TorchJD's ``n_warmup_steps = 1``.

Defaults: ``robust_step_size`` η = 1.0 (TorchJD's; LibMTL's is 1e-2). State: R = √S (K×P, the
size of the Jacobian — a real memory cost), λ, e⁽⁰⁾; ``reset()`` clears it. Scale: λ is on the
simplex (TorchJD returns Σλ_k g_k); ×K puts the direction on the library's sum scale (uniform λ
gives J.sum(0)), which also matches the authors' and LibMTL's initial weights of 1.

No scale rule (``scale_equivariance = None``): the ratios e/e⁽⁰⁾ are scale-free only where
g² ≫ 1e-7; for tiny gradients the 1e-7 terms dominate and the weights barely move.

Numerics (ours): S itself would overflow float32 for entries above ~1e19 (and S + 1e-7 loses
entries below ~1e-23), so we keep R = √S, updated as R ← hypot(R, g), and compute every term as
g · (g / hypot(R, √1e-7)) — the same e, with each factor bounded by |g|.
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.aggregators.base import AGGREGATORS, Aggregation, Aggregator


@AGGREGATORS.register("excess_mtl")
class ExcessMTL(Aggregator):
    """Exponentiated-gradient task weights driven by estimated excess risks."""

    scale_equivariance = None  # the 1e-7 terms make small gradients' weights move less

    def __init__(self, robust_step_size: float = 1.0, n_warmup_steps: int = 0) -> None:
        if robust_step_size <= 0 or n_warmup_steps < 0:
            raise ValueError("robust_step_size must be positive and n_warmup_steps non-negative")
        self.robust_step_size, self.n_warmup_steps = robust_step_size, n_warmup_steps
        self.reset()

    def reset(self) -> None:
        self.root_squared_sum: torch.Tensor | None = None
        self.weights: torch.Tensor | None = None
        self.baseline: torch.Tensor | None = None
        self.warmup_sum: torch.Tensor | None = None
        self.steps = 0

    def aggregate(self, jacobian: torch.Tensor) -> Aggregation:
        k = jacobian.shape[0]
        if self.root_squared_sum is None or self.root_squared_sum.shape != jacobian.shape:
            self.reset()
            self.root_squared_sum = torch.zeros_like(jacobian)
            self.weights = jacobian.new_full((k,), 1.0 / k)
            self.warmup_sum = jacobian.new_zeros(k)
        assert self.weights is not None and self.warmup_sum is not None
        g = jacobian.detach()
        self.root_squared_sum = torch.hypot(self.root_squared_sum.to(g), g)
        denominator = torch.hypot(self.root_squared_sum, g.new_tensor(1e-7**0.5))
        excess = (g * (g / denominator)).sum(dim=1)
        self.steps += 1
        if self.steps <= self.n_warmup_steps:
            self.warmup_sum = self.warmup_sum.to(jacobian) + excess
            return self._result(jacobian)
        if self.baseline is None and self.n_warmup_steps == 0:
            # the authors' baseline step: record e⁽⁰⁾, keep the weights (the raw e would make
            # the softmax's temperature the gradient scale and can zero a task's weight at once)
            self.baseline = excess
            return self._result(jacobian)
        if self.baseline is None:
            self.baseline = self.warmup_sum / self.n_warmup_steps
        excess = excess / (self.baseline.to(jacobian) + 1e-7)
        # log space: a huge excess risk saturates the weights instead of overflowing
        self.weights = torch.softmax(torch.log(self.weights.to(jacobian)) + self.robust_step_size * excess, 0)
        return self._result(jacobian)

    def _result(self, jacobian: torch.Tensor) -> Aggregation:
        assert self.weights is not None
        weights = jacobian.shape[0] * self.weights.to(jacobian)
        return Aggregation(direction=weights @ jacobian, weights=weights)

    def state_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in ("root_squared_sum", "weights", "baseline", "warmup_sum", "steps")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value.clone() if isinstance(value, torch.Tensor) else value)

    def __repr__(self) -> str:
        return f"ExcessMTL(robust_step_size={self.robust_step_size}, n_warmup_steps={self.n_warmup_steps})"
