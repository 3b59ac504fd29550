"""Generic sharing schemes built on the model protocol (:class:`mtl_lib.core.model.MultiTaskModel`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mtl_lib.core.model import MultiTaskModel
from mtl_lib.core.registry import Registry


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


ARCHITECTURES: Registry[MultiTaskModel] = Registry("architecture")
