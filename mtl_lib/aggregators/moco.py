"""MoCo (Fernando, Shen, Liu, Chaudhury, Murugesan & Chen, ICLR 2023, "Mitigating Gradient Bias
in Multi-objective Learning: A Provably Convergent Approach").

MoCo is stochastic MGDA with a bias correction: the task gradients entering the min-norm
problem are *tracked* estimates y_k rather than the raw, noisy stochastic gradients, and the
weights λ take one projected-gradient step per iteration instead of solving the problem:

    h_k  = normalise(g_k)                                  (see ``normalization``)
    y_k ← y_k − β_t (y_k − h_k)                            β_t = β / t^{β_σ}
    λ   ← Π(λ − γ_t (Y Yᵀ + ρ I) λ)                        γ_t = γ / t^{γ_σ}, Y = rows y_k
    d    = K · Yᵀ λ

with t = 1, 2, ... the step count, y_k = 0 and λ = 1/K initially (LibMTL).

Scale convention: λ lies on the simplex (a convex combination, like MGDA), so we multiply
Yᵀλ by K to put the direction on the library's sum scale (with y_k = g for all k and λ = 1/K
the direction is K·g = J.sum(0)). Note the tracked y starts at 0, so after one step with
identical gradients the direction is K·β·g, not K·g: the tracking lag is part of the method.

Defaults and where they come from (all from LibMTL's ``MoCo``, "implemented based on the
authors' sharing code"):
- ``beta = 0.5``, ``beta_sigma = 0.5``: step size of the tracking update and its decay.
- ``gamma = 0.1``, ``gamma_sigma = 0.5``: step size of the λ update and its decay.
- ``rho = 0``: the ℓ2 regularisation of the λ subproblem.
- ``projection = "simplex"``: the paper's Euclidean projection Π_Δ onto the probability
  simplex. LibMTL replaces it by a softmax, λ ← softmax(λ − γ_t(YYᵀ + ρI)λ); pass
  ``projection="softmax"`` for that.
- ``normalization = "none"``: the paper's Algorithm 1 tracks the raw stochastic gradients.
  LibMTL (after the authors' code) first rescales each gradient to its task's loss,
  h_k = g_k / (‖g_k‖ + 1e-8) · L_k: use ``normalization="loss"``. Such an instance sets
  ``needs_losses``, so the trainer passes the step's losses (by hand: ``moco(J, losses=L)``,
  or :meth:`observe_losses` before a call without them).
  ``"unit"`` uses h_k = g_k / (‖g_k‖ + 1e-8) (scale-free; the direction is then no longer on
  the gradients' scale).
- The paper also projects each y_k onto a ball bounding the gradient norm; LibMTL omits that
  projection and so do we.
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.aggregators.base import AGGREGATORS, Aggregation, Aggregator, gram_matrix
from mtl_lib.core.errors import NonFiniteError

NORMALIZATIONS = ("none", "unit", "loss")
PROJECTIONS = ("simplex", "softmax")


def project_to_simplex(vector: torch.Tensor) -> torch.Tensor:
    """Euclidean projection onto {λ : λ ≥ 0, Σλ = 1} (sort-based, Held et al. 1974 /
    Duchi et al. 2008), done with tensor ops on the vector's device (no host sync)."""
    num = vector.numel()
    # The projection is invariant to adding a constant to every entry. Shifting the largest entry
    # to 0 keeps the arithmetic exact-ish when the entries are huge (a step of γ·(YYᵀ)λ with
    # gradient norms ~1e20): otherwise v − (v_max − 1) rounds to 0 and every weight vanishes.
    vector = vector - vector.max()
    ordered, _ = torch.sort(vector, descending=True)
    cumulative = ordered.cumsum(0) - 1
    ranks = torch.arange(1, num + 1, device=vector.device, dtype=vector.dtype)
    support = ordered - cumulative / ranks > 0
    # The support is a prefix of the sorted entries; its length is the number of True values.
    count = support.sum().clamp_min(1)
    shift = cumulative.gather(0, (count - 1).unsqueeze(0)) / count.to(vector.dtype)
    return (vector - shift).clamp_min(0)


@AGGREGATORS.register("moco")
class MoCo(Aggregator):
    """Tracked gradients + one projected-gradient step on the MGDA weights per iteration."""

    # γ_t (YYᵀ)λ is quadratic in the gradients' scale: no power law relates d(sJ) to d(J).
    scale_equivariance = None

    def __init__(
        self,
        beta: float = 0.5,
        beta_sigma: float = 0.5,
        gamma: float = 0.1,
        gamma_sigma: float = 0.5,
        rho: float = 0.0,
        normalization: str = "none",
        projection: str = "simplex",
        eps: float = 1e-8,
    ) -> None:
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        if projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}")
        self.beta, self.beta_sigma = beta, beta_sigma
        self.gamma, self.gamma_sigma = gamma, gamma_sigma
        self.rho = rho
        self.normalization = normalization
        self.projection = projection
        self.eps = eps
        self.needs_losses = normalization == "loss"
        self.step = 0
        self.tracked: torch.Tensor | None = None
        self.weights: torch.Tensor | None = None
        self._losses: torch.Tensor | None = None

    def observe_losses(self, losses: torch.Tensor) -> None:
        """Give the current step's per-task losses (needed by ``normalization="loss"``)."""
        self._losses = losses.detach()

    def __call__(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        if losses is None and self._losses is not None:
            losses, self._losses = self._losses, None
        if losses is None and self.needs_losses:
            raise RuntimeError(
                "MoCo(normalization='loss') needs the step's losses: call moco(jacobian, "
                "losses=...) or observe_losses(losses) before each aggregation"
            )
        return super().__call__(jacobian, losses)

    def _normalise(self, jacobian: torch.Tensor, losses: torch.Tensor | None) -> torch.Tensor:
        if self.normalization == "none":
            return jacobian
        # Row norms via the row-scaled Gram matrix: a float32 norm overflows above ~1e19.
        norms = gram_matrix(jacobian).diagonal().sqrt().to(jacobian.device, jacobian.dtype).unsqueeze(1)
        unit = jacobian / (norms + self.eps)
        if self.normalization == "unit":
            return unit
        assert losses is not None  # guaranteed by __call__ (needs_losses)
        return unit * losses.unsqueeze(1)

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        num_tasks = jacobian.shape[0]
        if self.tracked is not None and self.tracked.shape != jacobian.shape:
            raise ValueError(
                f"MoCo tracks gradients of shape {tuple(self.tracked.shape)}, got {tuple(jacobian.shape)}; "
                "call reset() to start afresh"
            )
        # Before any state changes, so a failed call leaves the aggregator as it was.
        observed = self._normalise(jacobian, losses)
        if self.tracked is None:
            self.tracked = torch.zeros_like(jacobian)
            self.weights = jacobian.new_full((num_tasks,), 1.0 / num_tasks)
        assert self.weights is not None
        self.step += 1
        beta_t = self.beta / self.step**self.beta_sigma
        gamma_t = self.gamma / self.step**self.gamma_sigma
        tracked = self.tracked.to(jacobian)
        tracked = tracked - beta_t * (tracked - observed)
        # (K, K) system in float64 (row-scaled Gram: YYᵀ would overflow float32 for norms ~1e20);
        # tiny, stays on the Jacobian's device.
        gram = gram_matrix(tracked)
        weights = self.weights.to(device=gram.device, dtype=torch.float64)
        regularised = gram + self.rho * torch.eye(num_tasks, device=gram.device, dtype=torch.float64)
        step = weights - gamma_t * (regularised @ weights)
        weights = project_to_simplex(step) if self.projection == "simplex" else torch.softmax(step, 0)
        direction = num_tasks * (weights.to(device=jacobian.device, dtype=jacobian.dtype) @ tracked)
        if not bool(torch.isfinite(direction).all() & torch.isfinite(weights).all()):
            # Validate before committing, so a failed step leaves the running estimates intact.
            self.step -= 1
            raise NonFiniteError(
                f"MoCo: the tracked gradients or weights became non-finite at step {self.step + 1} "
                "from a finite Jacobian (overflow); the running estimates were left unchanged",
                quantity="direction",
            )
        self.tracked, self.weights = tracked, weights.to(device=jacobian.device, dtype=jacobian.dtype)
        return Aggregation(direction=direction)

    def reset(self) -> None:
        self.step = 0
        self.tracked = None
        self.weights = None
        self._losses = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "tracked": None if self.tracked is None else self.tracked.clone(),
            "weights": None if self.weights is None else self.weights.clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = state["step"]
        self.tracked = None if state["tracked"] is None else state["tracked"].clone()
        self.weights = None if state["weights"] is None else state["weights"].clone()

    def __repr__(self) -> str:
        return (
            f"MoCo(beta={self.beta}, beta_sigma={self.beta_sigma}, gamma={self.gamma}, "
            f"gamma_sigma={self.gamma_sigma}, rho={self.rho}, normalization={self.normalization!r}, "
            f"projection={self.projection!r})"
        )
