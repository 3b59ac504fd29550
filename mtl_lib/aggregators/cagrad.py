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

Inner solver (ours, no scipy; the authors use scipy's SLSQP, TorchJD cvxpy + Clarabel), on a
float64 CPU copy of G scaled to unit largest diagonal (the weights do not depend on the scale of
G); only K×K work, never anything of the parameters' length:

* K = 2: closed form (:func:`cagrad_two_tasks`): f is a convex function of one variable γ whose
  stationarity condition is a quadratic equation; its root, clipped to [0, 1], is the optimum.
* K ≥ 3: active-set solution (:func:`cagrad_active_set`). On a support S with invertible G_S,
  the KKT conditions b_S + √φ·G_S w_S/‖g_w‖ = λ1 give w_S ∝ G_S⁻¹(λ1 − b_S), where λ is the
  larger root of (λ1 − b)ᵀG_S⁻¹(λ1 − b) = φ: one K×K solve per support. Starting from the
  previous step's support (a warm start: the support rarely changes between steps) or from all
  tasks, it drops the most negative weight or adds the most violated task until the KKT
  conditions hold to 1e-10 — then the point is optimal (the problem is convex), i.e. exact up to
  round-off. Usually one or two solves.
* Fallback, when the active set cannot certify optimality (singular G_S, 0 in the hull, or more
  than 2K + 2 changes of support): the root finding of :func:`cagrad_dual_weights` — the dual's
  KKT conditions are those of the min-norm problem for the shifted gradients g_k + t·g0 with
  t = ‖g_w*‖/√φ, solved exactly by Wolfe's min-norm-point algorithm (see
  :mod:`mtl_lib.aggregators.mgda`) for each t, and t is the root of ‖g_w(t)‖ − √φ·t, found by
  regula falsi (Illinois) until the bracket is shorter than ``tol`` = 1e-12 of its initial
  length. Not converging within ``max_iters`` = 200 root-finding steps warns with
  ConvergenceWarning, increments ``failures`` and returns the best iterate.

``last_solver`` says which of the three produced the last weights. Against TorchJD the
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

import numpy as np
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


def cagrad_two_tasks(gram: np.ndarray, sqrt_phi: float) -> np.ndarray:
    """Closed-form minimiser of f(w) = wᵀb + √φ·‖g_w‖ over w = (γ, 1 − γ), b = G1/2.

    With a = ‖g_1 − g_2‖², c = (g_1 − g_2)·g_2, D = G_11 G_22 − G_12² (= a G_22 − c²) and
    β = b_1 − b_2, f(γ) = b_2 + βγ + √φ·sqrt(aγ² + 2cγ + G_22). Writing u = aγ + c, f'(γ) = 0
    reads √φ·u = −β‖g_γ‖, whose solution is u = −β·sqrt(D / (aφ − β²)) when aφ > β²; otherwise
    f is monotone and the optimum is an end point. f is convex, so clipping to [0, 1] is exact.
    """
    g11, g12, g22 = float(gram[0, 0]), float(gram[0, 1]), float(gram[1, 1])
    a = g11 + g22 - 2.0 * g12
    c = g12 - g22
    beta = 0.5 * (g11 - g22)  # b_1 − b_2 with b = G1/2
    phi = sqrt_phi * sqrt_phi
    if a <= 1e-15 * max(g11, g22, 1e-300):  # identical gradients: f is flat, keep symmetry
        return np.array([0.5, 0.5])
    if a * phi > beta * beta:
        det = max(g11 * g22 - g12 * g12, 0.0)
        u = -beta * math.sqrt(det / (a * phi - beta * beta))
        gamma = (u - c) / a
    else:  # monotone: decreasing (γ → 1) when β < 0
        gamma = 1.0 if beta < 0.0 else 0.0
    gamma = min(max(gamma, 0.0), 1.0)
    return np.array([gamma, 1.0 - gamma])


def _support_weights(gram: np.ndarray, b: np.ndarray, phi: float, support: list[int]) -> np.ndarray | None:
    """The KKT point of f restricted to ``support`` (see the module docstring), or None when
    G_S is numerically singular or the quadratic in λ has no real root."""
    g_s = gram[np.ix_(support, support)]
    rhs = np.stack([np.ones(len(support)), b[support]], axis=1)
    try:
        x = np.linalg.solve(g_s, rhs)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(x)) or np.linalg.cond(g_s) > 1e10:
        return None
    x_one, x_b = x[:, 0], x[:, 1]
    qa, qb, qc = float(x_one.sum()), float(x_b.sum()), float(b[support] @ x_b)
    disc = qb * qb - qa * (qc - phi)
    if qa <= 0.0 or disc <= 0.0:
        return None
    lam = (qb + math.sqrt(disc)) / qa
    v = lam * x_one - x_b
    w = np.zeros(gram.shape[0])
    w[support] = v / v.sum()  # v.sum() = sqrt(disc) > 0
    return w


def cagrad_active_set(
    gram: np.ndarray, sqrt_phi: float, start: list[int] | None = None, tol: float = 1e-10
) -> tuple[np.ndarray, list[int]] | None:
    """Minimise f(w) = wᵀb + √φ·‖g_w‖ over the simplex (b = G1/K, ``gram`` with unit largest
    diagonal) by an active-set method; see the module docstring. Tries the supports ``start``
    (warm start), all tasks, then the best single task; returns ``(w, support)`` once the KKT
    conditions hold to ``tol`` (then w is optimal), or None if no attempt could certify them
    (the caller then falls back to :func:`cagrad_dual_weights`)."""
    k = gram.shape[0]
    b = gram.sum(1) / k
    best_vertex = int(np.argmin(b + sqrt_phi * np.sqrt(np.clip(np.diag(gram), 0.0, None))))
    tried: set[tuple[int, ...]] = set()
    for first in (start, list(range(k)), [best_vertex]):
        if not first:
            continue
        found = _active_set_from(gram, b, sqrt_phi, sorted(first), tol, tried)
        if found is not None:
            return found
    return None


def _active_set_from(
    gram: np.ndarray, b: np.ndarray, sqrt_phi: float, support: list[int], tol: float, tried: set
) -> tuple[np.ndarray, list[int]] | None:
    k = gram.shape[0]
    phi = sqrt_phi * sqrt_phi
    for _ in range(2 * k + 2):
        key = tuple(support)
        if key in tried:  # already failed from another start, or cycling
            return None
        tried.add(key)
        w = _support_weights(gram, b, phi, support)
        if w is None:
            return None
        if w[support].min() < -tol:
            support = [j for j in support if j != support[int(np.argmin(w[support]))]]
            continue
        w = np.clip(w, 0.0, None)
        w /= w.sum()
        gw = gram @ w
        norm = math.sqrt(max(float(w @ gw), 0.0))
        if norm <= 1e-6:  # near 0 in the hull f is not smooth: leave it to the robust solver
            return None
        grad = b + sqrt_phi * gw / norm
        level = float(grad[support].mean())
        if float(np.abs(grad[support] - level).max()) > tol:
            return None
        outside = [j for j in range(k) if j not in support]
        if not outside:
            return w, support
        j = outside[int(np.argmin(grad[outside]))]
        if grad[j] >= level - tol:
            return w, support
        support = sorted([*support, j])
    return None


@AGGREGATORS.register("cagrad")
class CAGrad(GramianWeightedAggregator):
    """Conflict-averse gradient descent; see the module docstring for formula and defaults."""

    def __init__(self, c: float = 0.4, rescale: int = 1, tol: float = 1e-12, max_iters: int = 200) -> None:
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
        #: Which solver produced the last weights: "closed_form", "active_set" or "root_finding".
        self.last_solver = ""
        self._support: list[int] | None = None  # warm start for the next step

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        g = solver_copy(gram)
        k = g.shape[0]
        weights = torch.full((k,), 1.0 / k, dtype=g.dtype)
        scale = float(g.diagonal().max())
        g0_norm = math.sqrt(max(float(g.sum()), 0.0)) / k / math.sqrt(scale) if scale > 0 else 0.0
        sqrt_phi = self.c * g0_norm
        if scale > 0 and sqrt_phi > 0:
            g = g / scale
            w = self._solve(g, sqrt_phi)
            gw_norm = math.sqrt(max(float(w @ g @ w), 0.0))
            if gw_norm > 1e-8:  # else 0 is in the hull and optimal: d = g0 (see module docstring)
                weights = weights + (sqrt_phi / gw_norm) * w
        factor = {0: 1.0, 1: 1.0 / (1.0 + self.c**2), 2: 1.0 / (1.0 + self.c)}[self.rescale]
        return (weights * (k * factor)).to(device=gram.device, dtype=gram.dtype)

    def _solve(self, g: torch.Tensor, sqrt_phi: float) -> torch.Tensor:
        k = g.shape[0]
        self.last_iterations = 0
        if k == 2:
            self.last_solver = "closed_form"
            return torch.from_numpy(cagrad_two_tasks(g.numpy(), sqrt_phi))
        found = cagrad_active_set(g.numpy(), sqrt_phi, self._support)
        if found is not None:
            self.last_solver = "active_set"
            w, self._support = found
            return torch.from_numpy(w)
        self.last_solver = "root_finding"
        self._support = None
        w, converged, self.last_iterations = cagrad_dual_weights(g, sqrt_phi, self.tol, self.max_iters)
        if not converged:
            warn_not_converged(self, f"dual solver did not reach tol={self.tol} in {self.max_iters} iterations")
        return w

    def reset(self) -> None:
        self._support = None

    def __repr__(self) -> str:
        return f"CAGrad(c={self.c}, rescale={self.rescale}, tol={self.tol}, max_iters={self.max_iters})"
