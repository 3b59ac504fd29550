"""The keys of a training history's epoch records: one scheme, ``<task>/<metric>``.

An epoch record (:mod:`mtl_lib.engine.history`) holds each task's mean training loss over the
epoch's batches as ``"<task>/train_loss"`` and, when evaluation data is given, each task's
evaluation loss and metrics as ``"<task>/loss"``, ``"<task>/<metric>"``. Every ``/`` key is
therefore task first, metric second; the metric says which data it was measured on
(:func:`split_of`: ``"train"`` for ``train_loss``, ``"eval"`` otherwise).

Records written before this scheme carried the training loss as ``"train_loss/<task>"``;
:func:`parse_key` reads both, so saved runs stay readable. It lives in ``core`` because loss
weightings (DWA, STCH) read the epoch record too.
"""

from __future__ import annotations

#: The metric name of a task's mean training loss over an epoch.
TRAIN_LOSS = "train_loss"
_LEGACY_TRAIN_PREFIX = "train_loss/"


def train_loss_key(task: str) -> str:
    """``"<task>/train_loss"``: a task's mean training loss over an epoch."""
    return f"{task}/{TRAIN_LOSS}"


def metric_key(task: str, metric: str) -> str:
    """``"<task>/<metric>"``: a task's evaluation metric (``"loss"`` for its evaluation loss)."""
    return f"{task}/{metric}"


def parse_key(key: str) -> tuple[str, str] | None:
    """``(task, metric)`` of a record key, or ``None`` for a key that is not a metric
    (``epoch``, ``phase``, ...). Reads the legacy ``"train_loss/<task>"`` as ``(task,
    "train_loss")``."""
    if "/" not in key:
        return None
    if key.startswith(_LEGACY_TRAIN_PREFIX):
        return key[len(_LEGACY_TRAIN_PREFIX) :], TRAIN_LOSS
    task, metric = key.rsplit("/", 1)
    return task, metric


def split_of(metric: str) -> str:
    """``"train"`` for the training loss (averaged over the epoch's training batches), ``"eval"``
    for every metric measured on the evaluation data after the epoch."""
    return "train" if metric == TRAIN_LOSS else "eval"
