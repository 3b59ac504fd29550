"""Run configs, save their records, and resume sweeps."""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Iterable, Sequence
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
from mtl_lib.experiments.config import RunConfig
from mtl_lib.experiments.store import read_json, write_json_atomic
from mtl_lib.problems import PROBLEMS
from mtl_lib.weighting import WEIGHTINGS


def run(
    config: RunConfig, *, progress: bool = False, extra_diagnostics: Sequence[Diagnostic] = ()
) -> dict[str, Any]:
    """Train one config from scratch and return its results record (not saved).

    ``config.diagnostics`` names diagnostics of :data:`~mtl_lib.diagnostics.DIAGNOSTICS`;
    ``extra_diagnostics`` adds ready-made ones (a study's own probes). Each one's results are
    stored under the record's ``"diagnostics"``."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    seed_everything(config.seed)
    problem = PROBLEMS.get(config.problem)(
        seed=config.seed, batch_size=config.batch_size, device=device, **config.problem_kwargs
    )
    # Methods with their own randomness (PCGrad's order, RLW's weights, ...) follow the run's seed.
    aggregator_kwargs = dict(config.aggregator_kwargs)
    if config.aggregator is not None:
        _default_seed(AGGREGATORS.get(config.aggregator), aggregator_kwargs, config.seed)
    weighting_kwargs = dict(config.weighting_kwargs)
    _default_seed(WEIGHTINGS.get(config.weighting), weighting_kwargs, config.seed)
    unknown = set(config.diagnostics) - set(DIAGNOSTICS.names())
    if unknown:
        raise ValueError(f"unknown diagnostics {sorted(unknown)}; available: {', '.join(DIAGNOSTICS.names())}")
    model, callbacks = problem.model, list(problem.callbacks)
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
    )
    phases = problem.phases(config.epochs) if problem.phases is not None else None
    history = trainer.fit(
        problem.train_data, epochs=config.epochs, eval_data=problem.eval_data, phases=phases
    )
    diagnostics: dict[str, Any] = {}
    for probe in probes:
        diagnostics.update(probe.results(trainer, problem.eval_data))
    return {
        "diagnostics": diagnostics,
        "run_id": config.run_id(),
        "method": config.method_label,
        "config": config.identity(),
        "problem": problem.description,
        "seed": config.seed,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "torch_version": torch.__version__,
        "mtl_lib_version": mtl_lib_version,
        "history": history,
        "final": history[-1],
        "wall_time_s": time.perf_counter() - started,
    }



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


def record_path(config: RunConfig, results_dir: str | Path) -> Path:
    return Path(results_dir) / f"{config.run_id()}.json"


def load_finished(config: RunConfig, results_dir: str | Path) -> dict[str, Any] | None:
    """The saved record of ``config``, or ``None`` if it has not finished."""
    path = record_path(config, results_dir)
    if not path.exists():
        return None
    record = read_json(path)
    if record.get("config") != config.identity():
        raise ValueError(
            f"{path} holds a different config than the one requested; delete it to re-run"
        )
    return record


def sweep(
    configs: Sequence[RunConfig],
    results_dir: str | Path,
    *,
    progress: bool = True,
    epoch_progress: bool = False,
    executor: Any = None,
) -> list[dict[str, Any]]:
    """Run every config whose record is not in ``results_dir`` yet, save each record as soon as
    its run ends, and return all records in ``configs`` order.

    ``progress`` shows one bar over the runs, ``epoch_progress`` one more inside each run.
    Runs are sequential by default. To spread them over machines, pass an ``executor`` with the
    ``concurrent.futures`` interface (``submit(fn, *args)`` → future with ``.result()``), such as
    a ``submitit.AutoExecutor`` for Slurm or a ``ProcessPoolExecutor``; this function stays the
    only place that writes records.
    """
    ids = [c.run_id() for c in configs]
    if len(set(ids)) != len(ids):
        raise ValueError("the sweep lists the same config twice")
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for config in configs:
        finished = load_finished(config, results_dir)
        if finished is None:
            todo.append(config)
        else:
            records[config.run_id()] = finished
    bar = tqdm(total=len(configs), initial=len(records), desc="runs", disable=not progress)
    try:
        if executor is None:
            for config in todo:
                bar.set_postfix_str(f"{config.method_label} seed {config.seed}")
                _save(run(config, progress=epoch_progress), config, results_dir, records)
                bar.update(1)
        else:
            futures = [(config, executor.submit(run, config)) for config in todo]
            for config, future in futures:
                _save(future.result(), config, results_dir, records)
                bar.update(1)
    finally:
        bar.close()
    return [records[i] for i in ids]


def _save(record: dict[str, Any], config: RunConfig, results_dir: str | Path, records: dict) -> None:
    write_json_atomic(record_path(config, results_dir), record)
    records[config.run_id()] = record


def history_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Long-format table of every epoch of every run:
    columns run_id, method, seed, epoch, phase, task, metric, value."""
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
    if not rows:
        warnings.warn("history_frame: no records given", stacklevel=2)
    return pd.DataFrame(rows)


def final_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per run and task/metric at the last epoch (same columns as :func:`history_frame`)."""
    frame = history_frame(records)
    if frame.empty:
        return frame
    last = frame.groupby("run_id")["epoch"].transform("max")
    return frame[frame["epoch"] == last].reset_index(drop=True)
