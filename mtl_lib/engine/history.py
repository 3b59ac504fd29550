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


def schedule(epochs: int | None, phases: Sequence[tuple[str, int]] | None) -> list[tuple[str, int]]:
    """The training schedule as ``[(phase, epochs), ...]``: ``epochs`` alone is one phase
    called ``"train"``; both given must agree."""
    if phases is None:
        if epochs is None:
            raise ValueError("give either epochs or phases")
        return [("train", epochs)]
    if epochs is not None and epochs != sum(n for _, n in phases):
        raise ValueError(f"epochs={epochs} disagrees with phases {list(phases)}")
    return list(phases)


def remaining_phases(phases: Sequence[tuple[str, int]], done: int) -> list[tuple[str, int, bool]]:
    """``(phase, epochs left, already started)`` for each phase not finished after ``done``
    epochs of the schedule (a resumed run continues a started phase without restarting it)."""
    left: list[tuple[str, int, bool]] = []
    start = 0
    for phase, n_epochs in phases:
        end = start + n_epochs
        if end > done or (n_epochs == 0 and start >= done):
            trained = max(0, done - start)
            left.append((phase, n_epochs - trained, trained > 0))
        start = end
    return left


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
