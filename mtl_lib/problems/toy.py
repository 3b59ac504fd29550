"""The two-objective toy problem of CAGrad (Liu et al., 2021) and Nash-MTL (Navon et al., 2022).

With θ = (x1, x2), c1 = max(tanh(x2/2), 0) and c2 = max(tanh(−x2/2), 0):

    f1 = c1·[log max(|0.5(−x1 − 7) − tanh(−x2)|, 5e−6) + 6] + c2·[((−x1 + 7)² + 0.1(−x2 − 8)²)/10 − 20]
    f2 = c1·[log max(|0.5(−x1 + 3) + tanh(−x2) + 2|, 5e−6) + 6] + c2·[((−x1 − 7)² + 0.1(−x2 − 8)²)/10 − 20]

Its Pareto set is the segment x2 = −8.3552, x1 ∈ [−7, 7]. CAGrad's starts are (−8.5, 7.5),
(−8.5, −5), (9, 9); Nash-MTL adds (0, 0), (−7.5, −0.5), (9, −1) and scales f1 by 0.1 to make the
objectives' magnitudes unequal. Both use Adam with lr 1e−3.

Any method of the library runs on it through the ordinary :class:`~mtl_lib.engine.Trainer`:
:class:`ToyModel` is a "network" whose only (shared) parameter is θ and whose two outputs are the
objectives themselves, so a trajectory here exercises exactly the code that trains real models.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mtl_lib.core.model import MultiTaskModel
from mtl_lib.core.tasks import Task

LOWER = 5e-6
PARETO_X2 = -8.3552
CAGRAD_STARTS: tuple[tuple[float, float], ...] = ((-8.5, 7.5), (-8.5, -5.0), (9.0, 9.0))
NASH_STARTS: tuple[tuple[float, float], ...] = CAGRAD_STARTS + ((0.0, 0.0), (-7.5, -0.5), (9.0, -1.0))


def toy_objectives(theta: torch.Tensor, f1_scale: float = 1.0) -> torch.Tensor:
    """``theta`` (..., 2) → objectives (..., 2)."""
    x1, x2 = theta[..., 0], theta[..., 1]
    c1 = torch.clamp(torch.tanh(x2 / 2), min=0)
    c2 = torch.clamp(torch.tanh(-x2 / 2), min=0)
    bowl = lambda shift: ((-x1 + shift) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20  # noqa: E731
    f1 = c1 * (torch.log(torch.clamp((0.5 * (-x1 - 7) - torch.tanh(-x2)).abs(), min=LOWER)) + 6) + c2 * bowl(7.0)
    f2 = c1 * (torch.log(torch.clamp((0.5 * (-x1 + 3) + torch.tanh(-x2) + 2).abs(), min=LOWER)) + 6) + c2 * bowl(-7.0)
    return torch.stack([f1_scale * f1, f2], dim=-1)


def pareto_front(n: int = 200, f1_scale: float = 1.0) -> torch.Tensor:
    """Objective values (n, 2) along the Pareto set x2 = −8.3552, x1 ∈ [−7, 7]."""
    x1 = torch.linspace(-7, 7, n, dtype=torch.float64)
    theta = torch.stack([x1, torch.full_like(x1, PARETO_X2)], dim=1)
    return toy_objectives(theta, f1_scale)


class ToyModel(MultiTaskModel):
    """θ is the model's single shared parameter; its two "predictions" are f1(θ) and f2(θ).

    θ is stored as a 1×2 matrix so that methods that look for a "layer weight" among the shared
    parameters (GradNorm) find one."""

    def __init__(self, start: Sequence[float], f1_scale: float = 1.0) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([list(start)], dtype=torch.float64))
        self.f1_scale = f1_scale
        self.task_names = ["f1", "f2"]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.decode(self.encode(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.theta.view_as(self.theta)

    def decode(self, features: torch.Tensor) -> list[torch.Tensor]:
        values = toy_objectives(features[0], self.f1_scale)
        return [values[0], values[1]]

    def shared_parameters(self) -> list[nn.Parameter]:
        return [self.theta]

    def task_parameters(self, task: int) -> list[nn.Parameter]:
        return []


def prediction_is_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Task loss for models whose outputs already are the objectives (the target is ignored)."""
    return prediction


TOY_TASKS = [Task("f1", prediction_is_loss), Task("f2", prediction_is_loss)]


class DataFreeSteps:
    """An "epoch" of ``n`` identical dummy batches, for problems without data. The dummy tensors
    are float64 like the data-free models' parameters (the trainer refuses inputs whose dtype
    differs from the model's, although these are never read)."""

    def __init__(self, n: int, dtype: torch.dtype = torch.float64) -> None:
        self.batch = tuple(torch.zeros(1, dtype=dtype) for _ in range(3))
        self.n = n

    def __iter__(self):
        return (self.batch for _ in range(self.n))
