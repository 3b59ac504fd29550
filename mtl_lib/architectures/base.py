"""The model protocol the engine trains.

A multi-task model maps an input batch to one prediction per task and says which of its
parameters are *shared* (they receive every task's gradient, and gradient aggregators act on
them) and which belong to a single task (heads, per-task modulation scales, ...; those
receive only their own task's gradient).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mtl_lib.registry import Registry


class MultiTaskModel(nn.Module):
    """Base class: subclasses implement :meth:`forward`, :meth:`shared_parameters` and
    :meth:`task_parameters`.

    ``forward(x)`` returns a list with one prediction per task, in ``task_names`` order.
    """

    task_names: list[str]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def shared_parameters(self) -> list[nn.Parameter]:  # pragma: no cover - abstract
        raise NotImplementedError

    def task_parameters(self, task: int) -> list[nn.Parameter]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def num_tasks(self) -> int:
        return len(self.task_names)

    def check_parameter_partition(self) -> None:
        """Raise if shared and task-specific parameters overlap or miss a trainable parameter."""
        seen: dict[int, str] = {}
        groups = [("shared", self.shared_parameters())] + [
            (f"task {k}", self.task_parameters(k)) for k in range(self.num_tasks)
        ]
        for label, params in groups:
            for p in params:
                if id(p) in seen:
                    raise ValueError(f"a parameter is both {seen[id(p)]} and {label}")
                seen[id(p)] = label
        missing = [n for n, p in self.named_parameters() if p.requires_grad and id(p) not in seen]
        if missing:
            raise ValueError(f"parameters neither shared nor task-specific: {missing}")


class HardSharing(MultiTaskModel):
    """Hard parameter sharing: one shared encoder, one head per task.

    The encoder runs once per batch and every head reads the same features, so its cost is
    that of a single-task network plus the heads.
    """

    def __init__(self, encoder: nn.Module, heads: Sequence[nn.Module], task_names: Sequence[str]) -> None:
        super().__init__()
        if len(heads) != len(task_names):
            raise ValueError(f"{len(heads)} heads for {len(task_names)} task names")
        self.encoder = encoder
        self.heads = nn.ModuleList(heads)
        self.task_names = list(task_names)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.decode(self.encode(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The shared representation z (what representation-level methods differentiate)."""
        return self.encoder(x)

    def decode(self, features: torch.Tensor) -> list[torch.Tensor]:
        return [head(features) for head in self.heads]

    def shared_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def task_parameters(self, task: int) -> list[nn.Parameter]:
        return [p for p in self.heads[task].parameters() if p.requires_grad]


class TaskConditionedSharing(MultiTaskModel):
    """A trunk whose forward depends on the task: ``encoder(x, task)`` (Modulation Module,
    LaSS masks and RotoGrad rotations are of this kind).

    The encoder must expose ``shared_parameters()`` and ``task_parameters(task)`` itself, since
    only it knows which of its weights are per-task.
    """

    def __init__(self, encoder: nn.Module, heads: Sequence[nn.Module], task_names: Sequence[str]) -> None:
        super().__init__()
        if len(heads) != len(task_names):
            raise ValueError(f"{len(heads)} heads for {len(task_names)} task names")
        self.encoder = encoder
        self.heads = nn.ModuleList(heads)
        self.task_names = list(task_names)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [head(self.encoder(x, k)) for k, head in enumerate(self.heads)]

    def shared_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.encoder.shared_parameters() if p.requires_grad]

    def task_parameters(self, task: int) -> list[nn.Parameter]:
        own = list(self.encoder.task_parameters(task)) + list(self.heads[task].parameters())
        return [p for p in own if p.requires_grad]


ARCHITECTURES: Registry[MultiTaskModel] = Registry("architecture")
