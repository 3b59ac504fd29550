"""UPGrad: unconflicting projection of gradients (Quinton & Rey, "Jacobian Descent for
Multi-Objective Optimization", arXiv 2406.16232, 2024; TorchJD's ``UPGrad``).

Each task gradient is projected onto the dual cone C = {x : Jx ≥ 0} of all task gradients (the
directions that conflict with none of them), and the projections are added:

    d = Σ_k p_k · π_C(g_k),   π_C(Jᵀe_k) = Jᵀ v_k,   v_k = argmin_{v ≥ e_k} vᵀ G v,   G = J Jᵀ

so d = Jᵀ w with w = Σ_k p_k v_k, computed from G alone (:mod:`._dual_cone`). A gradient that
conflicts with no other is left as it is. d is non-conflicting (g_j·d ≥ 0 for every j), and the
method is linear under a common rescaling of J.

Defaults: the QP sees G / trace(G) plus a ridge, ``reg_eps = 1e-4`` (TorchJD 0.18's), which
makes it positive definite. Ours is per task, ε·G_kk (``regularisation="task"``); TorchJD's
ε·tr(G)·I (``regularisation="trace"``) lets the result conflict with a task whose squared norm
is ~ε of the total: at norms 1 / 0.1 / 0.01 (K = 3, full row rank) min_k cos(g_k, d) = −0.25 over
random Jacobians, in TorchJD as in ours with ``"trace"``, and ≥ −1e-4 with the per-task ridge
(``benchmarks/misbehaving.py``; the normalisation by trace(G) is harmless: without the ridge the
cosine is ≥ 0). G is treated as 0 when trace(G) ≤ ``norm_eps``: TorchJD's
default 1e-4 switches the projection off (d = Jᵀp, conflicts and all) whenever the gradients'
squared norms sum below 1e-4 — late in training, or at a small loss scale — so ours is 0 (only an
exactly zero G, which the row-scaled float64 Gram matrix gives only for a zero Jacobian); the
direction is then linear in J at every scale (``scale_equivariance = 1``). Pass
``norm_eps=1e-4`` for TorchJD's behaviour.
``pref_vector`` p defaults to ones: the library's sum scale (identical gradients g give ≈ K·g, up
to the regularisation); TorchJD's default p = 1/K gives our direction divided by K. Solver: an
exact active-set method (TorchJD calls quadprog); agreement to ~1e-9 in the tests.
"""

from __future__ import annotations

import torch

from mtl_lib.aggregators._dual_cone import (
    DualConeAggregator,
    preference_weights,
    project_each,
)
from mtl_lib.aggregators.base import AGGREGATORS


@AGGREGATORS.register("upgrad")
class UPGrad(DualConeAggregator):
    """Sum of every task gradient's projection onto the cone of non-conflicting directions."""

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        g = self.regularized_gram(gram)
        weights = project_each(preference_weights(self.pref_vector, g.shape[0]), g)
        return weights.to(device=gram.device, dtype=gram.dtype)
