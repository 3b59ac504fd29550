"""MoDo: multi-objective gradient with double sampling (Chen, Fernando, Ying & Chen, "Three-Way
Trade-Off in Multi-Objective Learning: Optimization, Generalization and Conflict-Avoidance",
NeurIPS 2023 / JMLR 2024; TorchJD's ``MoDoWeighting``).

Stochastic MGDA with one projected-gradient step on the weights per training step:

    λ ← Π_Δ(λ − γ (A λ + ρ λ)),    d = K · Jᵀ λ,        λ = 1/K at the start

with Π_Δ the Euclidean projection onto the probability simplex. The paper's A is J₁J₂ᵀ from two
*independent* mini-batches (double sampling, which makes the λ step unbiased); the engine computes
one Jacobian per step, so here A = G = JJᵀ of the step's batch — TorchJD's single-batch usage,
which its documentation warns loses the convergence guarantee. Feeding two batches would need the
engine to compute two Jacobians per step; not done.

Defaults (TorchJD 0.18's): ``gamma = 0.1``, ``rho = 0.1`` (LibMTL: gamma 1e-3, rho 0.1). Scale:
λ is on the simplex (TorchJD weights); ×K puts the direction on the library's sum scale.
No scale rule (``scale_equivariance = None``): the step γ acts on G = JJᵀ unnormalised (as in the
paper and TorchJD), so scaling J by s scales the λ step by s² — for tiny gradients λ barely moves
from 1/K, for huge ones every step lands on a vertex of the simplex. The computation itself is
float64 on the row-scaled Gram matrix (:meth:`weights_for`), finite at any scale.
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.aggregators.base import AGGREGATORS, GramianWeightedAggregator
from mtl_lib.aggregators.moco import project_to_simplex


@AGGREGATORS.register("modo")
class MoDo(GramianWeightedAggregator):
    """One projected-gradient step per training step on the MGDA weights."""

    scale_equivariance = None  # γ multiplies JJᵀ: the λ step grows like s²

    def __init__(self, gamma: float = 0.1, rho: float = 0.1) -> None:
        if gamma <= 0 or rho < 0:
            raise ValueError("gamma must be positive and rho non-negative")
        self.gamma, self.rho = gamma, rho
        self.reset()

    def reset(self) -> None:
        self.simplex_weights: torch.Tensor | None = None

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        k = gram.shape[0]
        lam = self.simplex_weights
        if lam is None or lam.shape[0] != k:
            lam = gram.new_full((k,), 1.0 / k)
        lam = lam.to(gram)
        lam = project_to_simplex(lam - self.gamma * (gram.detach() @ lam + self.rho * lam))
        self.simplex_weights = lam
        return k * lam

    def state_dict(self) -> dict[str, Any]:
        return {"simplex_weights": self.simplex_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.simplex_weights = state["simplex_weights"]

    def __repr__(self) -> str:
        return f"MoDo(gamma={self.gamma}, rho={self.rho})"
