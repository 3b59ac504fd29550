"""Small models and problems shared by the tests."""

from __future__ import annotations

import torch
from torch import nn

from mtl_lib.architectures import HardSharing
from mtl_lib.core import Task


def tiny_model(num_tasks: int = 2, in_dim: int = 6, hidden: int = 8, out_dim: int = 3, seed: int = 0) -> HardSharing:
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Linear(in_dim, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU())
    heads = [nn.Linear(hidden, out_dim) for _ in range(num_tasks)]
    return HardSharing(encoder, heads, [f"t{k}" for k in range(num_tasks)])


def regression_tasks(num_tasks: int = 2) -> list[Task]:
    return [Task(f"t{k}", nn.functional.mse_loss) for k in range(num_tasks)]


def regression_batches(
    num_tasks: int = 2, n_batches: int = 4, batch: int = 5, in_dim: int = 6, out_dim: int = 3, seed: int = 1
):
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n_batches):
        x = torch.randn(batch, in_dim, generator=gen)
        # Task k's targets are scaled by 10**k so that the tasks' gradients differ in size.
        ys = [10.0**k * torch.randn(batch, out_dim, generator=gen) for k in range(num_tasks)]
        batches.append((x, *ys))
    return batches


#: The two-task Jacobian most aggregator tests use: the tasks conflict on the first parameter
#: (−4 vs 6) and agree on the other two. (CAGrad's and TorchJD's papers use the same example.)
REFERENCE_JACOBIAN = torch.tensor([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])

#: A three-task Jacobian with a conflicting pair and unequal norms, for methods whose behaviour
#: with more than two tasks differs (projection orders, solver paths).
THREE_TASK_JACOBIAN = torch.tensor([[1.0, 0.0, 0.0, 2.0], [0.0, 2.0, 1.0, -1.0], [-1.0, 1.0, 0.5, 0.0]])


class NaNGradient(torch.autograd.Function):
    """Identity; NaN gradient where the incoming one is non-zero (only that task's row breaks)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(value):
        return value.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        return torch.where(grad != 0, torch.full_like(grad, float("nan")), torch.zeros_like(grad))
