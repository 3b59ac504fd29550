"""CAGrad: conflict-averse gradient descent (Liu, Liu, Jin, Stone & Liu, "Conflict-Averse Gradient
Descent for Multi-task Learning", NeurIPS 2021).

CAGrad looks for the update d in a ball around the average gradient g0 = (1/K) Σ g_k that
maximises the worst task's improvement:

    max_d min_k g_kᵀ d   subject to  ‖d − g0‖ ≤ c ‖g0‖.

Through its dual, over task weights w on the simplex (g_w = Σ w_k g_k, √φ = c ‖g0‖),

    w* = argmin_{w ≥ 0, Σ w = 1}  g_wᵀ g0 + √φ ‖g_w‖,
    d  = g0 + (√φ / ‖g_w*‖) g_w*,

and then the authors' ``rescale`` option: 0 → d, 1 → d / (1 + c²) (default), 2 → d / (1 + c).
Everything is computed from the K×K Gram matrix G (g_wᵀg0 = wᵀG1/K, ‖g_w‖² = wᵀGw), so CAGrad is a
:class:`GramianWeightedAggregator` with weights 1/K + (√φ/‖g_w*‖) w*, times the rescale factor.

Defaults: c = 0.4 (the authors' NYUv2 script, ``--alpha 0.4``; LibMTL and the authors' function
signature use 0.5; TorchJD has no default), rescale = 1 (authors' code and LibMTL).

Inner solver (ours, in torch, no scipy; the authors use scipy's SLSQP, TorchJD cvxpy + Clarabel),
on a float64 CPU copy of G scaled to unit largest diagonal (the weights do not depend on the scale
of G): at the optimum, the dual's KKT conditions are those of the min-norm problem for the shifted
gradients g_k + t·g0 with t = ‖g_w*‖/√φ; for each t that problem is solved exactly by Wolfe's
min-norm-point algorithm (see :mod:`mtl_lib.aggregators.mgda`) and t is the root of
‖g_w(t)‖ − √φ·t, bracketed in [0, max_k‖g_k‖/√φ] and found by regula falsi (Illinois variant)
until the bracket is shorter than ``tol`` = 1e-12 of its initial length (see
:func:`cagrad_dual_weights`). Not converging within ``max_iters`` = 200 root-finding steps warns
with ConvergenceWarning, increments ``failures`` and returns the best iterate. Against TorchJD the
directions differ by up to ~1e-4 relative, and our dual objective is lower (better) every time.

Degenerate case: if ‖g_w*‖ ≤ 1e-8 · max_k ‖g_k‖ (0 lies in the convex hull and is optimal), the
direction of g_w* is undefined; we return d = g0 (times the rescale factor), which attains the
primal optimum min_k g_kᵀd = 0 and is what the authors' code yields (their λ·g_w → 0). TorchJD
returns 0 there, which is outside the ball ‖d − g0‖ ≤ c‖g0‖ when c < 1: a deliberate difference,
pinned in the tests.

Scale: the authors' d is on the mean scale (identical gradients g give (1+c)/(1+c²)·g with
rescale=1). We return K × theirs (sum scale), so identical gradients give K(1+c)/(1+c²)·g, and
exactly K·g with rescale=2. TorchJD's ``CAGrad(c)`` has no rescaling: ours(rescale=0) = K · TorchJD.
"""

from __future__ import annotations

import math

import torch

from mtl_lib.aggregators._linalg import min_norm_weights, solver_copy, warn_not_converged
from mtl_lib.aggregators.base import AGGREGATORS, GramianWeightedAggregator


def cagrad_dual_weights(
    gram: torch.Tensor, sqrt_phi: float, tol: float, max_iters: int
) -> tuple[torch.Tensor, bool, int]:
    """Minimise f(w) = wᵀb + √φ·sqrt(wᵀGw) over the simplex, b = G1/K. ``gram`` is a float64 CPU
    matrix with unit largest diagonal. Returns ``(w, converged, root-finding iterations)``.

    At the optimum, the KKT conditions of f coincide with those of the quadratic program
    min_w wᵀb + ‖g_w‖²/(2t) with t = ‖g_w*‖/√φ, i.e. (since Σ w = 1) with the min-norm point of
    the hull of the shifted gradients g_k + t·g0, whose Gram matrix is
    G + t(b1ᵀ + 1bᵀ) + t²‖g0‖²11ᵀ. For each t that min-norm problem is solved exactly (Wolfe's
    algorithm, :func:`min_norm_weights`), and t is the root of h(t) = ‖g_w(t)‖ − √φ·t on
    [0, max_k‖g_k‖/√φ] (h(0) ≥ 0 > h at the right end; any root is a KKT point of the convex
    problem, hence optimal), found by bracketing regula falsi (Illinois variant) until the
    bracket is shorter than ``tol`` times its initial length.
    """
    k = gram.shape[0]
    b = gram.sum(1) / k
    g0_squared = float(gram.sum()) / k**2
    ones = torch.ones(k, dtype=gram.dtype)
    outer = torch.outer(b, ones) + torch.outer(ones, b)
    inner_failed = False

    def solve(t: float) -> tuple[torch.Tensor, float]:
        nonlocal inner_failed
        shifted = gram + t * outer + (t * t * g0_squared) * torch.outer(ones, ones)
        w, ok, _ = min_norm_weights(shifted, 1e-14, 10 * k + 50)
        inner_failed |= not ok
        return w, math.sqrt(max(float(w @ gram @ w), 0.0)) - sqrt_phi * t

    lo, hi = 0.0, 1.01 / sqrt_phi  # every ‖g_w‖ ≤ max_k ‖g_k‖ = 1
    w_lo, h_lo = solve(lo)
    if h_lo <= 1e-15:
        # 0 is in the hull (h(0) = min-norm = 0). ‖g_w(t)‖/t is non-increasing (g_w(t) is the
        # projection of −t·g0 onto the hull), so h > 0 somewhere iff it is for small t: search
        # geometrically; if h ≤ 0 throughout, g_w* = 0 (the min-norm point) is optimal.
        w_zero = w_lo
        for j in range(1, 61):
            w_lo, h_lo = solve(hi * 0.5**j)
            if h_lo > 0.0:
                lo = hi * 0.5**j
                break
        else:
            return w_zero, not inner_failed, 0
    w_hi, h_hi = solve(hi)
    width = hi - lo
    side = 0
    for iteration in range(1, max_iters + 1):
        t = (lo * h_hi - hi * h_lo) / (h_hi - h_lo)
        if not lo < t < hi:
            t = 0.5 * (lo + hi)
        w, h = solve(t)
        if h == 0.0:
            return w, not inner_failed, iteration
        if h > 0.0:
            lo, h_lo, w_lo = t, h, w
            if side == 1:  # Illinois: halve the stale end's value to avoid one-sided stalls
                h_hi *= 0.5
            side = 1
        else:
            hi, h_hi, w_hi = t, h, w
            if side == -1:
                h_lo *= 0.5
            side = -1
        if hi - lo <= tol * width:
            return (w_lo if abs(h_lo) <= abs(h_hi) else w_hi), not inner_failed, iteration
    return (w_lo if abs(h_lo) <= abs(h_hi) else w_hi), False, max_iters


@AGGREGATORS.register("cagrad")
class CAGrad(GramianWeightedAggregator):
    """Conflict-averse gradient descent; see the module docstring for formula and defaults."""

    def __init__(
        self, c: float = 0.4, rescale: int = 1, tol: float = 1e-12, max_iters: int = 200
    ) -> None:
        if c < 0:
            raise ValueError(f"c must be non-negative, got {c}")
        if rescale not in (0, 1, 2):
            raise ValueError(f"rescale must be 0, 1 or 2, got {rescale}")
        self.c = c
        self.rescale = rescale
        self.tol = tol
        self.max_iters = max_iters
        #: How many times the inner solver stopped before reaching ``tol``.
        self.failures = 0
        self.last_iterations = 0

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        g = solver_copy(gram)
        k = g.shape[0]
        weights = torch.full((k,), 1.0 / k, dtype=g.dtype)
        scale = float(g.diagonal().max())
        g0_norm = math.sqrt(max(float(g.sum()), 0.0)) / k / math.sqrt(scale) if scale > 0 else 0.0
        sqrt_phi = self.c * g0_norm
        if scale > 0 and sqrt_phi > 0:
            g = g / scale
            w, converged, self.last_iterations = cagrad_dual_weights(
                g, sqrt_phi, self.tol, self.max_iters
            )
            if not converged:
                warn_not_converged(
                    self, f"dual solver did not reach tol={self.tol} in {self.max_iters} iterations"
                )
            gw_norm = math.sqrt(max(float(w @ g @ w), 0.0))
            if gw_norm > 1e-8:  # else 0 is in the hull and optimal: d = g0 (see module docstring)
                weights = weights + (sqrt_phi / gw_norm) * w
        factor = {0: 1.0, 1: 1.0 / (1.0 + self.c**2), 2: 1.0 / (1.0 + self.c)}[self.rescale]
        return (weights * (k * factor)).to(device=gram.device, dtype=gram.dtype)

    def __repr__(self) -> str:
        return f"CAGrad(c={self.c}, rescale={self.rescale}, tol={self.tol}, max_iters={self.max_iters})"
