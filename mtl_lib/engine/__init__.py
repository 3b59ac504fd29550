"""The training engine: tasks, schedule hooks, the Jacobian and the trainer."""

from mtl_lib.engine.hooks import Callback
from mtl_lib.engine.jacobian import BatchedJacobianFallbackWarning, task_jacobians
from mtl_lib.engine.tasks import Task
from mtl_lib.engine.trainer import Trainer

__all__ = ["BatchedJacobianFallbackWarning", "Callback", "Task", "Trainer", "task_jacobians"]
