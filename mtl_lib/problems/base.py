"""Problems: what a run config's ``problem`` name builds (data, model, tasks)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from mtl_lib.core.model import MultiTaskModel
from mtl_lib.core.registry import Registry
from mtl_lib.core.tasks import Task


@dataclass
class ProblemInstance:
    model: MultiTaskModel
    tasks: list[Task]
    train_data: Iterable[Sequence[torch.Tensor]]
    eval_data: Iterable[Sequence[torch.Tensor]]
    description: str
    #: Schedule hooks the problem's method needs (e.g. LaSS's mask search).
    callbacks: list[Any] = field(default_factory=list)
    #: Maps the run's epoch count to named phases; None means one phase, "train".
    phases: Callable[[int], list[tuple[str, int]]] | None = None


ProblemBuilder = Callable[..., ProblemInstance]
PROBLEMS: Registry[ProblemInstance] = Registry("problem")
