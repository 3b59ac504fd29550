"""Calibrating the open settings of AdaTask's synthetic study on its baseline, EqualWeight.

The paper (Yang et al., AAAI 2023) gives the data-generating process (Eq. 1), the model family
(a 4-layer ELU network, shared bottom) and the optimizer (RMSProp), but not: the input
distribution, whether N(m, s) gives a variance or a standard deviation, how the targets are
scaled, which "task-normalized RMSE" it reports (it cites GradNorm), the widths, the learning
rate, RMSProp's decay, the batch size, the sample size or the number of epochs.

The reproduction protocol of this book is: choose those open settings on the *baseline only*,
so that EqualWeight's per-task error matches the paper's EqualWeight row of Table 2
(A 0.2172, B 0.0113), freeze the winner, and only then run every other method once at the
frozen setting. This module is the first half of that protocol:

* :data:`STAGES` is the search, run stage by stage (each stage varies some open choices and
  keeps the best of the previous stages for the rest: a coordinate search, not a full grid);
* every candidate is an EqualWeight + RMSProp :class:`RunConfig`, trained through the ordinary
  sweep so that each run is a results file;
* :func:`objective` scores a run by the distance, in log space, between its per-task errors
  and the paper's EW row, at every evaluated epoch (training is deterministic with a fixed
  learning rate, so the state after ``e`` epochs of a longer run *is* an ``e``-epoch run) and
  under both readings of the metric; it refuses any record that is not an EqualWeight run;
* :func:`freeze` writes the winning setting to :data:`FROZEN_PATH`, which the ``paper`` profile
  of :mod:`mtl_lib.studies.adatask_synthetic` reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mtl_lib.core.profiles import select
from mtl_lib.experiments import RunConfig, sweep

PROBLEM = "synthetic_regression"
#: Table 2 of the paper, EqualWeight row: task-normalized RMSE (lower is better).
TARGET = {"A": 0.2172, "B": 0.0113}
#: The two readings of "task-normalized RMSE": RMSE over the std of the task's targets
#: (GradNorm normalises each task's loss by the scale of its outputs) and RMSE over the
#: targets' root mean square (mean included). Both are computed in every run.
METRICS = {"std": "nrmse", "rms": "nrmse_rms"}
FROZEN_PATH = Path(__file__).with_name("adatask_frozen_setting.json")

#: The base candidate; every stage overrides some keys.
BASE: dict[str, Any] = {
    "input_dist": "uniform",
    "spread": "variance",
    "target_scaling": "pooled",
    "width": 100,
    "lr": 1e-3,
    "alpha": 0.99,
    "batch_size": 100,
    "n_train": 10_000,
}

#: What each stage varies (values tried), in order. Kept small on purpose: 2 CPU cores.
STAGES: list[dict[str, list[Any]]] = [
    {"input_dist": ["uniform", "normal"], "spread": ["variance", "std"], "width": [100, 400]},
    {"lr": [1e-4, 3e-4, 1e-3, 3e-3], "alpha": [0.9, 0.99]},
    {"target_scaling": ["pooled", "per_task"], "batch_size": [100, 256]},
]

#: Size of the search per profile (epochs of each candidate run, test-set size, seeds).
SEARCH_SIZE: dict[str, dict[str, Any]] = {
    "smoke": {"epochs": 2, "n_test": 256, "n_train": 512, "seeds": (0,), "stages": 1},
    "quick": {"epochs": 30, "n_test": 2_000, "n_train": None, "seeds": (0,), "stages": 3},
    "paper": {"epochs": 60, "n_test": 5_000, "n_train": None, "seeds": (0, 1), "stages": 3},
}


class NotABaselineRunError(ValueError):
    """A record that is not an EqualWeight run was given to the calibration objective."""


def candidate_config(setting: dict[str, Any], *, epochs: int, n_test: int, seed: int) -> RunConfig:
    """The EqualWeight + RMSProp run of one candidate setting."""
    return RunConfig(
        problem=PROBLEM,
        weighting="ew",
        aggregator=None,
        optimizer="rmsprop",
        lr=float(setting["lr"]),
        epochs=epochs,
        batch_size=int(setting["batch_size"]),
        seed=seed,
        problem_kwargs={
            "n_train": int(setting["n_train"]),
            "n_test": n_test,
            "input_dist": setting["input_dist"],
            "spread": setting["spread"],
            "target_scaling": setting["target_scaling"],
            "hidden": [int(setting["width"])] * 4,
        },
        optimizer_kwargs={"alpha": float(setting["alpha"])},
        label="EqualWeight (calibration)",
    )


def _check_baseline(record: dict[str, Any]) -> None:
    config = record.get("config", {})
    if (
        config.get("weighting") != "ew"
        or config.get("aggregator") is not None
        or config.get("optimizer") != "rmsprop"
        or config.get("problem") != PROBLEM
    ):
        raise NotABaselineRunError(
            f"run {record.get('run_id')!r} is not an EqualWeight + RMSProp run on {PROBLEM} "
            f"(weighting={config.get('weighting')!r}, aggregator={config.get('aggregator')!r}, "
            f"optimizer={config.get('optimizer')!r}); the calibration may only look at the baseline"
        )


def distance(a: float, b: float) -> float:
    """How far (A, B) errors are from the paper's EW row: |log(A/A*)| + |log(B/B*)|."""
    if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(math.log(a / TARGET["A"])) + abs(math.log(b / TARGET["B"]))


def objective(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Score every (run, epoch, metric reading) of EqualWeight records; raises
    :class:`NotABaselineRunError` if any record is not an EqualWeight run.

    Rows: setting key, epoch, metric reading, mean A and B errors over the setting's seeds,
    their ratio and the distance to the paper's row (lower is better)."""
    rows = []
    for record in records:
        _check_baseline(record)
        config = record["config"]
        key = setting_key(config)
        for epoch in record["history"]:
            for reading, metric in METRICS.items():
                a, b = epoch.get(f"A/{metric}"), epoch.get(f"B/{metric}")
                if a is None or b is None:
                    continue
                rows.append(
                    {"setting": key, "seed": record["seed"], "epoch": epoch["epoch"],
                     "metric": reading, "A": a, "B": b}
                )  # fmt: skip
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    grouped = frame.groupby(["setting", "epoch", "metric"], as_index=False)[["A", "B"]].mean()
    grouped["A/B"] = grouped["A"] / grouped["B"]
    grouped["distance"] = [distance(a, b) for a, b in zip(grouped["A"], grouped["B"])]
    return grouped.sort_values("distance").reset_index(drop=True)


def setting_key(config: dict[str, Any]) -> str:
    """A readable, unique name for a run's open choices (not its seed or epochs)."""
    p = config["problem_kwargs"]
    return (
        f"x~{p['input_dist']}, N(m,s) s={p['spread']}, scale={p['target_scaling']}, "
        f"width={p['hidden'][0]}, n={p['n_train']}, lr={config['lr']:g}, "
        f"alpha={config['optimizer_kwargs'].get('alpha', 0.99):g}, batch={config['batch_size']}"
    )


@dataclass
class Calibration:
    """The search's runs, its score table and the winning setting."""

    records: list[dict[str, Any]]
    table: pd.DataFrame
    winner: dict[str, Any]
    stages: list[dict[str, Any]] = field(default_factory=list)

    def winner_row(self) -> pd.Series:
        return self.table.iloc[0]


def _setting_of(config: dict[str, Any]) -> dict[str, Any]:
    p = config["problem_kwargs"]
    return {
        "input_dist": p["input_dist"],
        "spread": p["spread"],
        "target_scaling": p["target_scaling"],
        "width": p["hidden"][0],
        "lr": config["lr"],
        "alpha": config["optimizer_kwargs"].get("alpha", 0.99),
        "batch_size": config["batch_size"],
        "n_train": p["n_train"],
    }


def _grid(base: dict[str, Any], stage: dict[str, list[Any]]) -> list[dict[str, Any]]:
    settings = [dict(base)]
    for key, values in stage.items():
        settings = [{**s, key: v} for s in settings for v in values]
    return settings


def search_stages(profile: str) -> Generator[list[RunConfig], list[dict[str, Any]], Calibration]:
    """The staged search at ``profile``'s size as a generator: it yields each stage's EqualWeight
    configs, is sent their records, and returns the :class:`Calibration` (each stage's candidates
    vary one group of choices around the previous stage's winner)."""
    size = select(profile, SEARCH_SIZE)
    base = dict(BASE)
    if size["n_train"] is not None:
        base["n_train"] = size["n_train"]
    all_records: list[dict[str, Any]] = []
    stage_log = []
    best_setting = base
    for index, stage in enumerate(STAGES[: size["stages"]]):
        candidates = _grid(best_setting, stage)
        configs = [
            candidate_config(s, epochs=size["epochs"], n_test=size["n_test"], seed=seed)
            for s in candidates
            for seed in size["seeds"]
        ]
        records = yield configs
        all_records += [r for r in records if r["run_id"] not in {x["run_id"] for x in all_records}]
        scored = objective(all_records)
        best_key = scored.iloc[0]["setting"]
        best_record = next(r for r in all_records if setting_key(r["config"]) == best_key)
        best_setting = _setting_of(best_record["config"])
        stage_log.append({"stage": index + 1, "varied": sorted(stage), "runs": len(configs),
                          "best": best_key, "distance": float(scored.iloc[0]["distance"])})  # fmt: skip
    table = objective(all_records)
    top = table.iloc[0]
    winner = {**best_setting, "epochs": int(top["epoch"]), "metric": str(top["metric"])}
    return Calibration(all_records, table, winner, stage_log)


def run_stages(stages: Generator[list[RunConfig], list[dict[str, Any]], Any], results_dir: str | Path,
               *, progress: bool = True) -> Any:  # fmt: skip
    """Drive a search generator: sweep each stage's configs into ``results_dir``; its return value."""
    try:
        configs = next(stages)
        while True:
            configs = stages.send(sweep(configs, results_dir, progress=progress))
    except StopIteration as done:
        return done.value


def calibrate(profile: str, results_dir: str | Path, *, progress: bool = True) -> Calibration:
    """Run the staged search at ``profile``'s size; every run is an EqualWeight run saved as a
    results file under ``results_dir`` (a re-run resumes). Returns the table and the winner."""
    return run_stages(search_stages(profile), results_dir, progress=progress)


def freeze(calibration: Calibration, path: str | Path = FROZEN_PATH) -> Path:
    """Write the winning setting (and how it was found) to ``path``."""
    top = calibration.winner_row()
    payload = {
        "setting": calibration.winner,
        "ew_at_winner": {"A": float(top["A"]), "B": float(top["B"]), "A/B": float(top["A/B"])},
        "paper_ew": TARGET,
        "distance": float(top["distance"]),
        "runs": len(calibration.records),
        "stages": calibration.stages,
    }
    path = Path(path)
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return path


def frozen_setting(path: str | Path = FROZEN_PATH) -> dict[str, Any]:
    """The frozen setting, as :func:`freeze` wrote it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no frozen calibration at {path}; run mtl_lib.studies.adatask_calibration.calibrate "
            "and freeze (notebooks/calibration.md does both)"
        )
    return json.loads(path.read_text())["setting"]


def summary_table(calibration: Calibration, top: int = 10) -> pd.DataFrame:
    """The best ``top`` (setting, epoch, metric) rows beside the paper's EW row."""
    table = calibration.table.head(top).copy()
    table.insert(0, "rank", range(1, len(table) + 1))
    return table
