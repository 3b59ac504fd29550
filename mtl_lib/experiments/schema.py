"""The schema every run record is read through: the fields a reader relies on, their types,
and finite metrics in a finished run.

A record is JSON, so anything may be in it — a hand edit, another program, a disk fault that
left valid JSON. :func:`record_problem` names the first thing wrong with a record (``None``
when it is sound); :func:`~mtl_lib.experiments.store.inspect_record` then treats it like a
damaged file: the sweep sets it aside and redoes its run, the tables never see it.

Required of every record: ``config`` (an object that builds a
:class:`~mtl_lib.experiments.config.RunConfig`), ``run_id`` (a string equal to that config's
id: a record copied under another run's name is caught), ``seed`` (an integer equal to the
config's), ``method`` (a string), ``history`` (a list of epoch objects, each with an integer
``epoch``). Every metric (a key with a ``/``, as ``A/loss`` or ``train_loss/A``) in the history
and in ``final`` is a number, and in a finished run a finite one (JSON has no infinity, but
``1e400`` reads as one). Records written before ``status`` existed count as finished.
Optional: ``task_split`` (:attr:`Trainer.task_split <mtl_lib.engine.trainer.Trainer.task_split>`,
an object with the strings ``task_split``, one of :data:`TASK_SPLITS`, and ``reason``); records
written before it existed have none and are read as they are.
"""

from __future__ import annotations

import math
from typing import Any

from mtl_lib.experiments.config import RunConfig

STATUSES = ("finished", "failed")
#: The values of a record's ``task_split["task_split"]``: split at the heads, or not.
TASK_SPLITS = ("heads", "none")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _identity_problem(record: dict[str, Any]) -> str | None:
    config = record.get("config")
    if not isinstance(config, dict):
        return "no 'config' object"
    try:
        expected = RunConfig.from_dict(config)
        expected_id = expected.run_id()
    except (TypeError, ValueError) as error:
        return f"its 'config' is not a run config ({type(error).__name__}: {error})"
    run_id = record.get("run_id")
    if not isinstance(run_id, str):
        return f"'run_id' missing or not a string (got {run_id!r})"
    if run_id != expected_id:
        return f"'run_id' {run_id!r} is not its config's id {expected_id!r} (copied from another run?)"
    seed = record.get("seed")
    if not _is_int(seed) or seed != expected.seed:
        return f"'seed' must be the config's integer seed {expected.seed}, got {seed!r}"
    if not isinstance(record.get("method"), str):
        return f"'method' missing or not a string (got {record.get('method')!r})"
    return None


def _metrics_problem(where: str, values: dict[str, Any], finite: bool) -> str | None:
    for key, value in values.items():
        if "/" not in key:
            continue
        if not _is_number(value):
            return f"{where}: metric {key!r} is not a number (got {value!r})"
        if finite and not math.isfinite(value):
            return f"{where}: metric {key!r} is {value!r} in a finished run"
    return None


def _history_problem(history: Any, finished: bool) -> str | None:
    if history is None:
        return "no training history ('history' missing)"
    if not isinstance(history, list):
        return f"'history' is not a list (got {type(history).__name__})"
    if finished and not history:
        return "no training history"
    for index, epoch in enumerate(history):
        if not isinstance(epoch, dict):
            return f"history[{index}] is not an epoch object (got {epoch!r})"
        if not _is_int(epoch.get("epoch")):
            return f"history[{index}] has no integer 'epoch' (got {epoch.get('epoch')!r})"
        problem = _metrics_problem(f"history[{index}]", epoch, finite=finished)
        if problem:
            return problem
    return None


def _outcome_problem(record: dict[str, Any], status: str) -> str | None:
    if status == "failed":
        return None if isinstance(record.get("error"), dict) else "a failed record without its 'error'"
    final = record.get("final")
    if not isinstance(final, dict) or not final:
        return "no final metrics ('final' missing or empty)"
    return _metrics_problem("final", final, finite=True)


def _task_split_problem(record: dict[str, Any]) -> str | None:
    if "task_split" not in record:
        return None  # written before runs recorded it
    split = record["task_split"]
    if not isinstance(split, dict) or split.get("task_split") not in TASK_SPLITS:
        return f"'task_split' must be an object whose 'task_split' is one of {TASK_SPLITS}, got {split!r}"
    if not isinstance(split.get("reason"), str):
        return f"'task_split' has no string 'reason' (got {split.get('reason')!r})"
    return None


def record_problem(record: Any) -> str | None:
    """What is wrong with ``record`` (one line), or ``None`` when it satisfies the schema."""
    if not isinstance(record, dict):
        return f"not a JSON object but a {type(record).__name__}"
    status = record.get("status", "finished")
    if status not in STATUSES:
        return f"unknown status {status!r}"
    for check in (
        lambda: _identity_problem(record),
        lambda: _outcome_problem(record, status),
        lambda: _history_problem(record.get("history"), finished=status == "finished"),
        lambda: _task_split_problem(record),
    ):
        problem = check()
        if problem:
            return problem
    return None
