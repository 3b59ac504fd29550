"""Pareto fronts traced by scalarization: linear vs (smooth) Tchebycheff.

A scalarization turns the loss vector L ∈ R^K into one number using a preference vector λ in the
simplex; minimising it for many λ traces points on the Pareto front.

* linear:            Σ_k λ_k L_k
* Tchebycheff:       max_k λ_k (L_k − z_k)
* smooth Tchebycheff (Lin et al., ICML 2024):  μ log Σ_k exp(λ_k (L_k − z_k) / μ)
  (→ Tchebycheff as μ → 0; differentiable everywhere)

with z the ideal point (per-objective minima, minus a small margin). A linear scalarization can
only reach the *convex* part of a front: on a concave front its minimisers jump to the end
points, whereas every Pareto-optimal point minimises the Tchebycheff scalarization for some λ.

The test problem with a concave front is Fonseca–Fleming's (1995):
    f1(x) = 1 − exp(−Σ_i (x_i − 1/√n)²),   f2(x) = 1 − exp(−Σ_i (x_i + 1/√n)²),
whose Pareto set is x_1 = … = x_n = t, t ∈ [−1/√n, 1/√n].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Scalarization = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def fonseca_fleming(x: torch.Tensor) -> torch.Tensor:
    """``x`` (..., n) → objectives (..., 2)."""
    shift = 1.0 / math.sqrt(x.shape[-1])
    f1 = 1 - torch.exp(-((x - shift) ** 2).sum(-1))
    f2 = 1 - torch.exp(-((x + shift) ** 2).sum(-1))
    return torch.stack([f1, f2], dim=-1)


def fonseca_fleming_front(n_points: int = 200, dim: int = 2) -> torch.Tensor:
    """Exact Pareto front (n_points, 2), from the Pareto set x_i = t."""
    shift = 1.0 / math.sqrt(dim)
    t = torch.linspace(-shift, shift, n_points, dtype=torch.float64)
    return fonseca_fleming(t.unsqueeze(1).expand(-1, dim))


def linear(losses: torch.Tensor, preference: torch.Tensor, ideal: torch.Tensor) -> torch.Tensor:
    return (preference * losses).sum(-1)


def tchebycheff(losses: torch.Tensor, preference: torch.Tensor, ideal: torch.Tensor) -> torch.Tensor:
    return (preference * (losses - ideal)).max(-1).values


def smooth_tchebycheff(mu: float = 0.1) -> Scalarization:
    if mu <= 0:
        raise ValueError(f"mu must be positive, got {mu}")

    def scalarize(losses: torch.Tensor, preference: torch.Tensor, ideal: torch.Tensor) -> torch.Tensor:
        return mu * torch.logsumexp(preference * (losses - ideal) / mu, dim=-1)

    return scalarize


SCALARIZATIONS: dict[str, Scalarization] = {
    "linear": linear,
    "tchebycheff": tchebycheff,
    "smooth_tchebycheff": smooth_tchebycheff(0.1),
}


def preference_grid(n: int) -> torch.Tensor:
    """``n`` preference vectors (λ, 1 − λ) with λ evenly spaced in [0, 1]."""
    lam = torch.linspace(0, 1, n, dtype=torch.float64)
    return torch.stack([lam, 1 - lam], dim=1)


def trace_front(
    scalarization: str | Scalarization,
    preferences: torch.Tensor,
    *,
    objectives: Callable[[torch.Tensor], torch.Tensor] = fonseca_fleming,
    dim: int = 2,
    steps: int = 2000,
    lr: float = 1e-2,
    ideal: torch.Tensor | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Minimise the scalarization once per preference vector (all in one batch, Adam, from the
    same seeded random start) and return the final objective vectors, shape (P, 2)."""
    scalarize = SCALARIZATIONS[scalarization] if isinstance(scalarization, str) else scalarization
    gen = torch.Generator().manual_seed(seed)
    start = (torch.rand(dim, generator=gen, dtype=torch.float64) - 0.5) * 2
    x = start.expand(preferences.shape[0], dim).clone().requires_grad_(True)
    ideal = torch.full((2,), -0.01, dtype=torch.float64) if ideal is None else ideal
    optimizer = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        # rows are independent, so the summed objective gives each row its own gradient
        scalarize(objectives(x), preferences, ideal).sum().backward()
        optimizer.step()
    with torch.no_grad():
        return objectives(x)


def distance_to_front(points: torch.Tensor, front: torch.Tensor) -> torch.Tensor:
    """Euclidean distance from each point (P, 2) to the nearest point of a sampled front."""
    return torch.cdist(points.to(front.dtype), front).min(dim=1).values
