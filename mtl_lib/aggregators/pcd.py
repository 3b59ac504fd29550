"""PCD: priority-constrained descent (Varam et al., "Not All Objectives Are Born Equal:
Priority-Constrained Descent for Hierarchical Multi-Objective Optimization", TMLR 2026; TorchJD's
``PCD``).

Not symmetric in the tasks: task 0 (the first row of J) is the *primary* objective. The update
follows the primary gradient as closely as possible while guaranteeing every secondary task a
fraction τ of the progress its own normalised gradient would give:

    d̃ = argmin_d ½‖d − g̃_1‖²   s.t.   g̃_jᵀ d ≥ τ ‖g̃_j‖²   (j = 2..K),     g̃_i = s_i g_i
    s_i = 1 / sqrt(v̂_i + ε·max_j v̂_j),   v̂_i = bias-corrected EMA (decay β) of ‖g_i‖²
    d  = d̃ · ‖g_1‖ / ‖d̃‖

Solved in the dual, from the Gram matrix alone: d̃ = g̃_1 + Σ_j μ_j g̃_j with μ ≥ 0 minimising
½ μᵀG̃_sμ − bᵀμ, b_j = τ G̃_jj − G̃_j1 (G̃_s the secondaries' block) — a non-negative QP
(:func:`._dual_cone.nonnegative_qp`; TorchJD uses the Goldfarb–Idnani dual active-set method,
which finds the same minimiser). Special cases as TorchJD: g_1 = 0 gives 0; infeasible constraints
(only possible with linearly dependent secondaries, e.g. two opposite ones) are dropped and the
output is g_1; a d̃ that is zero up to round-off gives 0.

Defaults: ``tau = 0.02`` and ``beta = 0.999`` (TorchJD 0.18's), ``eps = 1e-60`` (ours; TorchJD:
an absolute 1e-8). Scale: ‖d‖ = ‖g_1‖ (the method's own; not the library's sum scale), and
d(sJ) = s·d(J) (``scale_equivariance = 1``). State: the EMA of the squared norms.

ε: s_i = 1/sqrt(v̂_i + ε·max_j v̂_j) — relative to the largest task, so that the method is the
same at every overall scale. TorchJD adds an absolute ε to v̂_i, like Adam's: once squared
gradient norms approach it (‖g‖ ≲ 1e-3, common late in training) that silently turns the
normalisation off. But an ε that involves another task breaks the method's invariance to
rescaling one objective (g̃_i = s_i g_i does not change when g_i is multiplied by c > 0) once
v̂_i/max_j v̂_j nears ε: with the former default ε = 1e-8 and one secondary task 1e4 times
smaller than the primary the direction moved by 1.8 % (``benchmarks/misbehaving.py``). ε = 1e-60
only acts beyond a norm ratio of 1e30, where a secondary's weight (≈ the ratio) would no longer
fit in float32; below it the method is invariant to round-off (tested at ratios 1e-6 … 1e3).
Identical to TorchJD's wherever its ε is negligible next to v̂.
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.aggregators._dual_cone import nonnegative_qp
from mtl_lib.aggregators.base import AGGREGATORS, GramianWeightedAggregator


def _priority_weights(gram: torch.Tensor, tau: float) -> torch.Tensor:
    """[1, μ_2, ..., μ_K] for the normalised Gram matrix (float64 CPU); [1, 0, ...] when the
    constraints cannot all hold."""
    k = gram.shape[0]
    weights = torch.zeros(k, dtype=gram.dtype)
    weights[0] = 1.0
    if k == 1:
        return weights
    secondary = gram[1:, 1:]
    b = tau * secondary.diagonal() - gram[1:, 0]
    scale = float(gram.diagonal().max())
    # A tiny ridge keeps the active-set solves defined when secondaries are dependent; the
    # feasibility check below catches the case where that hides infeasible constraints.
    ridge = 1e-12 * scale * torch.eye(k - 1, dtype=gram.dtype)
    mu = nonnegative_qp(secondary + ridge, -b)
    violation = float((b - secondary @ mu).max())
    if violation > 1e-7 * max(scale, 1e-300):
        return weights
    weights[1:] = mu
    return weights


@AGGREGATORS.register("pcd")
class PCD(GramianWeightedAggregator):
    """Closest direction to the primary (first) task's gradient that gives every other task a
    fraction τ of its own progress."""

    def __init__(self, tau: float = 0.02, beta: float = 0.999, eps: float = 1e-60) -> None:
        if not 0.0 <= tau <= 1.0 or not 0.0 <= beta < 1.0 or eps < 0:
            raise ValueError("need 0 <= tau <= 1, 0 <= beta < 1 and eps >= 0")
        self.tau, self.beta, self.eps = tau, beta, eps
        self.reset()

    def reset(self) -> None:
        self.squared_norm_average: torch.Tensor | None = None
        self.steps = 0

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        g = gram.detach().to(device="cpu", dtype=torch.float64)
        k = g.shape[0]
        if not bool(g.isfinite().all()):
            return torch.full_like(gram.diagonal(), float("nan"))
        squared = g.diagonal()
        if self.squared_norm_average is None or self.squared_norm_average.shape[0] != k:
            self.squared_norm_average, self.steps = torch.zeros(k, dtype=torch.float64), 0
        self.steps += 1
        self.squared_norm_average = self.beta * self.squared_norm_average + (1 - self.beta) * squared
        debiased = self.squared_norm_average / (1 - self.beta**self.steps)
        denominators = (debiased + self.eps * debiased.max()).sqrt()
        scales = torch.where(denominators > 0, 1.0 / denominators, 0.0)
        weights = torch.zeros(k, dtype=torch.float64)
        if float(squared[0]) > 0:
            normalised = g * torch.outer(scales, scales)
            w = _priority_weights(normalised, self.tau)
            norm_sq = float(w @ normalised @ w)
            magnitude = float(w.abs() @ normalised.diagonal().clamp(min=0).sqrt()) ** 2
            if norm_sq > 10 * torch.finfo(gram.dtype).eps * magnitude:
                weights = w * scales * (float(squared[0]) / norm_sq) ** 0.5
        return weights.to(device=gram.device, dtype=gram.dtype)

    def state_dict(self) -> dict[str, Any]:
        return {"squared_norm_average": self.squared_norm_average, "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.squared_norm_average, self.steps = state["squared_norm_average"], state["steps"]

    def __repr__(self) -> str:
        return f"PCD(tau={self.tau}, beta={self.beta}, eps={self.eps})"
