"""The trainer's history: one record per epoch, and the one place that names its keys.

An epoch record holds ``epoch``, ``phase`` (the training schedule's phase: ``"main"`` unless
named phases are given), ``steps``, ``skipped_steps``, ``train_time_s``, each task's mean
training loss ``"<task>/train_loss"`` and, when evaluation data is given, each task's
evaluation loss and metrics ``"<task>/loss"``, ``"<task>/<metric>"`` — one key scheme, task
first (:mod:`mtl_lib.core.history_keys`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mtl_lib.core.history_keys import metric_key, train_loss_key

__all__ = ["epoch_record", "metric_key", "progress_summary", "remaining_phases", "schedule", "train_loss_key"]


def schedule(epochs: int | None, phases: Sequence[tuple[str, int]] | None) -> list[tuple[str, int]]:
    """The training schedule as ``[(phase, epochs), ...]``: ``epochs`` alone is one phase
    called ``"main"`` (not "train": a phase is a part of the schedule, and every epoch record
    has training and evaluation values alike); both given must agree."""
    if phases is None:
        if epochs is None:
            raise ValueError("give either epochs or phases")
        return [("main", epochs)]
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
