"""Run configs, save their records, and resume sweeps.

A run ends ``finished`` or ``failed``; both are saved as records (``"status"``). A failed run
(an exception during training — e.g. the trainer's non-finite check — or a non-finite final
metric) keeps its error and the history up to the failure, never counts as a result, and is
retried by the next sweep unless that sweep is told ``retry_failed=False``.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from mtl_lib import __version__ as mtl_lib_version
from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.architectures import ARCHITECTURES
from mtl_lib.core.runtime import accepts_argument, resolve_device, seed_everything
from mtl_lib.diagnostics import DIAGNOSTICS, Diagnostic
from mtl_lib.engine.trainer import Trainer
from mtl_lib.experiments import store
from mtl_lib.experiments.config import RunConfig
from mtl_lib.experiments.store import read_json, write_json_atomic
from mtl_lib.experiments.validation import validate_configs
from mtl_lib.optim import OPTIMIZERS
from mtl_lib.problems import PROBLEMS
from mtl_lib.weighting import WEIGHTINGS

#: Environment variables that set a sweep's default number of worker processes (first found
#: wins): ``MTL_SWEEP_WORKERS`` for sweeps alone, ``MTL_CPU_BUDGET`` for the cores that this
#: process may use altogether (the book build divides the machine among notebooks with it).
WORKER_ENV = ("MTL_SWEEP_WORKERS", "MTL_CPU_BUDGET")
RUN_THREADS_ENV = "MTL_RUN_THREADS"
#: How often a process pool may break (a worker killed) under a run before the run counts as
#: failed; every run in flight when the pool breaks is retried.
MAX_ATTEMPTS = 3


# ============================================================================ one run
def run(
    config: RunConfig,
    *,
    progress: bool = False,
    raise_errors: bool = True,
    callbacks: Sequence[Any] = (),
    extra_diagnostics: Sequence[Diagnostic] = (),
) -> dict[str, Any]:
    """Train one config from scratch and return its results record (not saved).

    ``config.diagnostics`` names diagnostics of :data:`~mtl_lib.diagnostics.DIAGNOSTICS`;
    ``extra_diagnostics`` adds ready-made ones (a study's own probes). Each one's results are
    stored under the record's ``"diagnostics"``.

    With ``raise_errors=False`` an exception during training does not propagate: the record
    then has ``status="failed"``, the error (type, message, traceback tail) and the history up
    to the failure. A run whose final metrics are not all finite is failed too."""
    started = time.perf_counter()
    partial: dict[str, Any] = {"history": [], "device": config.device}
    try:
        record = _train(config, progress, callbacks, partial, extra_diagnostics)
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
) -> dict[str, Any]:
    device = resolve_device(config.device)
    partial["device"] = device
    seed_everything(config.seed)
    problem = PROBLEMS.get(config.problem)(
        seed=config.seed, batch_size=config.batch_size, device=device, **config.problem_kwargs
    )
    partial["problem"] = problem.description
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
    partial["history"] = trainer.history  # the same list: a failure keeps what was trained
    phases = problem.phases(config.epochs) if problem.phases is not None else None
    history = trainer.fit(problem.train_data, epochs=config.epochs, eval_data=problem.eval_data, phases=phases)
    diagnostics: dict[str, Any] = {}
    for probe in probes:
        diagnostics.update(probe.results(trainer, problem.eval_data))
    return {
        "status": "finished",
        "diagnostics": diagnostics,
        **_provenance(config, device),
        "problem": problem.description,
        "jacobian_path": trainer.jacobian_path,
        "history": history,
        "final": history[-1],
    }


def _failed_record(config: RunConfig, error: BaseException, partial: dict, started: float) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": type(error).__name__,
        "message": str(error),
        "traceback": "".join(traceback.format_exception(error))[-4000:],
    }
    for attribute in (
        "epoch",
        "step",
        "task",
        "parameter",
    ):  # what the trainer's NonFiniteError names
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


# ============================================================================ records on disk
def record_path(config: RunConfig, results_dir: str | Path) -> Path:
    return Path(results_dir) / f"{config.run_id()}.json"


def load_finished(config: RunConfig, results_dir: str | Path) -> dict[str, Any] | None:
    """The saved record of ``config`` if that run finished; ``None`` if it has not run, failed
    (warned, with its error) or its record is damaged (warned, with the path and why)."""
    path = record_path(config, results_dir)
    check = store.inspect_record(path, config.identity())
    if check.status == "damaged":
        warnings.warn(
            f"damaged record {path}: {check.reason}; the sweep will set it aside and re-run it",
            stacklevel=2,
        )
    elif check.status == "failed":
        assert check.record is not None
        warnings.warn(f"run {config.run_id()} failed: {_error_line(check.record)}", stacklevel=2)
    return check.record if check.status == "finished" else None


def load_records(results_dir: str | Path, *, include_failed: bool = False) -> list[dict[str, Any]]:
    """Every finished record in ``results_dir`` (for tables made from existing results).

    Failed runs are left out with a warning naming them (``include_failed=True`` keeps them);
    damaged files are warned about by path (a sweep sets them aside)."""
    records, failed = [], []
    for path in sorted(Path(results_dir).glob("*.json")):
        check = store.inspect_record(path)
        if check.status == "damaged":
            warnings.warn(f"damaged record {path}: {check.reason}", stacklevel=2)
        elif check.status == "finished":
            records.append(check.record)
        elif check.status == "failed":
            failed.append(check.record)
    if failed and not include_failed:
        ids = ", ".join(str(r.get("run_id", "?")) for r in failed)
        warnings.warn(f"{len(failed)} failed run(s) in {results_dir} left out: {ids}", stacklevel=2)
    return records + (failed if include_failed else [])


# ============================================================================ workers
_WORKER_DEVICE: str | None = None


def _init_worker(threads: int, devices: Any) -> None:
    """Runs once in every worker process: pin its CPU threads, take one GPU if given."""
    global _WORKER_DEVICE
    torch.set_num_threads(threads)
    if devices is not None:
        _WORKER_DEVICE = devices.get()


def _modules_for(config: RunConfig) -> list[str]:
    """Modules outside :mod:`mtl_lib` that registered the config's ingredients (a problem defined
    in a test or a plugin); a worker process imports them before it runs the config."""
    modules = set()
    for registry, name in (
        (PROBLEMS, config.problem), (WEIGHTINGS, config.weighting),
        (AGGREGATORS, config.aggregator), (OPTIMIZERS, config.optimizer),
    ):  # fmt: skip
        if isinstance(name, str) and name in registry:
            module = getattr(registry.get(name), "__module__", "") or ""
            if module and not module.startswith("mtl_lib"):
                modules.add(module)
    return sorted(modules)


def _run_in_worker(
    config: RunConfig,
    modules: Sequence[str],
    claim: str | None,
    threads: int,
    progress: bool = False,
) -> dict[str, Any]:
    """What a worker (local process, Dask worker, Slurm job) executes for one run."""
    for module in modules:
        importlib.import_module(module)
    torch.set_num_threads(threads)
    if _WORKER_DEVICE is not None and config.device in ("auto", "cuda"):
        config = replace(config, device=_WORKER_DEVICE)
    callbacks = [_ClaimHeartbeat(claim)] if claim else []
    return run(config, progress=progress, raise_errors=False, callbacks=callbacks)


class _ClaimHeartbeat:
    """Refreshes the run's claim file after every epoch, so that it is not judged stale."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_epoch_end(self, trainer: Any, epoch: int, record: Any) -> None:
        store.refresh_claim(self.path)


class _Inline:
    """Runs a submitted function at once in this process (``workers=1``)."""

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # noqa: BLE001 — handed to the sweep like a worker's error
            future.set_exception(error)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def run_threads() -> int:
    """Torch CPU threads per run when a sweep is not told: ``$MTL_RUN_THREADS``, else 1."""
    threads = _positive_int_env(RUN_THREADS_ENV, "thread")
    return 1 if threads is None else threads


def _positive_int_env(name: str, unit: str) -> int | None:
    """``$name`` as an integer >= 1 (``None`` when unset or empty); a clear error otherwise."""
    value = os.environ.get(name)
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"${name}={value!r} is not an integer number of {unit}s") from None
    if number < 1:
        raise ValueError(f"${name}={value!r}: give at least 1 {unit}")
    return number


@contextlib.contextmanager
def pinned_threads(threads: int | None = None) -> Iterator[int]:
    """Run the block with ``threads`` torch CPU threads (default :func:`run_threads`), then
    restore the caller's: for a study's own runs outside :func:`sweep` (probe runs)."""
    threads = run_threads() if threads is None else threads
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(old)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(pending: int, cuda: bool = False) -> int:
    """Worker processes for ``pending`` runs: ``$MTL_SWEEP_WORKERS`` or ``$MTL_CPU_BUDGET`` if
    set, else one per visible GPU for CUDA runs, else one per core; never more than the runs."""
    for name in WORKER_ENV:
        chosen = _positive_int_env(name, "worker")
        if chosen is not None:
            break
    else:
        chosen = torch.cuda.device_count() if cuda and torch.cuda.device_count() else available_cores()
    return max(1, min(chosen, pending))


def _spawn_pool(workers: int, threads: int, gpus: int) -> ProcessPoolExecutor:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    devices = None
    if gpus:
        devices = context.Queue()
        for index in range(workers):
            devices.put(f"cuda:{index % gpus}")
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(threads, devices),
    )


# ============================================================================ sweeps
def sweep(
    configs: Sequence[RunConfig],
    results_dir: str | Path,
    *,
    progress: bool = True,
    epoch_progress: bool = False,
    workers: int | None = None,
    threads: int | None = None,
    executor: Any = None,
    retry_failed: bool = True,
    stale_after_s: float = store.STALE_CLAIM_S,
    poll_s: float = 0.2,
) -> list[dict[str, Any]]:
    """Run every config whose record in ``results_dir`` is missing, failed or damaged; save each
    record as soon as its run ends; return all records in ``configs`` order.

    * Every config is checked first (:func:`~mtl_lib.experiments.validation.validate_configs`):
      one bad config stops the sweep before anything trains.
    * ``workers``: runs go to that many local worker processes (spawned, one ``threads``-thread
      torch each, one GPU each when several are visible and the run's device is ``"auto"`` or
      ``"cuda"``). Default: :func:`default_workers` (cores, or ``$MTL_SWEEP_WORKERS`` /
      ``$MTL_CPU_BUDGET``). ``workers=1`` trains in this process (what nbval uses).
    * ``threads``: torch CPU threads per run (default ``$MTL_RUN_THREADS``, else 1); stated in
      each record as ``torch_threads``. Results are identical for a given seed, device and
      thread count, so pinning it (rather than inheriting the kernel's) keeps a chapter's
      numbers independent of how many notebooks the build runs at once.
    * ``executor``: any ``concurrent.futures``-style executor (``submit(fn, *args)`` → object
      with ``done()`` / ``result()``): a Dask ``Client.get_executor()``, a ``submitit``
      executor, ... (see :mod:`mtl_lib.experiments.executors`). This process stays the only
      one that writes records.
    * A failed run is saved with ``status="failed"``; the next sweep retries it, or with
      ``retry_failed=False`` keeps and reports it. A damaged record is moved to
      ``results_dir/_damaged/`` (warned, with its path) and its run redone.
    * Two sweeps may share ``results_dir``: a run is trained by the one that claims it first;
      the other waits for its record (or takes over a stale claim of a killed process).
    """
    validate_configs(configs)
    if threads is None:
        threads = run_threads()
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    removed = store.clean_temporary_files(results_dir)
    if removed:
        warnings.warn(
            f"removed {len(removed)} temporary file(s) left by killed writes in {results_dir}",
            stacklevel=2,
        )
    ids = [c.run_id() for c in configs]
    records: dict[str, dict[str, Any]] = {}
    pending: list[RunConfig] = []
    kept_failed = []
    for config in configs:
        state = _settle_existing(config, results_dir, retry_failed)
        if state is None:
            pending.append(config)
        else:
            records[config.run_id()] = state
            if state.get("status", "finished") == "failed":
                kept_failed.append(config.run_id())
    if kept_failed:
        warnings.warn(
            f"{len(kept_failed)} failed run(s) kept, not retried (retry_failed=False): {', '.join(kept_failed)}",
            stacklevel=2,
        )

    modules = {c.run_id(): _modules_for(c) for c in pending}
    own_pool = executor is None
    if own_pool:
        cuda = any(resolve_device(c.device).type == "cuda" for c in pending) if pending else False
        workers = default_workers(len(pending), cuda) if workers is None else workers
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        if workers > 1 and "__main__" in {m for ms in modules.values() for m in ms}:
            warnings.warn(
                "some configs use ingredients defined in __main__ (a notebook or script), which "
                "worker processes cannot import; running in this process (workers=1)", stacklevel=2,
            )  # fmt: skip
            workers = 1
        gpus = torch.cuda.device_count() if cuda and workers > 1 else 0
    else:
        workers, gpus = len(pending) or 1, 0
    inline = own_pool and workers == 1

    bar = tqdm(total=len(configs), initial=len(records), desc="runs", disable=not progress)
    old_threads = torch.get_num_threads()
    if inline:
        torch.set_num_threads(threads)
    pool: Any = _Inline() if inline else (_spawn_pool(workers, threads, gpus) if own_pool else executor)
    in_flight: dict[Any, tuple[RunConfig, Path, Any]] = {}
    attempts: dict[str, int] = {}
    waiting: list[RunConfig] = []  # claimed by another sweep
    queue = list(pending)
    last_refresh = time.monotonic()
    try:
        while queue or in_flight or waiting:
            progressed = False
            while queue and len(in_flight) < workers:
                config = queue.pop(0)
                progressed = True
                done = _settle_existing(config, results_dir, retry_failed=True, quiet=True)
                if done is not None:  # another sweep finished it meanwhile
                    records[config.run_id()] = done
                    bar.update(1)
                    continue
                claim = store.try_claim(results_dir, config.run_id(), stale_after_s)
                if claim is None:
                    waiting.append(config)
                    continue
                done = _settle_existing(config, results_dir, retry_failed=True, quiet=True)
                if done is not None:  # finished between our check and our claim
                    store.release_claim(claim)
                    records[config.run_id()] = done
                    bar.update(1)
                    continue
                attempts[config.run_id()] = attempts.get(config.run_id(), 0) + 1
                bar.set_postfix_str(f"{config.method_label} seed {config.seed}")
                args = (config, modules[config.run_id()], str(claim), threads)
                try:
                    future = (
                        pool.submit(_run_in_worker, *args, epoch_progress)
                        if inline
                        else pool.submit(_run_in_worker, *args)
                    )
                except BaseException:  # interrupted in-process, or the executor refused the job
                    store.release_claim(claim)
                    raise
                in_flight[future] = (config, claim, pool)

            for future in [f for f in in_flight if f.done()]:
                progressed = True
                config, claim, owner = in_flight.pop(future)
                try:
                    record = future.result()
                except BrokenProcessPool as error:
                    if attempts[config.run_id()] >= MAX_ATTEMPTS:
                        record = _failed_record(config, _WorkerDied(error), {}, time.perf_counter())
                    else:
                        warnings.warn(
                            f"a worker process died while running {config.run_id()}; re-running it",
                            stacklevel=2,
                        )
                        store.release_claim(claim)
                        queue.insert(0, config)
                        if own_pool and not inline and owner is pool:  # respawn once per break
                            pool.shutdown(wait=False, cancel_futures=True)
                            pool = _spawn_pool(workers, threads, gpus)
                        continue
                except Exception as error:  # noqa: BLE001 — the executor failed, not the run
                    record = _failed_record(config, error, {}, time.perf_counter())
                write_json_atomic(record_path(config, results_dir), record)
                store.release_claim(claim)
                records[config.run_id()] = record
                bar.update(1)
                if record.get("status") == "failed":
                    warnings.warn(f"run {config.run_id()} failed: {_error_line(record)}", stacklevel=2)

            for config in list(waiting):
                done = _settle_existing(config, results_dir, retry_failed=False, quiet=True)
                if done is not None:
                    waiting.remove(config)
                    records[config.run_id()] = done
                    bar.update(1)
                    progressed = True
                elif store.claim_is_stale(store.claim_path(results_dir, config.run_id()), stale_after_s):
                    waiting.remove(config)  # its sweep died: take the run over
                    queue.append(config)
                    progressed = True

            if time.monotonic() - last_refresh > 10:
                for _, claim, _ in in_flight.values():
                    store.refresh_claim(claim)
                last_refresh = time.monotonic()
            if not progressed:
                time.sleep(poll_s)
    finally:
        for future, (_, claim, _) in in_flight.items():
            if hasattr(future, "cancel"):
                future.cancel()
            store.release_claim(claim)
        if own_pool:
            if in_flight and not inline:
                _terminate_workers(pool)  # interrupted: nobody will read these runs' results
            pool.shutdown(wait=False, cancel_futures=True)
        if inline:
            torch.set_num_threads(old_threads)
        bar.close()
    return [records[i] for i in ids]


def _terminate_workers(pool: Any) -> None:
    # ProcessPoolExecutor has no public way to stop running tasks; its worker processes are
    # reachable through ``_processes`` (stable since Python 3.2).
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


class _WorkerDied(RuntimeError):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(
            f"the worker process running this config died {MAX_ATTEMPTS} times (killed, or out of memory?): {cause}"
        )


def _settle_existing(
    config: RunConfig, results_dir: Path, retry_failed: bool, quiet: bool = False
) -> dict[str, Any] | None:
    """The record to reuse for ``config`` or ``None`` when it must (re-)run. A damaged record
    is moved aside (warned with its old and new paths)."""
    path = record_path(config, results_dir)
    check = store.inspect_record(path, config.identity())
    if check.status == "finished":
        return check.record
    if check.status == "failed":
        if retry_failed:
            if not quiet:
                warnings.warn(
                    f"retrying failed run {config.run_id()} ({_error_line(check.record)})",
                    stacklevel=3,
                )
            return None
        return check.record
    if check.status == "damaged":
        try:
            moved = store.set_aside(path)
        except FileNotFoundError:  # another sweep moved it first
            return None
        warnings.warn(
            f"damaged record {path} ({check.reason}) moved to {moved}; its run will be redone",
            stacklevel=3,
        )
    return None


def _error_line(record: dict[str, Any] | None) -> str:
    error = (record or {}).get("error") or {}
    return f"{error.get('type', '?')}: {error.get('message', '')}".strip()


# ============================================================================ frames
def split_failed(
    records: Iterable[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(finished, failed)`` records."""
    finished, failed = [], []
    for record in records:
        (failed if record.get("status", "finished") == "failed" else finished).append(record)
    return finished, failed


def _finished_only(records: Iterable[dict[str, Any]], caller: str) -> list[dict[str, Any]]:
    finished, failed = split_failed(records)
    if failed:
        warnings.warn(
            f"{caller}: {len(failed)} failed run(s) left out: " + ", ".join(r["run_id"] for r in failed)
            + " (failure_summary(records) says why)", stacklevel=3,
        )  # fmt: skip
    return finished


def _long_rows(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for record in records:
        for epoch in record["history"]:
            for key, value in epoch.items():
                if "/" not in key:
                    continue
                first, second = key.split("/", 1)
                task, metric = (second, first) if first == "train_loss" else (first, second)
                rows.append(
                    {
                        "run_id": record["run_id"],
                        "method": record["method"],
                        "seed": record["seed"],
                        "epoch": epoch["epoch"],
                        "phase": epoch.get("phase"),
                        "task": task,
                        "metric": metric,
                        "value": value,
                    }
                )
    return pd.DataFrame(rows)


def history_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Long-format table of every epoch of every finished run:
    columns run_id, method, seed, epoch, phase, task, metric, value. Failed runs are left out
    (with a warning naming them; :func:`report_failures` says why they failed)."""
    frame = _long_rows(_finished_only(records, "history_frame"))
    if frame.empty:
        warnings.warn("history_frame: no finished records given", stacklevel=2)
    return frame


def final_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per finished run and task/metric at the last epoch (same columns as
    :func:`history_frame`; failed runs left out with a warning)."""
    frame = _long_rows(_finished_only(records, "final_frame"))
    if frame.empty:
        warnings.warn("final_frame: no finished records given", stacklevel=2)
        return frame
    last = frame.groupby("run_id")["epoch"].transform("max")
    return frame[frame["epoch"] == last].reset_index(drop=True)


def failure_summary(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per failed run: run_id, method, seed, epochs completed, error type and message
    (empty frame when nothing failed)."""
    rows = [
        {
            "run_id": r["run_id"],
            "method": r.get("method"),
            "seed": r.get("seed"),
            "epochs completed": len(r.get("history") or []),
            "error": (r.get("error") or {}).get("type"),
            "message": (r.get("error") or {}).get("message"),
        }
        for r in split_failed(records)[1]
    ]
    return pd.DataFrame(rows, columns=["run_id", "method", "seed", "epochs completed", "error", "message"])


def report_failures(records: Iterable[dict[str, Any]], file: Any = None) -> int:
    """Print which runs failed and why (for a notebook, instead of plotting NaN); returns how
    many failed. Prints nothing when every run finished."""
    summary = failure_summary(records)
    if not summary.empty:
        out = file or sys.stdout
        print(f"{len(summary)} run(s) FAILED and are left out of the tables and figures:", file=out)
        for row in summary.itertuples(index=False):
            print(
                f"  {row.method} (seed {row.seed}, {row[3]} epochs done): {row.error}: {row.message}",
                file=out,
            )
        print("A later sweep retries them (sweep(..., retry_failed=True), the default).", file=out)
    return len(summary)


__all__ = [
    "available_cores",
    "default_workers",
    "failure_summary",
    "final_frame",
    "history_frame",
    "load_finished",
    "load_records",
    "read_json",
    "record_path",
    "report_failures",
    "run",
    "split_failed",
    "sweep",
]
