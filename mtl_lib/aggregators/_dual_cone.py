"""Projection onto the dual cone of the task gradients, from the Gram matrix alone (UPGrad,
DualProj).

The dual cone of the rows g_1..g_K of J is {x : Jx ≥ 0}. Projecting Jᵀu onto it gives Jᵀv with

    v = argmin_{v ≥ u} vᵀ G v,        G = J Jᵀ

(Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024, Proposition 1). With
v = u + x this is the non-negative quadratic program min_{x ≥ 0} ½ xᵀGx + (Gu)ᵀx, which
is solved exactly, in float64 on the CPU, by the Lawson–Hanson active-set scheme: as
non-negative least squares through the Cholesky factor of G (SciPy's compiled ``nnls``,
:class:`_Projector`), or by :func:`nonnegative_qp`, the same scheme written for a positive
definite quadratic (the fallback, and PCD's solver). K is a handful, so each solve is a few K×K
linear systems; what costs is the per-call overhead, hence NumPy/LAPACK rather than torch ops.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.linalg.lapack import dposv
from scipy.optimize import nnls

from mtl_lib.aggregators.base import GramianWeightedAggregator


def nonnegative_qp(
    quadratic: torch.Tensor, linear: torch.Tensor, tol: float = 1e-13, max_iters: int | None = None
) -> torch.Tensor:
    """argmin_{x ≥ 0} ½ xᵀQx + cᵀx for a positive definite ``quadratic`` Q (float64, CPU).

    Active set P (the coordinates allowed to be positive) grows by the coordinate with the most
    negative gradient; the minimiser over P is found by a linear solve, and when it leaves the
    orthant the iterate moves back along the segment until a coordinate hits 0 (which leaves P).
    Stops when every coordinate outside P has a gradient ≥ −tol·scale (the KKT conditions).
    Computed by :func:`nonnegative_qp_array` on NumPy arrays (same arithmetic, float64).
    """
    q = quadratic.detach().to(device="cpu", dtype=torch.float64).numpy()
    c = linear.detach().to(device="cpu", dtype=torch.float64).numpy()
    return torch.from_numpy(nonnegative_qp_array(q, c, tol, max_iters))


def nonnegative_qp_array(
    quadratic: np.ndarray, linear: np.ndarray, tol: float = 1e-13, max_iters: int | None = None
) -> np.ndarray:
    """:func:`nonnegative_qp` on float64 NumPy arrays. K is a handful and every step is a few
    K-vector operations: NumPy's per-call cost (~1 µs) rather than torch's (~5-10 µs) is what
    sets the time (UPGrad at K = 40 solves 40 of these per step)."""
    k = quadratic.shape[0]
    max_iters = 10 * k + 10 if max_iters is None else max_iters
    x = np.zeros(k)
    free = np.zeros(k, dtype=bool)
    scale = max(float(np.abs(np.diagonal(quadratic)).max()), 1e-300) + float(np.abs(linear).max())
    for _ in range(max_iters):
        gradient = quadratic @ x + linear
        candidates = ~free & (gradient < -tol * scale)
        if not candidates.any():
            break
        free[int(np.argmin(np.where(candidates, gradient, np.inf)))] = True
        while True:
            index = np.flatnonzero(free)
            target = np.zeros(k)
            target[index] = _solve_positive_definite(quadratic[index][:, index], -linear[index])
            leaving = free & (target <= 0)
            if not leaving.any():
                x = target
                break
            ratios = x[leaving] / (x[leaving] - target[leaving])
            x = x + float(ratios.min()) * (target - x)
            free &= x > 1e-15 * max(float(np.abs(x).max()), 1e-300)
            x = np.where(free, x, 0.0)
    return x


def _solve_positive_definite(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``matrix⁻¹ rhs`` by Cholesky (LAPACK ``dposv``, called directly: NumPy's and SciPy's
    ``solve`` wrappers cost more than the solve at this size); LU when the matrix is not
    numerically positive definite."""
    _, solution, info = dposv(matrix, rhs)
    return solution if info == 0 else np.linalg.solve(matrix, rhs)


#: How the QP's Gram matrix is regularised (``regularisation=``): ``"task"`` adds ε·G_kk to each
#: diagonal entry (ε relative to each task's own squared norm), ``"trace"`` adds ε·tr(G)·I
#: (TorchJD's).
REGULARISATIONS = ("task", "trace")


def normalized_regularized_gram(
    gram: torch.Tensor, norm_eps: float, reg_eps: float, regularisation: str = "task"
) -> torch.Tensor:
    """G / trace(G) (zero when the trace is at most ``norm_eps``) plus the ridge, as float64 CPU,
    so that the QP is positive definite and its tolerance scale-free.

    The ridge decides how non-conflicting the result is. With the QP's solution v the KKT
    conditions give g_k·d = (Gv)_k = λ_k − (ridge·v)_k with λ_k = 0 for every task whose
    constraint is inactive, so such a task is hurt by (ridge·v)_k. TorchJD's ε·tr(G)·I makes that
    ε·tr(G)·v_k: next to a task whose squared norm is ~ε·tr(G) (norms 1 / 0.1 / 0.01 with
    ε = 1e-4) the cosine reaches −0.25. The per-task ridge ε·G_kk gives g_k·d = −ε G_kk v_k, i.e.
    a cosine ≥ −ε·‖g_k‖v_k/‖d‖, the same at any spread of norms up to 1e15 (``"task"``, the
    default)."""
    g = gram.detach().to(device="cpu", dtype=torch.float64)
    g = 0.5 * (g + g.T)
    trace = float(g.diagonal().sum())
    g = torch.zeros_like(g) if trace <= norm_eps else g / trace
    if regularisation == "trace":
        return g + reg_eps * torch.eye(g.shape[0], dtype=g.dtype)
    # floored at 1e-30 of the (unit) trace: a task 1e15 times smaller than the rest is then
    # treated like TorchJD's ridge treats it, which keeps its weight (~1/(ε·sqrt(1e-30)) at most)
    # within float32; the exact weight of a 1e-20 task beside a 1e20 one is ~1e39
    floor = 1e-30 if trace > norm_eps else 1.0
    return g + reg_eps * torch.diag(g.diagonal().clamp(min=floor))


def project_weights(preferences: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
    """v = argmin_{v ≥ u} vᵀGv for a weight vector u (``preferences``), so that Jᵀv is the
    projection of Jᵀu onto the dual cone of the rows of J. ``gram`` is float64 CPU.

    Solved in the tasks' unit scale (Jacobi preconditioning, the same minimiser): with
    D = diag(G), y = D^½ v solves min yᵀCy over y ≥ D^½ u for C = D^-½ G D^-½, whose diagonal
    is one however different the gradients' norms are."""
    return torch.from_numpy(_Projector(gram).project(_array(preferences)))


def project_each(preferences: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
    """Σ_k v_k with v_k = argmin_{v ≥ p_k e_k} vᵀGv (UPGrad's weights): the K projections of
    :func:`project_weights`, sharing one preconditioning."""
    projector = _Projector(gram)
    pref = _array(preferences)
    weights = np.zeros_like(pref)
    for k in range(pref.shape[0]):
        unit = np.zeros_like(pref)
        unit[k] = pref[k]
        weights += projector.project(unit)
    return torch.from_numpy(weights)


def _array(values: torch.Tensor) -> np.ndarray:
    return values.detach().to(device="cpu", dtype=torch.float64).numpy()


class _Projector:
    """G in the tasks' unit scale (see :func:`project_weights`), computed once for many u.

    With the Cholesky factor C = LLᵀ of the unit-scale Gram matrix the QP
    min_{x ≥ 0} ½xᵀCx + (Cs)ᵀx is the non-negative least-squares problem
    min_{x ≥ 0} ½‖Lᵀx + Lᵀs‖² (the two objectives differ by a constant), which SciPy's compiled
    ``nnls`` solves (Lawson–Hanson, as :func:`nonnegative_qp_array`): ~5× faster at K = 40,
    same solution to ~1e-14. Without a factor (C not numerically positive definite) or when
    ``nnls`` gives up, the active-set solver here takes over."""

    def __init__(self, gram: torch.Tensor) -> None:
        g = _array(gram)
        diagonal = np.diagonal(g)
        self.root = np.sqrt(np.where(diagonal > 0, diagonal, 1.0))
        self.unit_gram = g / (self.root[:, None] * self.root[None, :])
        try:
            self.factor_t: np.ndarray | None = np.linalg.cholesky(self.unit_gram).T
        except np.linalg.LinAlgError:
            self.factor_t = None

    def project(self, preferences: np.ndarray) -> np.ndarray:
        scaled = preferences * self.root
        return (scaled + self._qp(scaled)) / self.root

    def _qp(self, scaled: np.ndarray) -> np.ndarray:
        if self.factor_t is not None:
            try:
                return nnls(self.factor_t, -(self.factor_t @ scaled))[0]
            except (RuntimeError, ValueError):  # iteration limit, or non-finite input
                pass
        return nonnegative_qp_array(self.unit_gram, self.unit_gram @ scaled)


def preference_weights(pref_vector: Sequence[float] | None, num_tasks: int) -> torch.Tensor:
    """The preference vector as float64 (ones when ``None``), checked against K."""
    if pref_vector is None:
        return torch.ones(num_tasks, dtype=torch.float64)
    pref = torch.as_tensor(pref_vector, dtype=torch.float64).flatten()
    if pref.numel() != num_tasks:
        raise ValueError(f"pref_vector has {pref.numel()} entries for {num_tasks} tasks")
    return pref


class DualConeAggregator(GramianWeightedAggregator):
    """What UPGrad and DualProj share: the preference vector and the Gram matrix's
    normalisation (``norm_eps``) and regularisation (``reg_eps``)."""

    def __init__(
        self,
        pref_vector: Sequence[float] | None = None,
        norm_eps: float = 0.0,
        reg_eps: float = 1e-4,
        regularisation: str = "task",
    ) -> None:
        if norm_eps < 0 or reg_eps < 0:
            raise ValueError("norm_eps and reg_eps must be non-negative")
        if regularisation not in REGULARISATIONS:
            raise ValueError(f"regularisation must be one of {REGULARISATIONS}, got {regularisation!r}")
        self.pref_vector = None if pref_vector is None else list(pref_vector)
        self.norm_eps, self.reg_eps, self.regularisation = norm_eps, reg_eps, regularisation

    def regularized_gram(self, gram: torch.Tensor) -> torch.Tensor:
        """The QP's Gram matrix: normalised and regularised as the options say."""
        return normalized_regularized_gram(gram, self.norm_eps, self.reg_eps, self.regularisation)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(pref_vector={self.pref_vector}, norm_eps={self.norm_eps}, "
            f"reg_eps={self.reg_eps}, regularisation={self.regularisation!r})"
        )
