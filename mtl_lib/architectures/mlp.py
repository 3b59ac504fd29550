"""The fully connected network of AdaTask's synthetic study."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from mtl_lib.architectures.base import ARCHITECTURES, HardSharing


def elu_mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given sizes with ELU between them (and after the last one)."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ELU()]
    return nn.Sequential(*layers)


@ARCHITECTURES.register("synthetic_mlp")
def synthetic_mlp(
    input_dim: int = 250,
    output_dim: int = 100,
    hidden: Sequence[int] = (100, 100, 100, 100),
    task_names: Sequence[str] = ("A", "B"),
) -> HardSharing:
    """AdaTask's synthetic-regression model: a 4-layer fully connected ELU trunk, shared by
    both tasks, and one linear head per task.

    The paper gives the depth (4 layers) and the activation (ELU) but not the widths; we use
    100 units, the output size, for every shared layer (a choice, not a reproduction).
    """
    encoder = elu_mlp([input_dim, *hidden])
    heads = [nn.Linear(hidden[-1], output_dim) for _ in task_names]
    return HardSharing(encoder, heads, task_names)
