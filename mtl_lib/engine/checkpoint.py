"""A whole trainer's state, so that a run can stop after any epoch and resume exactly.

What a checkpoint holds:

* the model's and the loss weighting's ``state_dict`` (parameters and buffers);
* every other piece of ingredient state, found generically rather than listed per method: the
  plain attributes of each module of the model and the weighting (UW's and FAMO's learnable
  vectors are parameters, DWA's loss history, GLS/STCH warm-up records, RotoGrad's rotation
  optimizer are attributes), of the aggregator (GradVac's EMA targets, MoCo's tracked
  directions, PCGrad's generator) and of the optimizer (Adam moments, AdaTask's per-task
  accumulators and its bound shared parameters);
* the state of each callback that has a ``state_dict()``/``load_state_dict()`` pair (a
  method's own callbacks, such as RotoGrad's rotation step and LaSS's mask schedule, do);
  other callbacks are not saved: the caller builds them afresh;
* the trainer's counters (epoch, step, phase), its history, the Jacobian path decision and the
  count of skipped steps;
* the random number generators (torch CPU and CUDA, NumPy, Python's ``random``).

The attributes are pickled with *persistent references* for the trainer's own parameters and
modules (:class:`_ReferencingPickler`): a method's reference to a shared layer's weight
(GradNorm) or an optimizer's parameter list is saved as the parameter's name and resolved to
the *new* trainer's parameter on loading, so the restored objects act on the restored model
rather than on a detached copy. Loading needs a trainer built with the same configuration.
"""

from __future__ import annotations

import copy
import io
import os
import pickle
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Bumped when the layout of :func:`trainer_state` changes incompatibly.
CHECKPOINT_FORMAT = 1

#: Module attributes not saved with the plain attributes: parameters are restored through
#: ``state_dict``, sub-modules are saved one by one (by name), hooks are code, not state.
_MODULE_SKIP = ("_parameters", "_modules")


class CheckpointError(ValueError):
    """A checkpoint does not fit this trainer (another configuration, model or format)."""


def _referable(trainer: Any) -> dict[str, Any]:
    """Name → object for everything saved by reference: the trainer itself, its ingredients,
    every module and parameter of the model and of the weighting."""
    objects: dict[str, Any] = {"trainer": trainer}
    for owner in ("model", "weighting"):
        module: torch.nn.Module = getattr(trainer, owner)
        for name, sub in module.named_modules():
            objects[f"module:{owner}.{name}"] = sub
        for name, param in module.named_parameters():
            objects[f"param:{owner}.{name}"] = param
    for owner in ("aggregator", "optimizer"):
        if getattr(trainer, owner) is not None:
            objects[f"ingredient:{owner}"] = getattr(trainer, owner)
    for index, callback in enumerate(trainer.callbacks):
        objects[f"callback:{index}"] = callback
    return objects


class _ReferencingPickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, names: dict[int, str]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._names = names

    def persistent_id(self, obj: Any) -> str | None:
        return self._names.get(id(obj))


class _ResolvingUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, objects: dict[str, Any]) -> None:
        super().__init__(file)
        self._objects = objects

    def persistent_load(self, pid: str) -> Any:
        if pid not in self._objects:
            raise CheckpointError(
                f"the checkpoint refers to {pid!r}, which this trainer does not have: build the "
                "trainer with the same model, ingredients and options as the one that saved it"
            )
        return self._objects[pid]


def _plain_attributes(obj: Any) -> dict[str, Any]:
    if isinstance(obj, torch.nn.Module):
        return {k: v for k, v in vars(obj).items() if k not in _MODULE_SKIP and "hook" not in k}
    return {k: v for k, v in vars(obj).items() if "hook" not in k}


def _attribute_snapshot(trainer: Any) -> dict[str, Any]:
    """Key → what to restore: ingredients by their plain attributes, callbacks through their
    own ``state_dict()`` (a callback without one holds no training state, or is rebuilt by the
    caller: it is not saved)."""
    snapshot: dict[str, Any] = {}
    for owner in ("model", "weighting"):
        for name, sub in getattr(trainer, owner).named_modules():
            snapshot[f"module:{owner}.{name}"] = _plain_attributes(sub)
    for owner in ("aggregator", "optimizer"):
        if getattr(trainer, owner) is not None:
            snapshot[f"ingredient:{owner}"] = _plain_attributes(getattr(trainer, owner))
    for index, callback in enumerate(trainer.callbacks):
        if callable(getattr(callback, "state_dict", None)) and callable(getattr(callback, "load_state_dict", None)):
            snapshot[f"callback:{index}"] = callback.state_dict()
    return snapshot


def _describe(key: str, trainer: Any) -> str:
    if key.startswith("callback:"):
        return f"callback {type(trainer.callbacks[int(key.split(':', 1)[1])]).__name__}"
    return key.split(":", 1)[1]


def _counters(trainer: Any) -> dict[str, Any]:
    return {
        "epoch": trainer.epoch,
        "step_count": trainer.step_count,
        "phase": trainer.phase,
        "history": copy.deepcopy(trainer.history),
        "jacobian_path": trainer._jacobian.state_dict(),
        "nonfinite": trainer._guard.state_dict(),
    }


def _restore_counters(trainer: Any, state: dict[str, Any]) -> None:
    trainer.epoch = int(state["epoch"])
    trainer.step_count = int(state["step_count"])
    trainer.phase = state["phase"]
    trainer.history[:] = copy.deepcopy(state["history"])  # the same list: callers may hold it
    trainer._jacobian.load_state_dict(state["jacobian_path"])
    trainer._guard.load_state_dict(state["nonfinite"])


def _rng_state() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def trainer_state(trainer: Any) -> dict[str, Any]:
    """The state behind :meth:`Trainer.state_dict` (see the module docstring)."""
    objects = _referable(trainer)
    names = {id(obj): name for name, obj in objects.items()}
    buffer = io.BytesIO()
    # One pickler for every entry (its memo keeps objects shared between entries shared),
    # entry by entry so that an error can name the object that cannot be saved.
    pickler = _ReferencingPickler(buffer, names)
    snapshot = _attribute_snapshot(trainer)
    pickler.dump(list(snapshot))
    for key, attributes in snapshot.items():
        try:
            pickler.dump(attributes)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            raise CheckpointError(
                f"the state of {_describe(key, trainer)} cannot be saved ({error}); give that object "
                "picklable attributes or a state_dict()/load_state_dict() pair"
            ) from error
    pickler.dump(_rng_state())
    return {
        "format": CHECKPOINT_FORMAT,
        "model": trainer.model.state_dict(),
        "weighting": trainer.weighting.state_dict(),
        "ingredients": buffer.getvalue(),
        "counters": _counters(trainer),
    }


def load_trainer_state(trainer: Any, state: dict[str, Any]) -> None:
    """Restore :func:`trainer_state`'s output into ``trainer`` (built with the same configuration)."""
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"not a trainer checkpoint of format {CHECKPOINT_FORMAT} (got {found!r})")
    try:
        trainer.model.load_state_dict(state["model"])
        trainer.weighting.load_state_dict(state["weighting"])
    except RuntimeError as error:
        raise CheckpointError(f"the checkpoint's model/weighting do not fit this trainer: {error}") from error
    objects = _referable(trainer)
    unpickler = _ResolvingUnpickler(io.BytesIO(state["ingredients"]), objects)
    keys = unpickler.load()
    missing = [key for key in keys if key not in objects]
    if missing:
        raise CheckpointError(
            f"the checkpoint has state for {missing}, which this trainer does not have: build it with the "
            "same model, ingredients and callbacks (in the same order) as the one that saved it"
        )
    for key in keys:
        saved = unpickler.load()
        if key.startswith("callback:"):
            objects[key].load_state_dict(saved)
        else:
            vars(objects[key]).update(saved)
    rng = unpickler.load()
    _restore_counters(trainer, state["counters"])
    _set_rng_state(rng)


def save_checkpoint(trainer: Any, path: str | Path) -> Path:
    """Write ``trainer.state_dict()`` to ``path`` atomically (a temporary file, then a rename), so
    a kill while writing leaves the previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(trainer.state_dict(), file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(trainer: Any, path: str | Path) -> None:
    """Restore a trainer from a file written by :func:`save_checkpoint` (same configuration)."""
    try:
        state = torch.load(Path(path), map_location=trainer.device, weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError) as error:
        raise CheckpointError(
            f"{path} is not a readable trainer checkpoint ({error}); delete it to start over"
        ) from error
    trainer.load_state_dict(state)
