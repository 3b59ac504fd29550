"""Evaluation of every task's loss and metrics over a whole data set, after an epoch."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch

from mtl_lib.core.errors import NonFiniteError
from mtl_lib.core.tasks import Task
from mtl_lib.engine.history import metric_key


@torch.no_grad()
def evaluate_tasks(
    model: torch.nn.Module,
    tasks: Sequence[Task],
    eval_data: Iterable[Sequence[torch.Tensor]],
    device: torch.device,
    autocast: Callable[[], AbstractContextManager[Any]],
    *,
    epoch: int,
    step: int,
    check_batch: Callable[[Sequence[torch.Tensor]], None] | None = None,
) -> dict[str, float]:
    """Every task's loss and metrics over the whole of ``eval_data`` (predictions concatenated,
    then each metric computed once), keyed by :func:`~mtl_lib.engine.history.metric_key`.
    A non-finite value raises :class:`NonFiniteError` saying whether parameters are to blame.
    ``check_batch`` is called on the first batch (the trainer's layout and dtype check)."""
    was_training = model.training
    model.eval()
    predictions: list[list[torch.Tensor]] = [[] for _ in tasks]
    targets: list[list[torch.Tensor]] = [[] for _ in tasks]
    for index, batch in enumerate(eval_data):
        if index == 0 and check_batch is not None:
            check_batch(batch)
        x, *batch_targets = (t.to(device, non_blocking=True) for t in batch)
        with autocast():
            outputs = model(x)
        for k, pred in enumerate(outputs):
            predictions[k].append(pred.float() if pred.is_floating_point() else pred)
            targets[k].append(batch_targets[k])
    model.train(was_training)
    results: dict[str, float] = {}
    for k, task in enumerate(tasks):
        pred, target = torch.cat(predictions[k]), torch.cat(targets[k])
        results[metric_key(task.name, "loss")] = float(task.loss(pred, target))
        for metric_name, metric in task.metrics.items():
            results[metric_key(task.name, metric_name)] = float(metric(pred, target))
    _require_finite_metrics(results, model, epoch, step)
    return results


def _require_finite_metrics(results: dict[str, float], model: torch.nn.Module, epoch: int, step: int) -> None:
    bad = [key for key, value in results.items() if not math.isfinite(value)]
    if not bad:
        return
    broken = [n for n, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    cause = (
        f"parameter(s) {broken} are non-finite: lower the learning rate"
        if broken
        else "check the evaluation data for NaN/inf and the metric for empty or zero denominators"
    )
    raise NonFiniteError(
        f"Evaluation after epoch {epoch} gave non-finite {bad} "
        f"({', '.join(f'{k}={results[k]}' for k in bad)}); {cause}.",
        quantity="metric",
        name=bad[0],
        epoch=epoch,
        step=step,
    )
