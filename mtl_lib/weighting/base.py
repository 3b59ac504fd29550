"""Loss weighting: per-task losses (and their history) → the terms of the training objective."""

from __future__ import annotations

import torch
from torch import nn

from mtl_lib.core.errors import require_finite_rows
from mtl_lib.core.options import validating_init
from mtl_lib.core.registry import Registry


class LossWeighting(nn.Module):
    """Turns the vector of per-task losses ``L`` (shape ``(K,)``) into weighted terms whose sum
    is the training objective.

    Returning per-task *terms* rather than one scalar keeps the task structure visible to the
    engine, which needs it to build the per-task Jacobian when an aggregator or a task-aware
    optimizer asks for one. A method with learnable weights (UW) registers them as parameters
    of this module; the engine hands those to the optimizer.

    Calling it checks that every loss is finite (:class:`~mtl_lib.core.errors.NonFiniteError`,
    naming the task) before ``forward`` runs.

    Subclasses may also implement the engine's schedule hooks (``on_epoch_start``,
    ``on_epoch_end``, ``on_phase_start``) to keep a loss history (DWA, STCH warm-up).
    """

    #: True when the method needs the task Jacobian of the shared parameters; the engine then
    #: computes it and calls ``observe_task_gradients(jacobian)`` before aggregating. (A method
    #: that needs gradients of only a few parameters, like GradNorm on the last shared layer,
    #: is cheaper computing them itself from the model it receives at ``on_train_start``.)
    needs_task_gradients: bool = False

    #: Options hinted ``float`` that may be ±inf on purpose (none so far); the others must be
    #: finite, and ``int`` ones integers (:mod:`mtl_lib.core.options`).
    infinite_options: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        validating_init(cls)

    def __call__(self, losses: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        # Once here for every method, before ``forward`` can touch any state (GradNorm's weights
        # and their Adam, STCH's ideal point): a NaN loss would otherwise poison it for good.
        # One K-element reduction and one host synchronisation.
        require_finite_rows(
            losses,
            "losses",
            owner=type(self).__name__,
            advice="Lower the learning rate, check the batch for NaN/inf inputs or targets, or "
            "train with Trainer(..., nonfinite='skip').",
        )
        return super().__call__(losses, *args, **kwargs)

    def forward(self, losses: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset(self) -> None:
        """Forget any history (the default has none)."""


WEIGHTINGS: Registry[LossWeighting] = Registry("loss weighting")
