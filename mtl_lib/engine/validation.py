"""The trainer's input checks: everything that would otherwise fail deep inside a step with a
raw Python error, checked before the first step and reported with the fix.

* the model: the multi-task interface (``task_names``, ``shared_parameters()``,
  ``task_parameters(k)``, a list of predictions per forward) — a plain ``nn.Sequential`` is
  told to use :class:`~mtl_lib.architectures.HardSharing` or to subclass
  :class:`~mtl_lib.core.model.MultiTaskModel`;
* the tasks: one :class:`~mtl_lib.core.tasks.Task` per model output, in the model's order;
* the device, the learning rate and the schedule (``epochs``/``phases``);
* the first batch: its length, and float data of another dtype than the model's parameters;
* every step's losses: one scalar per task (a loss with ``reduction="none"`` is named).

Every error is a :class:`~mtl_lib.core.errors.UsageError` (a ``ValueError``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch

from mtl_lib.core.errors import UsageError

_INTERFACE_FIX = (
    "Fix: wrap a shared encoder and one head per task, "
    "mtl_lib.architectures.HardSharing(encoder, heads, task_names=[...]), or subclass "
    "mtl_lib.core.MultiTaskModel: set self.task_names (one name per output) and define "
    "forward(x) -> [one prediction per task], shared_parameters() and task_parameters(k)."
)


def check_model(model: Any) -> None:
    """``model`` implements the multi-task interface the trainer needs."""
    if not isinstance(model, torch.nn.Module):
        raise UsageError(
            f"model must be a torch.nn.Module with the multi-task interface, got {type(model).__name__}. {_INTERFACE_FIX}"
        )
    name = type(model).__name__
    lacking = [m + "()" for m in ("shared_parameters", "task_parameters") if not callable(getattr(model, m, None))]
    task_names = getattr(model, "task_names", None)
    if task_names is None:
        lacking.insert(0, "task_names")
    if lacking:
        raise UsageError(f"{name} is not a multi-task model: it has no {', '.join(lacking)}. {_INTERFACE_FIX}")
    if (
        isinstance(task_names, str)
        or not isinstance(task_names, Sequence)
        or not task_names
        or not all(isinstance(n, str) and n for n in task_names)
    ):
        raise UsageError(f"{name}.task_names must be a non-empty list of task names (strings), got {task_names!r}")
    if len(set(task_names)) != len(task_names):
        raise UsageError(f"{name}.task_names has a name twice: {list(task_names)}; give each task its own name")
    for method, call in (
        ("shared_parameters()", model.shared_parameters),
        ("task_parameters(0)", lambda: model.task_parameters(0)),
    ):
        try:
            params = call()
        except NotImplementedError:
            raise UsageError(f"{name}.{method} is not implemented. {_INTERFACE_FIX}") from None
        if not isinstance(params, (list, tuple)) or not all(isinstance(p, torch.Tensor) for p in params):
            raise UsageError(f"{name}.{method} must return a list of parameters, got {type(params).__name__}")


def check_tasks(tasks: Any, model: Any) -> None:
    """One :class:`Task` (a name and a loss) per model output, in ``model.task_names`` order."""
    if isinstance(tasks, (str, bytes)) or not isinstance(tasks, Sequence):
        raise UsageError(f"tasks must be a list of mtl_lib.core.Task, got {type(tasks).__name__}")
    for index, task in enumerate(tasks):
        if not isinstance(getattr(task, "name", None), str) or not callable(getattr(task, "loss", None)):
            raise UsageError(
                f"tasks[{index}] is {type(task).__name__}, not a task: pass mtl_lib.core.Task(name, loss), "
                "e.g. Task('depth', torch.nn.functional.l1_loss)"
            )
    model_names = list(model.task_names)
    names = [task.name for task in tasks]
    if len(tasks) != len(model_names):
        raise UsageError(
            f"{len(tasks)} tasks given for a model with {len(model_names)} outputs (task_names {model_names}): "
            "pass one Task per model output, in the model's order"
        )
    if len(set(names)) != len(names):
        raise UsageError(f"two tasks share a name: {names}; names key the history and the records")
    if set(names) == set(model_names) and names != model_names:
        raise UsageError(
            f"the tasks {names} are in another order than the model's outputs {model_names}: "
            "task k's loss is applied to output k, so list the tasks in the model's order"
        )


def check_device(device: Any) -> None:
    """``"auto"``, a ``torch.device`` or a device string this machine has."""
    if isinstance(device, torch.device) or device == "auto":
        return
    valid = "'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps'"
    if not isinstance(device, str):
        raise UsageError(f"device must be {valid}, got {device!r}")
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise UsageError(f"unknown device {device!r}: use {valid}") from None
    if parsed.type == "cuda":
        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if available == 0:
            raise UsageError(f"device={device!r} was requested but CUDA is not available here: use 'auto' or 'cpu'")
        if parsed.index is not None and parsed.index >= available:
            raise UsageError(
                f"device={device!r}: this machine has {available} CUDA device(s), cuda:0..cuda:{available - 1}"
            )
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"device={device!r} was requested but MPS is not available here: use 'auto' or 'cpu'")


def check_lr(lr: Any) -> None:
    """A finite learning rate ≥ 0 (0 is allowed, as by ``torch.optim``: it freezes the
    parameters, which tests of gradients use; a run's config requires > 0)."""
    if lr is None:
        return
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr < 0:
        raise UsageError(f"lr must be a finite number >= 0, got {lr!r} (e.g. lr=1e-3)")


def _is_count(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def check_schedule(epochs: Any, phases: Any) -> None:
    """``epochs`` an integer ≥ 0; ``phases`` a list of ``(name, epochs ≥ 0)`` pairs."""
    if epochs is not None and not _is_count(epochs):
        raise UsageError(f"epochs must be an integer >= 0, got {epochs!r}")
    if phases is None:
        return
    if isinstance(phases, (str, bytes)) or not isinstance(phases, Sequence):
        raise UsageError(f"phases must be a list of (name, epochs) pairs, got {phases!r}")
    for entry in phases:
        if not (isinstance(entry, Sequence) and len(entry) == 2 and isinstance(entry[0], str) and _is_count(entry[1])):
            raise UsageError(
                f"phases must be (name, epochs >= 0) pairs, e.g. [('warmup', 2), ('main', 8)]; got {entry!r}"
            )


def check_first_batch(batch: Any, num_tasks: int, model: torch.nn.Module) -> None:
    """The batch is ``(x, target_1, ..., target_K)`` and float inputs have the dtype of the
    model's float parameters (run once, on the first batch)."""
    if isinstance(batch, torch.Tensor) or not isinstance(batch, Sequence):
        raise UsageError(
            f"a batch must be a sequence (x, target_1, ..., target_{num_tasks}), got {type(batch).__name__}"
        )
    if len(batch) != num_tasks + 1:
        raise UsageError(
            f"batch has {len(batch) - 1} targets for {num_tasks} tasks: batches are (x, target_1, ..., "
            f"target_{num_tasks}), one target per task in the model's order"
        )
    x = batch[0]
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if isinstance(x, torch.Tensor) and x.is_floating_point() and len(dtypes) == 1 and x.dtype not in dtypes:
        (model_dtype,) = dtypes
        raise UsageError(
            f"the inputs are {x.dtype} but the model's parameters are {model_dtype}: convert the data "
            f"(x.to({model_dtype}), e.g. in the dataset) or the model (model.to({x.dtype}))"
        )


def loss_shape_error(task_name: str, loss: Any, prediction: Any) -> UsageError:
    """The error for a task loss that did not return a scalar tensor."""
    if not isinstance(loss, torch.Tensor):
        return UsageError(
            f"the loss of task {task_name!r} returned {type(loss).__name__}, not a tensor: return the loss tensor "
            "itself (no .item() or float(...)), so that it can be differentiated"
        )
    shape = tuple(getattr(prediction, "shape", ()))
    return UsageError(
        f"the loss of task {task_name!r} returned a tensor of shape {tuple(loss.shape)} (prediction shape {shape}), "
        "not a scalar: reduce it to one number per batch, e.g. .mean() or reduction='mean' "
        "(a per-sample loss with reduction='none' must be averaged)"
    )


def outputs_error(model: torch.nn.Module, outputs: Any, num_tasks: int) -> UsageError:
    """The error for a forward pass that did not return one prediction per task."""
    got = f"{len(outputs)} outputs" if isinstance(outputs, (list, tuple)) else f"a {type(outputs).__name__}"
    return UsageError(
        f"{type(model).__name__}.forward returned {got} for {num_tasks} tasks: it must return a list with one "
        "prediction per task, in task_names order"
    )
