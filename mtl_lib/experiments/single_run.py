"""One run: build a config's problem and trainer, train it, return its results record.

A run ends ``finished`` or ``failed``; both are records (``"status"``). A failed run (an
exception during training — e.g. the trainer's non-finite check — or a non-finite final
metric) keeps its error and the history up to the failure, never counts as a result, and is
retried by the next sweep unless that sweep is told ``retry_failed=False``.

Given a ``checkpoint`` path, a run saves its whole training state there after every epoch
(:meth:`Trainer.state_dict` — model, weighting, aggregator, optimizer, epoch counter, history,
random generators — and the training loader's shuffling generator), written atomically, and a
later run of the same config resumes from it: the epochs already done are not redone and the
final numbers are those of an uninterrupted run. The sweep passes ``<results>/<run_id>.ckpt``
and removes it once the run's record is written. Runs with a callback (a diagnostic, a schedule) that has no
``state_dict`` are not checkpointed: they would resume with half their state.
"""

from __future__ import annotations

import math
import os
import platform
import socket
import tempfile
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mtl_lib import __version__ as mtl_lib_version
from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.architectures import ARCHITECTURES
from mtl_lib.core.runtime import accepts_argument, resolve_device, seed_everything
from mtl_lib.diagnostics import DIAGNOSTICS, Diagnostic
from mtl_lib.engine.trainer import Trainer
from mtl_lib.experiments.config import RunConfig
from mtl_lib.experiments.validation import validate_run_config
from mtl_lib.problems import PROBLEMS
from mtl_lib.weighting import WEIGHTINGS

CHECKPOINT_FORMAT = 1


def run(
    config: RunConfig,
    *,
    progress: bool = False,
    raise_errors: bool = True,
    callbacks: Sequence[Any] = (),
    extra_diagnostics: Sequence[Diagnostic] = (),
    checkpoint: str | Path | None = None,
) -> dict[str, Any]:
    """Train one config and return its results record (not saved).

    ``config.diagnostics`` names diagnostics of :data:`~mtl_lib.diagnostics.DIAGNOSTICS`;
    ``extra_diagnostics`` adds ready-made ones (a study's own probes). Each one's results are
    stored under the record's ``"diagnostics"``. ``checkpoint``: a file to save the training
    state to after every epoch and to resume from when it exists (see the module docstring).

    With ``raise_errors=False`` an exception during training does not propagate: the record
    then has ``status="failed"``, the error (type, message, traceback tail) and the history up
    to the failure. A run whose final metrics are not all finite is failed too."""
    started = time.perf_counter()
    partial: dict[str, Any] = {"history": [], "device": config.device}
    try:
        record = _train(config, progress, callbacks, partial, extra_diagnostics, checkpoint)
    except Exception as error:  # noqa: BLE001 — recorded, not hidden: the record says failed
        if raise_errors:
            raise
        return _failed_record(config, error, partial, started)
    record["wall_time_s"] = time.perf_counter() - started
    bad = sorted(
        key for key, value in record["final"].items()
        if isinstance(value, float) and not math.isfinite(value)
    )  # fmt: skip
    if bad:
        error = FloatingPointError(f"run {config.run_id()} ended with non-finite final metrics {bad}")
        if raise_errors:
            raise error
        return _failed_record(config, error, partial, started)
    return record


def _provenance(config: RunConfig, device: Any) -> dict[str, Any]:
    device = torch.device(device) if not isinstance(device, torch.device) else device
    return {
        "run_id": config.run_id(),
        "method": config.method_label,
        "config": config.identity(),
        "seed": config.seed,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "mtl_lib_version": mtl_lib_version,
        "python_version": platform.python_version(),
        "host": platform.node(),
    }


def _train(
    config: RunConfig,
    progress: bool,
    extra_callbacks: Sequence[Any],
    partial: dict,
    extra_diagnostics: Sequence[Diagnostic] = (),
    checkpoint: str | Path | None = None,
) -> dict[str, Any]:
    validate_run_config(config)  # every option, range and the device, before anything is built
    device = resolve_device(config.device)
    partial["device"] = device
    seed_everything(config.seed)
    problem = PROBLEMS.get(config.problem)(
        seed=config.seed, batch_size=config.batch_size, device=device, **config.problem_kwargs
    )
    partial["problem"] = problem.description
    trainer, probes = _build_trainer(config, problem, device, progress, extra_callbacks, extra_diagnostics)
    partial["history"] = trainer.history  # the same list: a failure keeps what was trained
    phases = problem.phases(config.epochs) if problem.phases is not None else [("main", config.epochs)]
    keeper = _Checkpoint.for_run(checkpoint, config, trainer, problem.train_data)
    done = keeper.resume() if keeper else 0
    if keeper:
        trainer.callbacks.append(keeper)
    resume = {"resume": True} if done else {}  # the whole schedule; the epochs done are skipped
    history = trainer.fit(problem.train_data, eval_data=problem.eval_data, phases=phases, **resume)
    diagnostics: dict[str, Any] = {}
    for probe in probes:
        diagnostics.update(probe.results(trainer, problem.eval_data))
    return {
        "status": "finished",
        "diagnostics": diagnostics,
        **_provenance(config, device),
        "problem": problem.description,
        "jacobian_path": trainer.jacobian_path,
        "task_split": trainer.task_split,  # whether the task gradients were split at the heads, and why not
        "history": history,
        "final": history[-1],
        **({"resumed_from_epoch": done} if done else {}),
    }


def _build_trainer(
    config: RunConfig,
    problem: Any,
    device: torch.device,
    progress: bool,
    extra_callbacks: Sequence[Any],
    extra_diagnostics: Sequence[Diagnostic],
) -> tuple[Trainer, list[Diagnostic]]:
    # Methods with their own randomness (PCGrad's order, RLW's weights, ...) follow the run's seed.
    aggregator_kwargs = dict(config.aggregator_kwargs)
    if config.aggregator is not None:
        _default_seed(AGGREGATORS.get(config.aggregator), aggregator_kwargs, config.seed)
    weighting_kwargs = dict(config.weighting_kwargs)
    _default_seed(WEIGHTINGS.get(config.weighting), weighting_kwargs, config.seed)
    unknown = set(config.diagnostics) - set(DIAGNOSTICS.names())
    if unknown:
        raise ValueError(f"unknown diagnostics {sorted(unknown)}; available: {', '.join(DIAGNOSTICS.names())}")
    model, callbacks = problem.model, list(problem.callbacks) + list(extra_callbacks)
    if config.architecture is not None:
        model = _wrap_model(config.architecture, model, config.architecture_kwargs)
        # a wrapper that trains something of its own (RotoGrad's rotations) says how
        callbacks += list(getattr(model, "training_callbacks", list)())
    total_steps = config.epochs * _batches_per_epoch(problem)
    probes = [DIAGNOSTICS.build(name, total_steps=total_steps) for name in config.diagnostics]
    probes += list(extra_diagnostics)
    aggregator = config.aggregator
    if aggregator is None and any(p.needs_task_gradients for p in probes):
        # "sum" is equal weighting through the Jacobian (the same step, which the trainer's
        # tests pin), so that per-task gradients exist for the diagnostics to read
        aggregator = "sum"
    extra = {"autocast": config.autocast} if config.autocast else {}
    trainer = Trainer(
        model,
        problem.tasks,
        weighting=config.weighting,
        aggregator=aggregator,
        optimizer=config.optimizer,
        lr=config.lr,
        weighting_kwargs=weighting_kwargs,
        aggregator_kwargs=aggregator_kwargs,
        optimizer_kwargs=config.optimizer_kwargs,
        device=device,
        progress=progress,
        callbacks=[*callbacks, *probes],
        **extra,
    )
    return trainer, probes


# --------------------------------------------------------------------------- checkpoints
def _loader_generators(data: Any) -> list[torch.Generator]:
    """The shuffling generators of a training loader (``TensorBatches.generator``), and of the
    loaders it wraps (``.inner``): their state decides the next epochs' batch order."""
    found, seen = [], set()
    while data is not None and id(data) not in seen:
        seen.add(id(data))
        generator = getattr(data, "generator", None)
        if isinstance(generator, torch.Generator):
            found.append(generator)
        data = getattr(data, "inner", None)
    return found


class _Checkpoint:
    """Saves the run's training state after every epoch; restores it once, before training."""

    def __init__(self, path: Path, identity: dict[str, Any], trainer: Trainer, data: Any) -> None:
        self.path, self.identity, self.trainer = path, identity, trainer
        self.generators = _loader_generators(data)

    @classmethod
    def for_run(cls, path: str | Path | None, config: RunConfig, trainer: Trainer, data: Any) -> _Checkpoint | None:
        """The checkpointer of this run, or ``None`` when it is not checkpointed: no path, a
        trainer without ``state_dict`` or a callback (diagnostic, schedule) without one."""
        if path is None or not callable(getattr(trainer, "state_dict", None)):
            return None
        if any(not callable(getattr(c, "state_dict", None)) for c in trainer.callbacks):
            return None
        return cls(Path(path), config.identity(), trainer, data)

    def resume(self) -> int:
        """Load the checkpoint if there is one for this config: the epochs it has trained. A
        checkpoint that cannot be read, or is another config's, is warned about and ignored;
        one that is this config's but does not load fails the run (the trainer is then half
        restored), and the sweep removes it with the failed record."""
        if not self.path.exists():
            return 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's remarks on a damaged file's pickle protocol
                state = torch.load(self.path, map_location="cpu", weights_only=True)
            usable = isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT
            if not usable or state.get("identity") != self.identity:
                raise ValueError("it belongs to another config or format")
            generators = list(state["loader_generators"])
            if len(generators) != len(self.generators):
                raise ValueError("its training data has other loaders")
        except Exception as error:  # noqa: BLE001 — a checkpoint only saves time: on any fault, start over
            warnings.warn(f"checkpoint {self.path} not used ({error}); training from the start", stacklevel=2)
            return 0
        self.trainer.load_state_dict(state["trainer"])
        for generator, saved in zip(self.generators, generators):
            generator.set_state(saved)
        return int(state["epoch"])

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: Any) -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            "identity": self.identity,
            "epoch": trainer.epoch,
            "trainer": trainer.state_dict(),
            "loader_generators": [g.get_state() for g in self.generators],
        }
        # imported here, not at the top: workers imports this module
        from mtl_lib.experiments.workers import stops_deferred

        prefix = f".{self.path.name}.{socket.gethostname()}.{os.getpid()}."  # see store.clean_temporary_files
        # A Ctrl-C raised inside torch.save's writer comes out as a RuntimeError ("unexpected pos"),
        # which made a stopped run a *failed* one (seen in a fresh-clone make test): the stop waits
        # until the checkpoint is written, then arrives as usual.
        with stops_deferred():
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    torch.save(state, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise


# --------------------------------------------------------------------------- failures
def _failed_record(config: RunConfig, error: BaseException, partial: dict, started: float) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": type(error).__name__,
        "message": str(error),
        "traceback": "".join(traceback.format_exception(error))[-4000:],
    }
    for attribute in ("epoch", "step", "task", "parameter"):  # what the trainer's NonFiniteError names
        value = getattr(error, attribute, None)
        if isinstance(value, (int, float, str)):
            info[attribute] = value
    history = list(partial.get("history") or [])
    return {
        "status": "failed",
        "error": info,
        **_provenance(config, _known_device(partial.get("device"))),
        "problem": partial.get("problem"),
        "history": history,
        "epochs_completed": len(history),
        "diagnostics": {},
        "wall_time_s": time.perf_counter() - started,
    }


def failed_record(config: RunConfig, error: BaseException) -> dict[str, Any]:
    """The record of a run that failed outside training (its worker died, the executor broke)."""
    return _failed_record(config, error, {}, time.perf_counter())


def _known_device(device: Any) -> torch.device:
    try:
        return resolve_device(device if device is not None else "cpu")
    except (RuntimeError, TypeError, ValueError):
        return torch.device("cpu")


def _wrap_model(name: str, model: Any, kwargs: dict[str, Any]) -> Any:
    builder = ARCHITECTURES.get(name)
    if not accepts_argument(builder, "base"):
        wrappers = [n for n in ARCHITECTURES.names() if accepts_argument(ARCHITECTURES.get(n), "base")]
        raise ValueError(
            f"architecture {name!r} builds a network of its own, but a run's problem chooses its "
            f"network (it depends on the data); RunConfig.architecture takes a wrapper of the "
            f"problem's model: {', '.join(wrappers)}"
        )
    return builder(base=model, **kwargs)


def _batches_per_epoch(problem: Any) -> int:
    try:
        return len(problem.train_data)
    except TypeError:
        return 1


def _default_seed(factory: Any, kwargs: dict[str, Any], seed: int) -> None:
    if accepts_argument(factory, "seed"):
        kwargs.setdefault("seed", seed)
