"""Aligned-MTL (Senushkin, Patakin, Kuznetsov & Konushin, "Independent Component Alignment for
Multi-Task Learning", CVPR 2023).

Aligned-MTL replaces the task gradients by the nearest matrix (in Frobenius norm, up to scale)
with orthogonal rows of equal norm, i.e. it makes the condition number of the gradient system 1.
With the eigendecomposition of the Gram matrix G = JJᵀ = V Λ Vᵀ (Λ = Σ², the squared singular
values of J), keep the eigenvalues λ_i > ``rtol`` · λ_max (rank r), and form the balance matrix

    B = σ_min · V_r Λ_r^{-1/2} V_rᵀ,        σ_min = √(smallest kept λ),

so the aligned gradients are the rows of BJ = σ_min · U_r V_rᵀ-style orthogonal rows (the
"Procrustes" solution), each of singular value σ_min. The update is their weighted sum
d = (B w)ᵀ J with the preference vector w (default all ones).

Defaults and where they come from:
- ``rtol`` = K · eps(dtype of the gradients): the authors' cut-off max(λ)·K·eps (their code uses
  float32's eps whatever the dtype; TorchJD uses eps of the input dtype, as we do; G itself is
  held in float64, see :func:`~mtl_lib.aggregators.base.gram_matrix`).
- ``scale_mode = "min"`` (paper, authors' code, TorchJD): σ_min; ``"median"`` and ``"rmse"``
  (√ of the median / mean kept eigenvalue) as in the authors' code.
- preference vector: all ones, i.e. the *sum* of the aligned gradients, as in the authors'
  balancer (``grads.sum(-1)``) — this is the library's sum scale (identical gradients g give
  K·g). TorchJD's AlignedMTL defaults to the mean (1/K each): ours = K · TorchJD.

An all-zero Jacobian (rank 0) gives zero weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mtl_lib.aggregators._linalg import solver_copy
from mtl_lib.aggregators.base import AGGREGATORS, GramianWeightedAggregator

_SCALE_MODES = ("min", "median", "rmse")


@AGGREGATORS.register("aligned_mtl")
class AlignedMTL(GramianWeightedAggregator):
    """Gradients aligned to an orthogonal, equally scaled system, summed with a preference vector."""

    def __init__(
        self,
        scale_mode: str = "min",
        pref_vector: Sequence[float] | None = None,
        rtol: float | None = None,
    ) -> None:
        if scale_mode not in _SCALE_MODES:
            raise ValueError(f"scale_mode must be one of {_SCALE_MODES}, got {scale_mode!r}")
        self.scale_mode = scale_mode
        self.pref_vector = None if pref_vector is None else [float(x) for x in pref_vector]
        self.rtol = rtol

    def balance_matrix(self, gram: torch.Tensor) -> torch.Tensor:
        """B (float64 CPU, K×K) such that the aligned gradients are the rows of B J."""
        k = gram.shape[0]
        g = solver_copy(gram)
        eigenvalues, vectors = torch.linalg.eigh(g)
        rtol = self.rtol if self.rtol is not None else k * self.eps_for(gram)
        largest = float(eigenvalues.max())
        keep = eigenvalues > rtol * largest
        if largest <= 0.0 or not bool(keep.any()):
            return torch.zeros(k, k, dtype=torch.float64)
        kept, basis = eigenvalues[keep], vectors[:, keep]
        if self.scale_mode == "min":
            scale = kept.min()
        elif self.scale_mode == "median":
            scale = kept.median()  # lower median for an even count, like torch.median in the authors' code
        else:
            scale = kept.mean()
        return scale.sqrt() * (basis / kept.sqrt()) @ basis.T

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        k = gram.shape[0]
        if self.pref_vector is None:
            pref = torch.ones(k, dtype=torch.float64)
        else:
            if len(self.pref_vector) != k:
                raise ValueError(f"pref_vector has {len(self.pref_vector)} entries for {k} tasks")
            pref = torch.tensor(self.pref_vector, dtype=torch.float64)
        weights = self.balance_matrix(gram) @ pref
        return weights.to(device=gram.device, dtype=gram.dtype)

    def __repr__(self) -> str:
        return f"AlignedMTL(scale_mode={self.scale_mode!r}, pref_vector={self.pref_vector}, rtol={self.rtol})"
