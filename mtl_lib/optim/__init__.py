"""Optimizers by name. Plain ``torch.optim`` optimizers consume one gradient per parameter;
task-aware optimizers (AdaTask, in its own chapter) declare ``consumes_task_gradients = True``
and receive the per-task gradients of the shared parameters from the engine."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

import torch

from mtl_lib.registry import Registry

OptimizerFactory = Callable[..., torch.optim.Optimizer]

OPTIMIZERS: Registry[torch.optim.Optimizer] = Registry("optimizer")
for _name, _cls in {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}.items():
    OPTIMIZERS.register(_name)(_cls)


@runtime_checkable
class TaskAwareOptimizer(Protocol):
    """An optimizer that keeps per-task state for the shared parameters.

    Before ``step()`` the engine calls ``set_task_gradients(task_gradients)`` with a ``(K, P)``
    tensor (rows: tasks, columns: the flattened shared parameters in ``shared_parameters()``
    order). Task-specific parameters still carry an ordinary ``.grad``.
    """

    consumes_task_gradients: bool

    def set_task_gradients(self, task_gradients: torch.Tensor) -> None: ...

    def step(self, closure: Any = None) -> Any: ...


def build_optimizer(
    spec: str | OptimizerFactory | torch.optim.Optimizer,
    params: Iterable[torch.nn.Parameter] | list[dict[str, Any]],
    **kwargs: Any,
) -> torch.optim.Optimizer:
    """Build an optimizer from a registered name (``"adam"``), a factory ``f(params, **kw)``
    (a ``torch.optim`` class works), or return an already-built optimizer unchanged."""
    if isinstance(spec, torch.optim.Optimizer):
        if kwargs:
            raise TypeError(f"keyword arguments {sorted(kwargs)} given with an already-built optimizer")
        return spec
    factory = OPTIMIZERS.get(spec) if isinstance(spec, str) else spec
    return factory(params, **kwargs)


def consumes_task_gradients(optimizer: object) -> bool:
    return bool(getattr(optimizer, "consumes_task_gradients", False))


from mtl_lib.optim import adatask as _adatask  # noqa: E402,F401  (registers the AdaTask family)

__all__ = ["OPTIMIZERS", "TaskAwareOptimizer", "build_optimizer", "consumes_task_gradients"]
