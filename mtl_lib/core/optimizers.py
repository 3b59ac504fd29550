"""The optimizer registry: ``torch.optim``'s optimizers by name, and the task-aware protocol.

A task-aware optimizer (AdaTask) declares ``consumes_task_gradients = True``; before each
``step()`` the engine calls its ``set_task_gradients(rows)`` with the ``(K, P)`` per-task
gradients of the shared parameters (task-specific parameters still carry an ordinary ``.grad``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from mtl_lib.core.registry import Registry

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
