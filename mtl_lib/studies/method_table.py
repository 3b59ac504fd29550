"""The method table: every registered method with its kind, whether it needs per-task
gradients, and its per-step cost relative to equal weighting on AdaTask's synthetic MLP.

Costs are medians of interleaved timing blocks (so slow drifts of the machine's load hit every
method alike) and are only meaningful as ratios measured in one run on one machine.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import pandas as pd
import torch

from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.core.runtime import resolve_device
from mtl_lib.engine.trainer import Trainer
from mtl_lib.problems import PROBLEMS
from mtl_lib.weighting import WEIGHTINGS


def _entries() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(name, kind, trainer kwargs, problem options) for every method in the registries."""
    out = [(name, "loss weighting", {"weighting": name}, {}) for name in WEIGHTINGS.names()]
    # AdaTask's problem has two tasks: aggregators that need more (Krum, TrimmedMean) are left out
    out += [
        (name, "gradient aggregator", {"aggregator": name}, {})
        for name in AGGREGATORS.names()
        if getattr(AGGREGATORS.get(name), "min_tasks", 1) <= 2
    ]
    out.append(("rotograd", "architecture", {}, {"rotograd": True}))
    return out


def _trainer(kwargs: dict[str, Any], options: dict[str, Any], device: torch.device, batch_size: int):
    torch.manual_seed(0)
    problem = PROBLEMS.get("synthetic_regression")(
        seed=0, batch_size=batch_size, device=device, n_train=batch_size * 4, n_test=32, **options
    )
    trainer = Trainer(problem.model, problem.tasks, optimizer="adam", lr=1e-4, device=device,
                      progress=False, callbacks=problem.callbacks, **kwargs)  # fmt: skip
    trainer._hook("on_train_start")
    trainer._hook("on_epoch_start", 1)
    batch = next(iter(problem.train_data))
    return trainer, batch


def _block(trainer: Trainer, batch, steps: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        losses = trainer.train_step(batch)
        trainer._hook("on_step_end", trainer.step_count, losses)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


def method_table(blocks: int = 5, steps: int = 10, batch_size: int = 100, device: str = "cpu") -> pd.DataFrame:
    """One row per method: kind, per-task gradients, ms per step, cost relative to EW."""
    dev = resolve_device(device)
    entries = _entries()
    built = {name: _trainer(kw, opts, dev, batch_size) for name, _, kw, opts in entries}
    for trainer, batch in built.values():  # warm-up
        _block(trainer, batch, 2, dev)
    samples: dict[str, list[float]] = {name: [] for name in built}
    for _ in range(blocks):
        for name, (trainer, batch) in built.items():
            samples[name].append(_block(trainer, batch, steps, dev))
    per_step = {name: statistics.median(v) for name, v in samples.items()}
    rows = []
    for name, kind, _, _ in entries:
        trainer = built[name][0]
        partial = getattr(trainer.weighting, "reads_task_gradients_of", None)
        needs = (
            "yes (Jacobian of shared parameters)"
            if trainer.needs_task_gradients
            else (f"partly ({partial})" if partial else "no")
        )
        rows.append({
            "method": name,
            "kind": kind,
            "per-task gradients": needs,
            "ms per step": round(1e3 * per_step[name], 3),
            "cost relative to EW": round(per_step[name] / per_step["ew"], 2),
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("method")
