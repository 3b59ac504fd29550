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


def parameter_names(model: nn.Module, params: Sequence[torch.Tensor], missing: str = "shared") -> list[str]:
    """The ``model.named_parameters()`` name of each of ``params``, in order; a tensor the
    model does not own (e.g. a wrapper's extra parameter) is called ``f"{missing}.{i}"``."""
    by_id = {id(p): n for n, p in model.named_parameters()}
    return [by_id.get(id(p), f"{missing}.{i}") for i, p in enumerate(params)]
