"""Problems: what a run config's ``problem`` name builds (data, model, tasks)."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    #: Maps the run's epoch count to named phases; None means one phase, "main".
    phases: Callable[[int], list[tuple[str, int]]] | None = None


ProblemBuilder = Callable[..., ProblemInstance]
PROBLEMS: Registry[ProblemInstance] = Registry("problem")


#: Arguments the runner passes to every problem builder (not problem options).
RUNNER_ARGUMENTS = ("seed", "batch_size", "device")


def unknown_options_error(problem: str, builder: Callable[..., Any], unknown: Mapping[str, Any]) -> TypeError:
    """The error for options ``builder`` does not take: each unknown name with a did-you-mean
    where one is close, and the problem's options."""
    known = [
        name
        for name, parameter in inspect.signature(builder).parameters.items()
        if name not in RUNNER_ARGUMENTS and parameter.kind is parameter.KEYWORD_ONLY
    ]
    hints = "".join(
        f"; {name!r}: did you mean {close[0]!r}?"
        for name in sorted(unknown)
        if (close := difflib.get_close_matches(name, known, n=1))
    )
    return TypeError(f"unknown {problem} options {sorted(unknown)}{hints} (its options: {', '.join(known)})")
