"""Nash-MTL (Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik & Fetaya, "Multi-Task Learning as
a Bargaining Game", ICML 2022).

The update is the Nash bargaining solution d = Σ_k α_k g_k with α > 0 solving

    G α = 1/α   (elementwise: α_k · (Gα)_k = 1),   G = J Jᵀ,

so that every task's directional derivative is g_kᵀd = 1/α_k. This α is the unique minimiser of
the strictly convex F(α) = ½ αᵀGα − Σ_k log α_k (∇F = Gα − 1/α), which we minimise by Newton's
method with a backtracking line search that keeps α > 0 (F is self-concordant, so damped Newton
converges globally and quadratically near the solution). It runs on a float64 CPU copy of the
K×K matrix of the gradients' cosines (see "Scales" below), starting from α_k = 1/√(K·G_kk) (exact for identical
gradients), and stops when max_k |α_k(Gα)_k − 1| ≤ ``tol`` = 1e-10; otherwise it warns with
ConvergenceWarning, increments ``failures`` and returns its last iterate. The authors (and
TorchJD) instead run 20 steps of a concave-convex procedure with cvxpy/ECOS and stop when
‖Gα − 1/α‖ < 1e-3, which only approximates the same α; we need neither cvxpy nor ECOS.

Degenerate cases. A task with a zero gradient cannot satisfy α_k·0 = 1 and contributes nothing
whatever its weight: it gets α_k = 0 and the system is solved for the others (only an exactly
zero gradient counts as zero: the method gives every task the same bargaining power whatever
its scale). Scales: with G = DCD (D = diag ‖g_k‖, C the cosines) the solution is α = D⁻¹β with
β ⊙ (Cβ) = 1, so we solve on C, whose unit diagonal keeps gradient norms of 1e-20 and 1e20 in
one problem as well conditioned as their angles; d = Σ β_k g_k/‖g_k‖ depends on the angles
only. When 0 lies in the convex cone of the gradients
(e.g. exactly opposite gradients: a Pareto-stationary point) the system has no solution, F is
unbounded below and Newton's iterates grow along the cone: that is reported as non-convergence
(warning) and the last, finite, iterate is returned.

Defaults from the authors' code (also TorchJD's): ``max_norm = 1.0`` — like the authors'
``clip_grad_norm_`` on the shared parameters, the direction is rescaled to norm ``max_norm`` when
longer (0 disables it; at the representation level it clips the representation gradient);
``update_weights_every = 1`` — on the other steps the previous α is reused (with the current
Jacobian, and clipped with it).

Scale: Nash-MTL's own (authors, TorchJD), not the library's sum scale — the bargaining solution
is invariant to the scale of the losses (G → s²G gives α → α/s and the same d), so there is no
"K·g" normalisation that keeps its meaning. Identical gradients g give α_k = 1/(√K‖g‖) and
d = √K·g/‖g‖, then clipped to norm ``max_norm``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from mtl_lib.aggregators._linalg import solver_copy, warn_not_converged
from mtl_lib.aggregators.base import AGGREGATORS, GramianWeightedAggregator
from mtl_lib.core.errors import NonFiniteError

# On the unit-scale G, α_k > 1e6 means task k's directional derivative 1/α_k is below 1e-6 of the
# largest gradient norm: the iterates are running off along the cone of a (numerically)
# Pareto-stationary point, where round-off soon dominates. Stop there.
_DIVERGED = 1e6


def nash_weights(gram: torch.Tensor, tol: float, max_iters: int) -> tuple[torch.Tensor, bool, int]:
    """Solve α ⊙ (Gα) = 1, α > 0, by damped Newton on F(α) = ½αᵀGα − Σ log α. ``gram`` is a
    float64 CPU matrix that is positive definite on the tasks given (zero rows removed).
    Returns ``(alpha, converged, iterations)``."""
    k = gram.shape[0]
    alpha = 1.0 / torch.sqrt(k * gram.diagonal())

    def objective(a: torch.Tensor) -> float:
        return 0.5 * float(a @ gram @ a) - float(torch.log(a).sum())

    value = objective(alpha)
    for iteration in range(max_iters + 1):
        g_alpha = gram @ alpha
        residual = float((alpha * g_alpha - 1.0).abs().max())
        if residual <= tol:
            return alpha, True, iteration
        if iteration == max_iters or float(alpha.max()) > _DIVERGED:
            break
        gradient = g_alpha - 1.0 / alpha
        # Newton system H s = −∇F with H = G + diag(1/α²), solved in the variables scaled by α:
        # diag(α) H diag(α) = diag(α) G diag(α) + I is positive definite and well conditioned
        # even when α grows large (Pareto-stationary tasks), where H itself becomes singular.
        scaled = alpha[:, None] * gram * alpha[None, :] + torch.eye(k, dtype=gram.dtype)
        solution, info = torch.linalg.solve_ex(scaled, alpha * gradient)
        if int(info) != 0:
            break
        step = -alpha * solution
        decrement = float(-(gradient @ step))
        if decrement < 0.0625 and bool((alpha + step > 0).all()):
            # Newton decrement below 1/4: F is self-concordant, so the full step is safe and
            # converges quadratically. (Near the solution F changes by less than its round-off,
            # so a line search on F could no longer tell progress from noise.)
            alpha = alpha + step
            value = objective(alpha)
            continue
        # Largest step keeping α > 0, then Armijo backtracking on F.
        negative = step < 0
        t = 1.0
        if bool(negative.any()):
            t = min(1.0, 0.99 * float((-alpha[negative] / step[negative]).min()))
        while True:
            candidate = alpha + t * step
            if bool((candidate > 0).all()):
                candidate_value = objective(candidate)
                if candidate_value <= value - 0.25 * t * decrement or t < 1e-12:
                    break
            t *= 0.5
        if t < 1e-12 and candidate_value > value:
            break  # no further progress is possible in floating point
        alpha, value = candidate, candidate_value
    return alpha, False, max_iters


@AGGREGATORS.register("nash_mtl")
class NashMTL(GramianWeightedAggregator):
    """Nash bargaining solution of the tasks; see the module docstring for formula and defaults."""

    # The bargaining solution is invariant to each task's scale (G → DGD gives α → D⁻¹α).
    scale_equivariance = 0
    infinite_options = ("max_norm",)  # max_norm = inf: no clipping

    def __init__(
        self,
        max_norm: float = 1.0,
        update_weights_every: int = 1,
        tol: float = 1e-10,
        max_iters: int = 100,
    ) -> None:
        if max_norm < 0 or update_weights_every < 1:
            raise ValueError("max_norm must be >= 0 and update_weights_every >= 1")
        self.max_norm = max_norm
        self.update_weights_every = update_weights_every
        self.tol = tol
        self.max_iters = max_iters
        #: How many times the Newton solver stopped before reaching ``tol``.
        self.failures = 0
        self.last_iterations = 0
        self.step = 0
        self.alpha: torch.Tensor | None = None  # float64 CPU, unclipped

    def solve(self, gram: torch.Tensor) -> torch.Tensor:
        """The unclipped bargaining weights α for a Gram matrix (float64 CPU result)."""
        g = solver_copy(gram)
        k = g.shape[0]
        norms = g.diagonal().clamp(min=0.0).sqrt()
        alpha = torch.zeros(k, dtype=torch.float64)
        largest = float(norms.max())
        if largest <= 0.0:
            return alpha
        alive = norms > 0.0
        index = torch.nonzero(alive).flatten()
        # Solve on the unit gradients' Gram matrix (the cosines): with G = DCD, D = diag(‖g_k‖),
        # α = D⁻¹β where β solves β ⊙ (Cβ) = 1. C has unit diagonal whatever the gradients'
        # scales, so norms of 1e-20 and 1e20 together stay as well conditioned as the angles.
        sub_norms = norms[index]
        cosines = g[index][:, index] / (sub_norms[:, None] * sub_norms[None, :])
        beta, converged, iterations = nash_weights(cosines, self.tol, self.max_iters)
        if not bool(torch.isfinite(beta).all()):
            raise NonFiniteError(
                "NashMTL: the bargaining solver produced non-finite weights; the cached weights were left unchanged",
                quantity="weights",
            )
        self.last_iterations = iterations
        if not converged:
            warn_not_converged(
                self,
                f"Newton did not reach tol={self.tol} in {self.max_iters} iterations "
                "(no bargaining solution: the tasks' gradients are Pareto-stationary or nearly so)",
            )
        alpha[index] = beta / sub_norms
        return alpha

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        k = gram.shape[0]
        solved = self.alpha
        if solved is None or solved.numel() != k or self.step % self.update_weights_every == 0:
            # Into a local first: only a successful solve replaces the cached weights.
            solved = self.solve(gram)
        alpha = solved
        if self.max_norm > 0:
            norm = math.sqrt(max(float(alpha @ solver_copy(gram) @ alpha), 0.0))
            if norm > self.max_norm:
                alpha = alpha * (self.max_norm / norm)
        self.alpha = solved
        self.step += 1
        return alpha.to(device=gram.device, dtype=gram.dtype)

    def reset(self) -> None:
        self.step = 0
        self.alpha = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "alpha": None if self.alpha is None else self.alpha.clone(),
            "failures": self.failures,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.alpha = None if state["alpha"] is None else state["alpha"].clone().to(torch.float64)
        self.failures = int(state["failures"])

    def __repr__(self) -> str:
        return (
            f"NashMTL(max_norm={self.max_norm}, update_weights_every={self.update_weights_every}, "
            f"tol={self.tol}, max_iters={self.max_iters})"
        )
