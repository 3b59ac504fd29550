"""Optimizers by name. Plain ``torch.optim`` optimizers consume one gradient per parameter;
task-aware optimizers (AdaTask, in its own chapter) declare ``consumes_task_gradients = True``
and receive the per-task gradients of the shared parameters from the engine.

The registry itself lives in :mod:`mtl_lib.core.optimizers` (so that architectures with their
own optimizer, like RotoGrad's rotations, need not import this package); this package adds
the task-aware optimizers to it.
"""

from mtl_lib.core.optimizers import OPTIMIZERS, build_optimizer, consumes_task_gradients
from mtl_lib.core.plugins import import_submodules

import_submodules(__name__, __path__)

from mtl_lib.optim.adatask import (  # noqa: E402
    AdaTask,
    AdaTaskAdaGrad,
    AdaTaskAdam,
    AdaTaskRMSProp,
    adatask_param_groups,
)
from mtl_lib.optim.ladatask import LAdaTask, LAdaTaskAdaGrad, LAdaTaskAdam, LAdaTaskRMSProp  # noqa: E402

__all__ = [
    "OPTIMIZERS",
    "AdaTask",
    "AdaTaskAdaGrad",
    "AdaTaskAdam",
    "AdaTaskRMSProp",
    "LAdaTask",
    "LAdaTaskAdaGrad",
    "LAdaTaskAdam",
    "LAdaTaskRMSProp",
    "adatask_param_groups",
    "build_optimizer",
    "consumes_task_gradients",
]
