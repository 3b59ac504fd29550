"""Gradient-conflict statistics on a task Jacobian ``J`` (K×P, row k = task k's gradient)."""

from __future__ import annotations

import torch


def gradient_norms(jacobian: torch.Tensor) -> torch.Tensor:
    """‖g_k‖ for every task, shape ``(K,)``."""
    return jacobian.norm(dim=1)


def gradient_cosine(jacobian: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Pairwise cosine similarity between task gradients, ``(K, K)``; a zero gradient has cosine
    0 with everything (it neither helps nor conflicts)."""
    norms = gradient_norms(jacobian)
    unit = jacobian / norms.clamp_min(eps).unsqueeze(1)
    return unit @ unit.T


def magnitude_similarity(jacobian: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """PCGrad's gradient magnitude similarity, Φ(g_i, g_j) = 2‖g_i‖‖g_j‖ / (‖g_i‖² + ‖g_j‖²),
    pairwise ``(K, K)``: 1 for equal sizes, near 0 when one gradient dwarfs the other."""
    norms = gradient_norms(jacobian)
    squares = norms.square()
    return 2 * torch.outer(norms, norms) / (squares.unsqueeze(0) + squares.unsqueeze(1)).clamp_min(eps)


def conflict_fraction(jacobian: torch.Tensor) -> float:
    """Share of task pairs (i < j) whose gradients have a negative inner product."""
    num_tasks = jacobian.shape[0]
    if num_tasks < 2:
        return 0.0
    gram = jacobian @ jacobian.T
    upper = torch.triu_indices(num_tasks, num_tasks, offset=1, device=jacobian.device)
    return float((gram[upper[0], upper[1]] < 0).float().mean())
