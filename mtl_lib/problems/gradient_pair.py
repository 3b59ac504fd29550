"""A "model" with fixed task gradients, so any method's direction on a chosen pair of gradients
can be computed by the real trainer (the survey chapter shows every method on one pair)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mtl_lib.core.model import MultiTaskModel

#: The pair every method is shown on: they conflict (cosine about −0.29) and differ in length.
GRADIENT_PAIR = torch.tensor([[2.0, 0.5], [-0.6, 1.0]], dtype=torch.float64)


class PairModel(MultiTaskModel):
    """L_k(W) = ℓ_k + ⟨g_k, W⟩ with W ∈ R^{1×2} (two dims, so GradNorm finds a "last layer")."""

    def __init__(self, gradients: torch.Tensor, losses: Sequence[float]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, gradients.shape[1], dtype=gradients.dtype))
        self.register_buffer("gradients", gradients.clone())
        self.register_buffer("levels", torch.tensor(list(losses), dtype=gradients.dtype))
        self.task_names = [f"task {k + 1}" for k in range(gradients.shape[0])]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        values = self.levels + self.gradients @ self.weight[0]
        return list(values.unbind())

    def shared_parameters(self) -> list[nn.Parameter]:
        return [self.weight]

    def task_parameters(self, task: int) -> list[nn.Parameter]:
        return []
