"""The shared learning rates and tuned EW, chosen on the validation split from the grid runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mtl_lib.studies.multidigits.config import (
    TASKS,
)


def _mean_accuracy(record: dict[str, Any]) -> float:
    return float(np.mean([record["final"][f"{task}/acc"] for task in TASKS]))


def _grid_scores(
    grid_records: Sequence[dict[str, Any]],
) -> dict[tuple[str, float, float], list[float]]:
    scores: dict[tuple[str, float, float], list[float]] = {}
    for r in grid_records:
        config = r["config"]
        key = (
            config["optimizer"],
            config["lr"],
            config["optimizer_kwargs"].get("weight_decay", 0.0),
        )
        scores.setdefault(key, []).append(_mean_accuracy(r))
    return scores


def grid_table(grid_records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Validation accuracy (mean of the two tasks, mean over grid seeds) per optimizer,
    learning rate and weight decay (empty cells: not in the grid)."""
    rows = [
        {"optimizer": opt, "lr": lr, "weight_decay": wd, "val accuracy": float(np.mean(v))}
        for (opt, lr, wd), v in _grid_scores(grid_records).items()
    ]
    table = pd.DataFrame(rows).pivot_table(
        index=["optimizer", "lr"], columns="weight_decay", values="val accuracy", sort=False
    )
    table.columns = [f"wd={c:g}" for c in table.columns]
    return table.round(4)


def choose_base_lrs(grid_records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Each base optimizer's learning rate: the grid rate with EW's best mean validation accuracy
    without weight decay (the reproduction protocol: settings are chosen on the baseline only,
    then frozen for every method on that optimizer)."""
    best: dict[str, tuple[float, float]] = {}
    for (opt, lr, wd), values in _grid_scores(grid_records).items():
        if wd == 0.0 and (opt not in best or np.mean(values) > best[opt][1]):
            best[opt] = (lr, float(np.mean(values)))
    return {opt: lr for opt, (lr, _) in best.items()}


def choose_tuned(grid_records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Tuned EW: the Adam setting (learning rate and weight decay) with the best mean validation
    accuracy (ties: the first in grid order)."""
    scores = {k: v for k, v in _grid_scores(grid_records).items() if k[0] == "adam"}
    (_, lr, wd), _ = max(scores.items(), key=lambda item: np.mean(item[1]))
    return {"lr": lr, "weight_decay": wd}


__all__ = ["grid_table", "choose_base_lrs", "choose_tuned"]
