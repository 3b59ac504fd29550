"""The core layer: what every other package builds on, importing nothing else of ``mtl_lib``.

Tasks, the multi-task model protocol, the per-task Jacobian helpers, name registries and the
one plugin mechanism, the schedule-hook protocol, the optimizer registry, run-size profiles,
device choice and seeding, and the non-finite-value error every layer raises.
"""

from mtl_lib.core.errors import (
    NonFiniteError,
    NonFiniteStepWarning,
    nonfinite_rows,
    require_finite_rows,
)
from mtl_lib.core.hooks import Callback
from mtl_lib.core.jacobian import (
    GRANULARITIES,
    BatchedJacobianFallbackWarning,
    flatten_rows,
    parameter_blocks,
    per_task_rows,
    task_jacobians,
    unflatten_into_grads,
)
from mtl_lib.core.model import MultiTaskModel, parameter_names
from mtl_lib.core.optimizers import OPTIMIZERS, build_optimizer, consumes_task_gradients
from mtl_lib.core.plugins import import_submodules
from mtl_lib.core.profiles import PROFILES, UnknownProfileError, check_profile, select
from mtl_lib.core.registry import Registry, UnknownNameError
from mtl_lib.core.runtime import accepts_argument, resolve_device, seed_everything
from mtl_lib.core.tasks import Loss, Metric, Task

__all__ = [
    "GRANULARITIES",
    "OPTIMIZERS",
    "PROFILES",
    "BatchedJacobianFallbackWarning",
    "Callback",
    "Loss",
    "Metric",
    "MultiTaskModel",
    "NonFiniteError",
    "NonFiniteStepWarning",
    "Registry",
    "Task",
    "UnknownNameError",
    "UnknownProfileError",
    "accepts_argument",
    "build_optimizer",
    "check_profile",
    "consumes_task_gradients",
    "flatten_rows",
    "import_submodules",
    "nonfinite_rows",
    "parameter_blocks",
    "require_finite_rows",
    "parameter_names",
    "per_task_rows",
    "resolve_device",
    "seed_everything",
    "select",
    "task_jacobians",
    "unflatten_into_grads",
]
