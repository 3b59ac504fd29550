"""FairGrad (Ban & Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024,
arXiv 2402.15638; TorchJD's ``FairGrad``).

The update d = Jᵀw shares the "resource" (loss decrease) among tasks by α-fairness: the weights
solve the non-linear system (the paper's Eq. 4)

    G w = w^{-1/α}   (element-wise power),   w > 0,      G = J Jᵀ

α = 0 is linear scalarisation (TorchJD returns the uniform weights 1/K then), α = 1 proportional
fairness (g_k·d = 1/w_k), α → ∞ approaches max-min fairness (MGDA-like).

Solver (ours): the system is the stationarity condition of the strictly convex function
φ(w) = ½ wᵀGw − Σ_k h(w_k) with h'(x) = x^{-1/α}, so we run damped Newton on φ from w = 1/K
(Hessian G + diag(x^{-1/α-1}/α), backtracking that keeps w > 0), in float64 on the CPU, until
‖Gw − w^{-1/α}‖∞ ≤ ``tol`` times the size of its terms; otherwise (no positive solution exists,
e.g. exactly opposite gradients) it warns with ConvergenceWarning after ``max_iters`` and returns
its last iterate. TorchJD (after the authors) calls ``scipy.optimize.least_squares`` with bounds
w ≥ 0 from 1/K; the two agree to ~1e-8 in the tests.

Defaults: ``alpha = 1`` (LibMTL's default; TorchJD requires it), ``tol = 1e-12``,
``max_iters = 50``. Scale: like TorchJD and the paper, the step length is the method's own —
the weights are set by the equation, not normalised — so the direction is not on the library's
sum scale (identical gradients g give √K·g/‖g‖ for α = 1).
"""

from __future__ import annotations

import math

import torch

from mtl_lib.aggregators._linalg import solver_copy, warn_not_converged
from mtl_lib.aggregators.base import AGGREGATORS, GramianWeightedAggregator


def _barrier(weights: torch.Tensor, alpha: float) -> torch.Tensor:
    """Σ h(w_k) with h' = x^{-1/α}: log for α = 1, x^{1-1/α}/(1-1/α) otherwise."""
    if alpha == 1.0:
        return weights.log().sum()
    power = 1.0 - 1.0 / alpha
    return (weights**power / power).sum()


@AGGREGATORS.register("fairgrad")
class FairGrad(GramianWeightedAggregator):
    """α-fair sharing of the loss decrease: weights solving G w = w^{-1/α}."""

    def __init__(self, alpha: float = 1.0, tol: float = 1e-12, max_iters: int = 50) -> None:
        if alpha < 0:
            raise ValueError(f"alpha must be non-negative, got {alpha}")
        self.alpha, self.tol, self.max_iters = float(alpha), tol, max_iters
        self.failures = 0

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        k = gram.shape[0]
        if self.alpha == 0.0:
            return gram.new_full((k,), 1.0 / k)
        g = solver_copy(gram)
        w = torch.full((k,), 1.0 / k, dtype=torch.float64)

        def objective(x: torch.Tensor) -> float:
            return float(0.5 * x @ g @ x - _barrier(x, self.alpha))

        converged = False
        for _ in range(self.max_iters):
            pull = w ** (-1.0 / self.alpha)
            residual = g @ w - pull
            size = float((g @ w).abs().max()) + float(pull.abs().max())
            if float(residual.abs().max()) <= self.tol * size:
                converged = True
                break
            hessian = g + torch.diag(pull / (self.alpha * w))
            step = -torch.linalg.solve(hessian, residual)
            shrinking = step < 0
            t = 1.0
            if bool(shrinking.any()):  # stay strictly inside w > 0
                t = min(1.0, 0.99 * float((-w[shrinking] / step[shrinking]).min()))
            current = objective(w)
            slope = float(residual @ step)
            norm = float(residual.abs().max())
            while t > 1e-12:
                trial = w + t * step
                value = objective(trial)
                # Armijo on φ; near the solution φ's change drowns in round-off, so a step that
                # shrinks the residual is accepted too
                shrinks = float((g @ trial - trial ** (-1.0 / self.alpha)).abs().max()) < norm
                if math.isfinite(value) and (value <= current + 1e-4 * t * slope or shrinks):
                    break
                t *= 0.5
            w = w + t * step
        if not converged:
            warn_not_converged(
                self, f"Newton did not solve G w = w^(-1/α) in {self.max_iters} iterations"
            )
        return w.to(device=gram.device, dtype=gram.dtype)

    def __repr__(self) -> str:
        return f"FairGrad(alpha={self.alpha}, tol={self.tol}, max_iters={self.max_iters})"
