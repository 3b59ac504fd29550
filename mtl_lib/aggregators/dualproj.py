"""DualProj: the projection of the summed gradient onto the dual cone of the task gradients
(Lopez-Paz & Ranzato, "Gradient Episodic Memory for Continual Learning", NeurIPS 2017, Eq. 11;
as an aggregator in TorchJD's ``DualProj``).

    d = π_C(Jᵀp),   C = {x : Jx ≥ 0},   π_C(Jᵀp) = Jᵀ v,   v = argmin_{v ≥ p} vᵀ G v

the closest vector to the (preference-weighted) sum that conflicts with no task. Compared with
UPGrad (which projects every gradient and then adds), DualProj projects once, after adding.

Defaults: G / trace(G) + ``reg_eps``·I with ``reg_eps = 1e-4`` (TorchJD 0.18's) and
``norm_eps = 0`` (TorchJD: 1e-4, which skips the projection whenever trace(G) < 1e-4; see
UPGrad's note) — so d(sJ) = s·d(J) at every scale (``scale_equivariance = 1``);
``pref_vector`` defaults to ones (the library's sum scale; TorchJD's default 1/K gives our
direction divided by K). Exact active-set QP solve from G alone (:mod:`._dual_cone`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mtl_lib.aggregators._dual_cone import normalized_regularized_gram, project_weights
from mtl_lib.aggregators.base import AGGREGATORS, GramianWeightedAggregator
from mtl_lib.aggregators.upgrad import preference_weights


@AGGREGATORS.register("dualproj")
class DualProj(GramianWeightedAggregator):
    """The summed gradient, projected onto the cone of non-conflicting directions."""

    def __init__(
        self,
        pref_vector: Sequence[float] | None = None,
        norm_eps: float = 0.0,
        reg_eps: float = 1e-4,
    ) -> None:
        if norm_eps < 0 or reg_eps < 0:
            raise ValueError("norm_eps and reg_eps must be non-negative")
        self.pref_vector = None if pref_vector is None else list(pref_vector)
        self.norm_eps, self.reg_eps = norm_eps, reg_eps

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        g = normalized_regularized_gram(gram, self.norm_eps, self.reg_eps)
        weights = project_weights(preference_weights(self.pref_vector, g.shape[0]), g)
        return weights.to(device=gram.device, dtype=gram.dtype)

    def __repr__(self) -> str:
        return f"DualProj(pref_vector={self.pref_vector}, norm_eps={self.norm_eps}, reg_eps={self.reg_eps})"
