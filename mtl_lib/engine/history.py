"""The trainer's history: one record per epoch, and the one place that names its keys.

An epoch record holds ``epoch``, ``phase`` (the training schedule's phase), ``steps``,
``skipped_steps``, ``train_time_s``, each task's mean training loss (:func:`train_loss_key`)
and, when evaluation data is given, each task's evaluation loss and metrics
(:func:`metric_key`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def train_loss_key(task: str) -> str:
    """The key of a task's mean training loss over an epoch."""
    return f"train_loss/{task}"


def metric_key(task: str, metric: str) -> str:
    """The key of a task's evaluation metric (``"loss"`` for its evaluation loss)."""
    return f"{task}/{metric}"


def epoch_record(
    *,
    epoch: int,
    phase: str | None,
    steps: int,
    task_names: Sequence[str],
    mean_losses: Sequence[float],
    skipped_steps: int,
    train_time_s: float,
) -> dict[str, Any]:
    record: dict[str, Any] = {"epoch": epoch, "phase": phase, "steps": steps}
    record.update({train_loss_key(name): value for name, value in zip(task_names, mean_losses)})
    record["skipped_steps"] = skipped_steps
    record["train_time_s"] = train_time_s
    return record


def progress_summary(record: dict[str, Any], task_names: Sequence[str]) -> dict[str, str]:
    """The progress bar's postfix: each task's training loss, three significant digits."""
    return {name: f"{record[train_loss_key(name)]:.3g}" for name in task_names if train_loss_key(name) in record}
