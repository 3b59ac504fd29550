"""ConFIG: conflict-free gradient update (Liu, Chu, Thuerey, "ConFIG: Towards Conflict-free
Training of Physics Informed Neural Networks", ICLR 2025, arXiv 2408.11104, Eq. 2; TorchJD's
``ConFIG``).

The direction is the one whose cosine with every unit task gradient û_k = g_k/‖g_k‖ is the same
(for full-rank J), and its length the sum of the task gradients' projections on it:

    b = U⁺ p,   û = b / ‖b‖,   d = (Σ_k g_k·û) û,          U = rows û_k,  p = preference (ones)

U⁺ is the Moore–Penrose pseudo-inverse; we compute U⁺p = Uᵀ (UUᵀ)⁺ p from the K×K Gram matrix of
the unit gradients (float64), which equals TorchJD's ``pinv(U) @ p`` (agreement ~1e-10 in the
tests). A zero task gradient gets a zero unit row (TorchJD: ``nan_to_num``). With p = ones every
g_k·d ≥ 0 when J has full row rank (all cosines equal and positive). Identical gradients g give
K·g: the library's sum scale, as TorchJD's default; d(sJ) = s·d(J) (``scale_equivariance = 1``).

Numerics: row norms are taken overflow-safe (:func:`._linalg.row_norms`; float32 squares of
1e20 entries are inf), and the pseudo-inverse drops eigenvalues of UUᵀ below K·eps·λ_max with
eps the *gradients'* dtype: float32 unit rows carry ~1e-7 round-off, so a float32 Gram
eigenvalue below that is noise, and inverting it (as a float64 cut-off would) turns rows that
agree to 1e-6 into an arbitrary direction instead of their common one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mtl_lib.aggregators._dual_cone import preference_weights
from mtl_lib.aggregators._linalg import row_norms
from mtl_lib.aggregators.base import AGGREGATORS, Aggregation, Aggregator


@AGGREGATORS.register("config")
class ConFIG(Aggregator):
    """Equal-angle direction to all unit task gradients, with the summed projection as length."""

    def __init__(self, pref_vector: Sequence[float] | None = None) -> None:
        self.pref_vector = None if pref_vector is None else list(pref_vector)

    def aggregate(self, jacobian: torch.Tensor) -> Aggregation:
        k = jacobian.shape[0]
        norms = row_norms(jacobian.detach())[:, None]
        units = torch.where(norms > 0, jacobian / torch.where(norms > 0, norms, 1.0), 0.0)
        gram = (units @ units.T).detach().to(device="cpu", dtype=torch.float64)
        pref = preference_weights(self.pref_vector, k)
        cutoff = max(k, 1) * torch.finfo(jacobian.dtype).eps
        coefficients = torch.linalg.pinv(0.5 * (gram + gram.T), rtol=cutoff, hermitian=True) @ pref
        best = coefficients.to(device=jacobian.device, dtype=jacobian.dtype) @ units
        length = best.norm()
        if float(length) == 0.0:
            return Aggregation(direction=torch.zeros_like(best))
        unit_direction = best / length
        # the K projections are summed in float64 (no copy of J): float32 sums may overflow
        projection = (jacobian @ unit_direction).double().sum()
        return Aggregation(direction=(projection * unit_direction.double()).to(jacobian.dtype))

    def __repr__(self) -> str:
        return f"ConFIG(pref_vector={self.pref_vector})"
