"""Calibrating the open settings of AdaTask's synthetic study on its baseline, EqualWeight.

The paper (Yang et al., AAAI 2023) gives the data-generating process (Eq. 1), the model family
(a 4-layer ELU network, shared bottom) and the optimizer (RMSProp), but not: the input
distribution, whether N(m, s) gives a variance or a standard deviation (for the matrices and
for the noise), how the targets are scaled, which "task-normalized RMSE" it reports (it cites
GradNorm), whether training draws fresh samples or reuses a fixed set, the widths, the learning
rate, RMSProp's decay, the batch size, the sample size or the training budget. It says its data
follow GradNorm's toy example (Chen et al., ICML 2018, arXiv 1711.02257, §4), whose public ports
fix some of these (the ports read are named in :mod:`mtl_lib.data.synthetic`): inputs
U(-1, 1) divided by their L2 norm and fresh samples every step (brianlan/pytorch-grad-norm), or
U(0, 1) on a fixed set (LucasBoTang/GradNorm, jpcastillog/GradNorm-Keras); N(m, s) as a std in
all of them. Each is a candidate here.

The metric. GradNorm's "task-normalized test-time loss" (§4) is each task's loss relative to
its value at initialisation, L_i(t)/L_i(0) with L the squared loss. AdaTask reports
"Task-Normalized RMSE, following GradNorm", so the definition its citation points to is that
ratio: the loss ratio itself (``loss_ratio``) or the same normalisation of the RMSE,
RMSE(t)/RMSE(0) = sqrt(L(t)/L(0)) (``rmse_ratio``). Both are :data:`ELIGIBLE_METRICS`; the
search scores all four readings of :data:`METRICS` (RMSE over the targets' std or RMS too, the
book's earlier readings) so that the page can show how close each comes, but only an eligible
reading can win. Within a task the two ratios order methods identically (one is the square of
the other); they differ on averages over tasks and on absolute values.

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
  learning rate, so the state after ``e`` epochs of a longer run *is* an ``e``-epoch run: the
  budget in steps is searched along one run) and under every reading of the metric; it refuses
  any record that is not an EqualWeight run;
* :func:`freeze` writes the winning setting to :data:`FROZEN_PATH`, which the ``paper`` profile
  of :mod:`mtl_lib.studies.adatask_regime` reads.
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
from mtl_lib.problems.synthetic import TASK_NORMALIZATIONS

PROBLEM = "synthetic_regression"
#: Table 2 of the paper, EqualWeight row: task-normalized RMSE (lower is better).
TARGET = {"A": 0.2172, "B": 0.0113}
#: Every reading of "task-normalized RMSE" (definition → record key; see
#: :mod:`mtl_lib.problems.synthetic`), all computed in every run and all scored.
METRICS = dict(TASK_NORMALIZATIONS)
#: The readings that follow the paper's citation (GradNorm §4: L_i(t)/L_i(0)); only these can win.
ELIGIBLE_METRICS = ("loss_ratio", "rmse_ratio")
FROZEN_PATH = Path(__file__).with_name("adatask_frozen_setting.json")

#: The base candidate (the first search's frozen setting at width 100); every stage overrides some keys.
BASE: dict[str, Any] = {
    "input_dist": "uniform",
    "spread": "variance",
    "noise_spread": "variance",
    "sampling": "fixed",
    "target_scaling": "pooled",
    "width": 100,
    "lr": 3e-4,
    "alpha": 0.99,
    "batch_size": 100,
    "n_train": 10_000,
}

#: What each stage varies (values tried), in order: the data conventions first (GradNorm's toy
#: ports and ours), then the noise reading and the width, then RMSProp, then the batch and
#: the target scaling. Kept small on purpose: 2 CPU cores.
STAGES: list[dict[str, list[Any]]] = [
    {
        "input_dist": ["uniform", "normal", "uniform_unit_norm", "uniform01"],
        "spread": ["variance", "std"],
        "sampling": ["fixed", "fresh"],
    },
    {"noise_spread": ["variance", "std"], "width": [100, 200, 400]},
    {"lr": [1e-4, 3e-4, 1e-3], "alpha": [0.9, 0.99]},
    {"target_scaling": ["pooled", "per_task"], "batch_size": [100, 200]},
]

#: Size of the search per profile (epochs of each candidate run, test-set size, seeds). An epoch
#: is ceil(n_train / batch) steps (fresh samples or a pass over the fixed set); at ``quick``
#: 40 epochs are 4,000 steps at batch 100, the most the ``paper`` re-run of 13 methods × 10
#: seeds can afford on this CPU (GradNorm's toy ports train 25,000 steps).
SEARCH_SIZE: dict[str, dict[str, Any]] = {
    "smoke": {"epochs": 2, "n_test": 256, "n_train": 512, "seeds": (0,), "stages": 1},
    "quick": {"epochs": 40, "n_test": 2_000, "n_train": None, "seeds": (0,), "stages": 4},
    "paper": {"epochs": 60, "n_test": 5_000, "n_train": None, "seeds": (0, 1), "stages": 4},
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
            "noise_spread": setting["noise_spread"],
            "sampling": setting["sampling"],
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

    Rows: setting key, epoch, steps, metric reading, whether it is eligible to win, mean A and B
    errors over the setting's seeds, their ratio and the distance to the paper's row; eligible
    rows first, each group by distance (lower is better)."""
    rows = []
    for record in records:
        _check_baseline(record)
        config = record["config"]
        key = setting_key(config)
        steps_per_epoch = -(-int(config["problem_kwargs"]["n_train"]) // int(config["batch_size"]))
        for epoch in record["history"]:
            for reading, metric in METRICS.items():
                a, b = epoch.get(f"A/{metric}"), epoch.get(f"B/{metric}")
                if a is None or b is None:
                    continue
                rows.append(
                    {"setting": key, "seed": record["seed"], "epoch": epoch["epoch"],
                     "steps": epoch["epoch"] * steps_per_epoch, "metric": reading, "A": a, "B": b}
                )  # fmt: skip
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    grouped = frame.groupby(["setting", "epoch", "steps", "metric"], as_index=False)[["A", "B"]].mean()
    grouped["A/B"] = grouped["A"] / grouped["B"]
    grouped["distance"] = [distance(a, b) for a, b in zip(grouped["A"], grouped["B"])]
    grouped.insert(4, "eligible", grouped["metric"].isin(ELIGIBLE_METRICS))
    return grouped.sort_values(["eligible", "distance"], ascending=[False, True]).reset_index(drop=True)


def setting_key(config: dict[str, Any]) -> str:
    """A readable, unique name for a run's open choices (not its seed or epochs)."""
    p = config["problem_kwargs"]
    return (
        f"x~{p['input_dist']}, N(m,s) s={p['spread']}, noise s={p.get('noise_spread', 'variance')}, "
        f"{p.get('sampling', 'fixed')} samples, scale={p['target_scaling']}, "
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
    #: Setting key → the stage (1-based) that first ran it.
    stage_of: dict[str, int] = field(default_factory=dict)

    def winner_row(self) -> pd.Series:
        """The best eligible (setting, epoch, reading) row: the frozen one."""
        return self.table.iloc[0]


def _setting_of(config: dict[str, Any]) -> dict[str, Any]:
    p = config["problem_kwargs"]
    return {
        "input_dist": p["input_dist"],
        "spread": p["spread"],
        "noise_spread": p.get("noise_spread", "variance"),
        "sampling": p.get("sampling", "fixed"),
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
    stage_log: list[dict[str, Any]] = []
    stage_of: dict[str, int] = {}
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
        for record in records:
            stage_of.setdefault(setting_key(record["config"]), index + 1)
        scored = objective(all_records)
        best_key = scored.iloc[0]["setting"]
        best_record = next(r for r in all_records if setting_key(r["config"]) == best_key)
        best_setting = _setting_of(best_record["config"])
        stage_log.append({"stage": index + 1, "varied": sorted(stage), "runs": len(configs),
                          "best": best_key, "distance": float(scored.iloc[0]["distance"])})  # fmt: skip
    table = objective(all_records)
    top = table.iloc[0]
    winner = {**best_setting, "epochs": int(top["epoch"]), "metric": str(top["metric"])}
    return Calibration(all_records, table, winner, stage_log, stage_of)


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
    """Write the winning setting (and how it was found) to ``path``: EqualWeight's errors at it
    under every reading of the metric, and each stage's best."""
    top = calibration.winner_row()
    readings = readings_at_winner(calibration)
    payload = {
        "setting": calibration.winner,
        "ew_at_winner": {"A": float(top["A"]), "B": float(top["B"]), "A/B": float(top["A/B"])},
        "ew_at_winner_every_reading": {
            row["metric"]: {"A": float(row["A"]), "B": float(row["B"]), "distance": float(row["distance"])}
            for _, row in readings.iterrows()
        },
        "steps": int(top["steps"]),
        "paper_ew": TARGET,
        "distance": float(top["distance"]),
        "runs": len(calibration.records),
        "stages": calibration.stages,
    }
    path = Path(path)
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return path


def frozen_setting(path: str | Path | None = None) -> dict[str, Any]:
    """The frozen setting, as :func:`freeze` wrote it (default: :data:`FROZEN_PATH`, read at call time)."""
    path = Path(FROZEN_PATH if path is None else path)
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


def readings_at_winner(calibration: Calibration) -> pd.DataFrame:
    """The winning setting at the winning checkpoint under every reading of the metric."""
    top = calibration.winner_row()
    table = calibration.table
    rows = table[(table["setting"] == top["setting"]) & (table["epoch"] == top["epoch"])]
    return rows.set_index("metric").loc[list(METRICS)].reset_index()


def best_per_reading(calibration: Calibration) -> pd.DataFrame:
    """How close each reading of the metric comes at its own best (setting, checkpoint): the
    runner-up readings beside the winner's."""
    best = calibration.table.sort_values("distance").groupby("metric", sort=False).head(1)
    return best.set_index("metric").loc[list(METRICS)].reset_index()


def candidates_table(calibration: Calibration) -> pd.DataFrame:
    """One row per searched setting: the stage that ran it, its open choices and its best
    eligible checkpoint (steps, reading, A, B, distance), best first."""
    eligible = calibration.table[calibration.table["eligible"]]
    best = eligible.sort_values("distance").groupby("setting", sort=False).head(1)
    choices = {setting_key(r["config"]): _setting_of(r["config"]) for r in calibration.records}
    rows = [
        {"stage": calibration.stage_of.get(row["setting"], 0), **choices[row["setting"]], "steps": int(row["steps"]),
         "metric": row["metric"], "A": row["A"], "B": row["B"], "A/B": row["A/B"], "distance": row["distance"]}
        for _, row in best.iterrows()
    ]  # fmt: skip
    return pd.DataFrame(rows).sort_values(["distance"]).reset_index(drop=True)
