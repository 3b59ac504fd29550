"""DualProj: the projection of the summed gradient onto the dual cone of the task gradients
(Lopez-Paz & Ranzato, "Gradient Episodic Memory for Continual Learning", NeurIPS 2017, Eq. 11;
as an aggregator in TorchJD's ``DualProj``).

    d = π_C(Jᵀp),   C = {x : Jx ≥ 0},   π_C(Jᵀp) = Jᵀ v,   v = argmin_{v ≥ p} vᵀ G v

the closest vector to the (preference-weighted) sum that conflicts with no task. Compared with
UPGrad (which projects every gradient and then adds), DualProj projects once, after adding.

Defaults: G / trace(G) plus the per-task ridge ε·G_kk, ``reg_eps = 1e-4`` (TorchJD's value; its
ridge ε·tr(G)·I is ``regularisation="trace"``, see UPGrad's note for why ours differs) and
``norm_eps = 0`` (TorchJD: 1e-4, which skips the projection whenever trace(G) < 1e-4; see
UPGrad's note) — so d(sJ) = s·d(J) at every scale (``scale_equivariance = 1``);
``pref_vector`` defaults to ones (the library's sum scale; TorchJD's default 1/K gives our
direction divided by K). Exact active-set QP solve from G alone (:mod:`._dual_cone`).
"""

from __future__ import annotations

import torch

from mtl_lib.aggregators._dual_cone import (
    DualConeAggregator,
    preference_weights,
    project_weights,
)
from mtl_lib.aggregators.base import AGGREGATORS


@AGGREGATORS.register("dualproj")
class DualProj(DualConeAggregator):
    """The summed gradient, projected onto the cone of non-conflicting directions."""

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        g = self.regularized_gram(gram)
        weights = project_weights(preference_weights(self.pref_vector, g.shape[0]), g)
        return weights.to(device=gram.device, dtype=gram.dtype)
