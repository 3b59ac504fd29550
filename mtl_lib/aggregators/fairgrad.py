"""FairGrad (Ban & Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024,
arXiv 2402.15638; TorchJD's ``FairGrad``).

The update d = Jᵀw shares the "resource" (loss decrease) among tasks by α-fairness: the weights
solve the non-linear system (the paper's Eq. 4)

    G w = w^{-1/α}   (element-wise power),   w > 0,      G = J Jᵀ

α = 0 is linear scalarisation (TorchJD returns the uniform weights 1/K then), α = 1 proportional
fairness (g_k·d = 1/w_k), α → ∞ approaches max-min fairness (MGDA-like).

Solver (ours): with D = diag(‖g_k‖), C = D⁻¹GD⁻¹ the cosine matrix and w = D⁻¹v the system
reads C v = r ⊙ v^{-1/α}, r_k = ‖g_k‖^{1/α−1} (r = 1 for α = 1: the weights then scale exactly
as 1/‖g_k‖ per task, whatever the spread of gradient norms); r is divided by its largest entry
and v rescaled back, so the solver always sees a unit-scale problem. That system is the
stationarity condition of the strictly convex φ(v) = ½ vᵀCv − Σ_k r_k h(v_k) with
h'(x) = x^{-1/α}, so we run damped Newton on φ from v = 1/K (Hessian C + diag(r v^{-1/α-1}/α),
backtracking that keeps v > 0), in float64 on the CPU, until the residual is ≤ ``tol`` times the
size of its terms; otherwise (no positive solution exists, e.g. exactly opposite gradients,
where the iterates run off to infinity and d → 0) it warns with ConvergenceWarning and returns
its last iterate. A zero task gradient gets weight 0 (its equation has no solution; the other
tasks' are unaffected). TorchJD (after the authors) calls ``scipy.optimize.least_squares`` with bounds
w ≥ 0 from 1/K; the two agree to ~1e-8 in the tests.

Defaults: ``alpha = 1`` (LibMTL's default; TorchJD requires it), ``tol = 1e-12``,
``max_iters = 50``. Scale: like TorchJD and the paper, the step length is the method's own —
the weights are set by the equation, not normalised — so the direction is not on the library's
sum scale (identical gradients g give √K·g/‖g‖ for α = 1); d(sJ) = s^p d(J) with
p = (1 − α)/(1 + α) (``scale_equivariance``; 0 for α = 1).
"""

from __future__ import annotations

import math

import torch

from mtl_lib.aggregators._linalg import solver_copy, warn_not_converged
from mtl_lib.aggregators.base import AGGREGATORS, GramianWeightedAggregator


def _barrier_terms(weights: torch.Tensor, alpha: float) -> torch.Tensor:
    """h(w_k) with h' = x^{-1/α}: log for α = 1, x^{1-1/α}/(1-1/α) otherwise."""
    if alpha == 1.0:
        return weights.log()
    power = 1.0 - 1.0 / alpha
    return weights**power / power


@AGGREGATORS.register("fairgrad")
class FairGrad(GramianWeightedAggregator):
    """α-fair sharing of the loss decrease: weights solving G w = w^{-1/α}."""

    def __init__(self, alpha: float = 1.0, tol: float = 1e-12, max_iters: int = 50) -> None:
        if alpha < 0:
            raise ValueError(f"alpha must be non-negative, got {alpha}")
        self.alpha, self.tol, self.max_iters = float(alpha), tol, max_iters
        # G → s²G gives w → s^(-2α/(α+1)) w, so d = Jᵀw → s^((1-α)/(1+α)) d (α = 1: invariant)
        self.scale_equivariance = (1.0 - self.alpha) / (1.0 + self.alpha)
        self.failures = 0

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        k = gram.shape[0]
        if self.alpha == 0.0:
            return gram.new_full((k,), 1.0 / k)
        g = solver_copy(gram)
        norms = g.diagonal().clamp(min=0.0).sqrt()
        live = norms > 0  # a zero gradient has no solution (w_k → ∞) and contributes 0
        weights = torch.zeros(k, dtype=torch.float64)
        if bool(live.any()):
            n = norms[live]
            cosines = g[live][:, live] / n[:, None] / n[None, :]
            # w = D⁻¹v (D = diag of the norms): C v = r ⊙ v^(-1/α) with r = n^(1/α - 1); then
            # r = ρ r̂ (ρ = max r) and v = ρ^(α/(α+1)) v̂ leave a unit-scale problem in v̂
            log_r = (1.0 / self.alpha - 1.0) * n.log()
            log_rho = float(log_r.max())
            v = self._solve(cosines, (log_r - log_rho).exp())
            weights[live] = v * math.exp(log_rho * self.alpha / (self.alpha + 1.0)) / n
        return weights.to(device=gram.device, dtype=gram.dtype)

    def _solve(self, c: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Damped Newton for C v = r ⊙ v^(-1/α), v > 0 (float64 CPU, unit-scale C and r)."""
        k = c.shape[0]
        w = torch.full((k,), 1.0 / k, dtype=torch.float64)

        def pull_of(x: torch.Tensor) -> torch.Tensor:
            return r * x ** (-1.0 / self.alpha)

        def objective(x: torch.Tensor) -> float:
            return float(0.5 * x @ c @ x - (r * _barrier_terms(x, self.alpha)).sum())

        converged = False
        for _ in range(self.max_iters):
            pull = pull_of(w)
            residual = c @ w - pull
            size = float((c @ w).abs().max()) + float(pull.abs().max())
            if float(residual.abs().max()) <= self.tol * size:
                converged = True
                break
            hessian = c + torch.diag(pull / (self.alpha * w))
            step, info = torch.linalg.solve_ex(hessian, -residual)
            if int(info) != 0 or not bool(step.isfinite().all()):
                # Numerically singular (no positive solution, e.g. exactly opposite gradients:
                # the iterates run off to infinity): keep the last iterate.
                break
            shrinking = step < 0
            t = 1.0
            if bool(shrinking.any()):  # stay strictly inside v > 0
                t = min(1.0, 0.99 * float((-w[shrinking] / step[shrinking]).min()))
            current = objective(w)
            slope = float(residual @ step)
            norm = float(residual.abs().max())
            while t > 1e-12:
                trial = w + t * step
                value = objective(trial)
                # Armijo on φ; near the solution φ's change drowns in round-off, so a step that
                # shrinks the residual is accepted too
                shrinks = float((c @ trial - pull_of(trial)).abs().max()) < norm
                if math.isfinite(value) and (value <= current + 1e-4 * t * slope or shrinks):
                    break
                t *= 0.5
            w = w + t * step
        if not converged:
            warn_not_converged(self, f"Newton did not solve G w = w^(-1/α) in {self.max_iters} iterations")
        return w

    def __repr__(self) -> str:
        return f"FairGrad(alpha={self.alpha}, tol={self.tol}, max_iters={self.max_iters})"
