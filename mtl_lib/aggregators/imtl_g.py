"""IMTL-G: the gradient half of impartial multi-task learning (Liu, Li, Kuang, Xue, Chen, Yang,
Liao & Zhang, "Towards Impartial Multi-task Learning", ICLR 2021).

IMTL-G picks the combination d = Σ_k α_k g_k whose projections on all unit task gradients
u_k = g_k/‖g_k‖ are equal (dᵀu_1 = … = dᵀu_K), with Σ α_k = 1. The paper's closed form is
α_{2:K} = g_1 Uᵀ (D Uᵀ)⁻¹, α_1 = 1 − Σ_{k≥2} α_k, with D = [g_1 − g_k]ₖ and U = [u_1 − u_k]ₖ.
On the Gram matrix G = JJᵀ the condition reads Gα ∝ n with n_k = ‖g_k‖ = √G_kk, hence (as in
TorchJD's IMTLG, which generalises it to linearly dependent gradients, Quinton & Rey 2024)

    v = G⁺ n,   α = v / Σ_k v_k.

When the unit gradients are linearly independent we compute it as D⁻¹C⁻¹1 (G = DCD, D the
gradient norms, C their cosines), which stays exact when the norms span 1e-20..1e20; otherwise
G⁺ is a pseudo-inverse computed in float64 with singular values below ``rcond`` · σ_max treated as
zero; ``rcond`` defaults to K · eps(dtype of the gradients; G itself is held in float64), which is torch.linalg.pinv's default in G's own
dtype, so we match TorchJD while computing in double precision. Singular cases stay finite: a zero
gradient gets weight 0 (n_k = 0 and its row of G⁺ vanishes), and when |Σ v| ≤ 1e-12 · Σ|v| — e.g.
exactly opposite gradients, where n is orthogonal to the range of G — no direction has equal,
positive projections and the weights are 0 (TorchJD does the same with an absolute 1e-12; ours is
relative so that it does not depend on the scale of the losses).

Sign (ours): the paper fixes the scale by Σ α_k = 1, i.e. α = v/Σv. For K ≥ 3 Σv can be
negative — the affine hull of the gradients meets the equal-angle line on its negative side —
and then every projection dᵀu_k is negative: the update *increases every loss*. Found by the
properties table (:mod:`mtl_lib.studies.method_properties`): on random conflicting Jacobians
(K = 3) rescaling one task by 0.1 turned IMTL-G's direction around (cos −1.0 with the unscaled
one; TorchJD 0.18's IMTLG does the same, ``benchmarks/misbehaving.py``). We divide by |Σv|,
which equals the paper's α whenever Σv > 0 and keeps the equal projections positive otherwise.

Scale: the paper's weights sum to 1; we multiply them by K (sum scale), so identical gradients g
give K·g. TorchJD's IMTLG returns the paper's scale (ours / K).
"""

from __future__ import annotations

import torch

from mtl_lib.aggregators._linalg import solver_copy
from mtl_lib.aggregators.base import AGGREGATORS, GramianWeightedAggregator


@AGGREGATORS.register("imtl_g")
class IMTLG(GramianWeightedAggregator):
    """Equal projection of the update on every unit task gradient; weights sum to K."""

    def __init__(self, rcond: float | None = None) -> None:
        self.rcond = rcond

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        k = gram.shape[0]
        g = solver_copy(gram)
        rcond = self.rcond if self.rcond is not None else k * self.eps_for(gram)
        norms = g.diagonal().clamp(min=0.0).sqrt()
        v = self._solve_scaled(g, norms, rcond)
        if v is None:
            v = torch.linalg.pinv(g, rtol=rcond, hermitian=True) @ norms
        total = v.sum()
        if abs(float(total)) <= 1e-12 * float(v.abs().sum()) or float(v.abs().sum()) == 0.0:
            weights = torch.zeros_like(v)
        else:
            # |Σv|, not Σv: v = G⁺n has projections dᵀu_k = +1 on every unit gradient; dividing by
            # a negative Σv (possible from K = 3, e.g. after rescaling one task) would turn that
            # into −1 on every task, i.e. ascent on all losses (the paper's and TorchJD's α)
            weights = v * (k / abs(total))
        return weights.to(device=gram.device, dtype=gram.dtype)

    @staticmethod
    def _solve_scaled(g: torch.Tensor, norms: torch.Tensor, rcond: float) -> torch.Tensor | None:
        """G⁺n through the cosine matrix: with G = DCD on the non-zero gradients (D = diag ‖g_k‖),
        G⁻¹n = D⁻¹C⁻¹1. C has unit diagonal whatever the gradients' scales, so norms of 1e-20 and
        1e20 in one problem do not make it singular in floating point. ``None`` when C itself is
        rank-deficient (parallel gradients): then the pseudo-inverse of G decides, as in TorchJD."""
        alive = torch.nonzero(norms > 0).flatten()
        if alive.numel() == 0:
            return None
        sub = norms[alive]
        cosines = g[alive][:, alive] / (sub[:, None] * sub[None, :])
        eigenvalues = torch.linalg.eigvalsh(cosines)
        if float(eigenvalues.min()) <= rcond * float(eigenvalues.max()):
            return None
        v = torch.zeros_like(norms)
        v[alive] = torch.linalg.solve(cosines, torch.ones_like(sub)) / sub
        return v

    def __repr__(self) -> str:
        return f"IMTLG(rcond={self.rcond})"
