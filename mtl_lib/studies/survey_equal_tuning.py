"""Equal tuning budget in the survey benchmark (issue 24): every method searched like EW.

The benchmark's main table runs every method at library defaults. Here each method gets the
MultiDigits chapter's equal budget (:mod:`mtl_lib.studies.multidigits.equal_tuning`): the
profile's learning rates × the values of its one most important hyperparameter (the same
:data:`~mtl_lib.studies.multidigits.equal_tuning.KNOBS`, with the reason and source per method;
weight decay for a method without one, as for EW). The best cell on a validation split is re-run
on the test split over the benchmark's seeds; EW's own choice is tuned EW, the reference.

* **Synthetic regression** (this module): validation = :data:`SETTINGS`' ``n_val`` further
  samples of the same problem (``eval_split="val"`` of the problem, drawn apart from the training
  and test data); a cell's score is the mean over the two tasks of the task-normalized error
  (``nrmse``, the table's headline), averaged over the grid seeds, lower is better. RotoGrad's
  knob on MultiDigits (its rotation learning rate) is not an option of this problem, so here it
  gets weight decay. Δm vs tuned EW per seed is the mean over tasks of
  (err_EW − err) / err_EW × 100: positive means lower error than tuned EW.
* **Handwritten digits**: the benchmark's digit part is the MultiDigits chapter's problem at the
  same sizes, learning rate and optimizer (:func:`digits_match_the_chapter` checks it), so its
  equal-budget search is that chapter's, run into the same folder (one build trains it once).

Verdicts per method reuse the MultiDigits rules: "better"/"worse"/"no detectable difference"
against 0, and "matched" when the whole 95 % interval lies below the 2 % margin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mtl_lib.experiments import RunConfig
from mtl_lib.metrics.stats import format_mean_ci
from mtl_lib.studies._profiles import per_profile
from mtl_lib.studies.multidigits import equal_tuning as md_equal
from mtl_lib.studies.multidigits.tables import MATCH_MARGIN, match_verdict, verdict
from mtl_lib.studies.survey import METHODS
from mtl_lib.studies.survey import Method as SurveyMethod

#: Per profile: the learning rates of the search (around the benchmark's RMSProp 1e-3), the seeds
#: each cell is scored over, and the validation samples.
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {"lr": (1e-3,), "grid_seeds": (0,), "n_val": 128},
    "quick": {"lr": (3e-4, 1e-3, 3e-3), "grid_seeds": (0, 1), "n_val": 1000},  # one seed chose by noise
    "paper": {"lr": (3e-4, 1e-3, 3e-3), "grid_seeds": (0, 1, 2), "n_val": 2000},
}
settings = per_profile(SETTINGS)
TUNED_EW = "EW (tuned)"
TASKS = ("A", "B")
METRIC = "nrmse"


def knob(entry: SurveyMethod) -> md_equal.Knob:
    """The hyperparameter ``entry`` is tuned on in the synthetic part (see the module docstring)."""
    chosen = md_equal.KNOBS.get(entry.key, md_equal.WEIGHT_DECAY)
    return md_equal.WEIGHT_DECAY if chosen.target == "rotation_fraction" else chosen


def _label(entry: SurveyMethod) -> str:
    return "RotoGrad" if entry.key == "rotograd" else entry.label


def _test_label(entry: SurveyMethod) -> str:
    return TUNED_EW if entry.key == "ew" else _label(entry)


def _cell_label(entry: SurveyMethod, lr: float, value: Any) -> str:
    return f"{_label(entry)} lr={lr:g} {knob(entry).name}={value}"


def _config(profile: str, entry: SurveyMethod, lr: float, value: Any, seed: int, device: str, eval_split: str,
            label: str) -> RunConfig:  # fmt: skip
    from mtl_lib.studies.survey_benchmark import synthetic_config

    k = knob(entry)
    own = settings(profile)
    extra = {"n_val": own["n_val"], "eval_split": eval_split}
    if k.target == "weight_decay":
        return synthetic_config(profile, entry, seed, device, lr=lr, weight_decay=value, label=label, extra=extra)
    kwargs = dict(entry.trainer_kwargs)
    kwargs[k.target] = {**kwargs.get(k.target, {}), k.name: value}
    changed = SurveyMethod(entry.key, entry.label, entry.part, kwargs, entry.toy_kwargs)
    return synthetic_config(profile, changed, seed, device, lr=lr, label=label, extra=extra)


def knob_table(profile: str) -> pd.DataFrame:
    """One row per method: the tuned hyperparameter, its values and the learning rates at
    ``profile``, and why this one."""
    own = settings(profile)
    rows = [{"method": _label(m), "hyperparameter": knob(m).name, "values": list(knob(m).values(profile)),
             "learning rates": list(own["lr"]), "why this one": knob(m).why} for m in METHODS]  # fmt: skip
    return pd.DataFrame(rows).set_index("method")


def grid_configs(profile: str, device: str = "auto") -> list[RunConfig]:
    """The search on the validation samples: every method × learning rate × knob value × grid seed."""
    own = settings(profile)
    return [
        _config(profile, m, lr, value, seed, device, "val", _cell_label(m, lr, value))
        for m in METHODS
        for lr in own["lr"]
        for value in knob(m).values(profile)
        for seed in own["grid_seeds"]
    ]


@dataclass(frozen=True)
class Choice:
    """A method's chosen cell and its mean validation error (over the grid seeds)."""

    lr: float
    value: Any
    val_error: float


def _error(record: dict[str, Any]) -> float:
    return float(np.mean([record["final"][f"{t}/{METRIC}"] for t in TASKS]))


def choose(profile: str, grid_records: Sequence[dict[str, Any]]) -> dict[str, Choice]:
    """Per method label, the cell with the lowest mean validation error (ties: the first cell)."""
    scores: dict[str, list[float]] = {}
    for record in grid_records:
        scores.setdefault(record["method"], []).append(_error(record))
    out: dict[str, Choice] = {}
    for m in METHODS:
        cells = [(lr, value) for lr in settings(profile)["lr"] for value in knob(m).values(profile)]
        scored = [Choice(lr, v, float(np.mean(scores[_cell_label(m, lr, v)])))
                  for lr, v in cells if _cell_label(m, lr, v) in scores]  # fmt: skip
        if scored:
            out[_label(m)] = min(scored, key=lambda c: c.val_error)  # min keeps the first of ties
    return out


def final_configs(profile: str, choices: dict[str, Choice], device: str = "auto") -> list[RunConfig]:
    """Every method at its chosen cell on the test split, over the benchmark's seeds."""
    from mtl_lib.studies.survey_benchmark import settings as benchmark_settings

    return [
        _config(profile, m, choices[_label(m)].lr, choices[_label(m)].value, seed, device, "test", _test_label(m))
        for m in METHODS
        if _label(m) in choices
        for seed in benchmark_settings(profile)["seeds"]
    ]


def _errors(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    rows = [{"method": r["method"], "seed": r["seed"], **{t: r["final"][f"{t}/{METRIC}"] for t in TASKS}}
            for r in records if r["config"]["problem"] == "synthetic_regression"]  # fmt: skip
    return pd.DataFrame(rows)


def delta_m(records: Sequence[dict[str, Any]], reference_records: Sequence[dict[str, Any]] | None = None,
            rename: dict[str, str] | None = None) -> dict[str, list[float]]:  # fmt: skip
    """Per method, Δm (%) vs tuned EW per seed both have: mean over tasks of (err_EW − err)/err_EW
    × 100 (positive: lower error). ``reference_records`` holds tuned EW when ``records`` does not
    (e.g. the benchmark's default runs); ``rename`` maps their labels to this module's."""
    frame = _errors(list(records)).replace({"method": rename or {}})
    ref = _errors(list(reference_records if reference_records is not None else records))
    ref = ref[ref["method"] == TUNED_EW].set_index("seed")
    out: dict[str, list[float]] = {}
    for method, group in frame.groupby("method", sort=False):
        if method == TUNED_EW:
            continue
        mine = group.set_index("seed")
        seeds = sorted(set(mine.index) & set(ref.index))
        out[str(method)] = [
            100 * float(np.mean([(ref.at[s, t] - mine.at[s, t]) / ref.at[s, t] for t in TASKS])) for s in seeds
        ]
    return out


def ranks(records: Sequence[dict[str, Any]]) -> pd.Series:
    """Mean over seeds of each method's rank by mean normalized error (1 = lowest)."""
    frame = _errors(records)
    frame["error"] = frame[list(TASKS)].mean(axis=1)
    table = frame.pivot_table(index="method", columns="seed", values="error", sort=False)
    return table.rank(ascending=True, method="min").mean(axis=1)


def summary(test_records: Sequence[dict[str, Any]], choices: dict[str, Choice], profile: str,
            before: dict[str, list[float]] | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per method: its knob, the chosen cell, Δm vs tuned EW (mean ± 95 % CI over seeds)
    with its verdicts, the mean rank, and (``before``) Δm vs tuned EW at the defaults."""
    values, rank = delta_m(test_records), ranks(test_records)
    rows = []
    for m in METHODS:
        label, test_label = _label(m), _test_label(m)
        if label not in choices or test_label not in rank.index:
            continue
        choice, k = choices[label], knob(m)
        delta = values.get(test_label, [])
        row: dict[str, Any] = {"method": test_label, "hyperparameter": k.name, "default": k.quick[0],
                               "chosen lr": choice.lr, "chosen value": choice.value,
                               "val error": round(choice.val_error, 4)}  # fmt: skip
        if before is not None:
            row["Δm % before (defaults)"] = format_mean_ci(before[label], 2, signed=True) if before.get(label) else ""
        row["Δm % vs tuned EW"] = format_mean_ci(delta, 2, signed=True) if delta else "(reference)"
        row["vs tuned EW"] = verdict(delta) if delta else "(reference)"
        row[f"matched (margin {MATCH_MARGIN:g} %)"] = match_verdict(delta) if delta else "(reference)"
        row["mean rank"] = round(float(rank.loc[test_label]), 1)
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def counts(values: dict[str, list[float]]) -> dict[str, int]:
    """How many methods each verdict of :func:`match_verdict` covers."""
    out = {"matched": 0, "better": 0, "undecided": 0}
    for delta in values.values():
        out[match_verdict(delta)] += 1
    return out


def digits_match_the_chapter(profile: str) -> bool:
    """Whether the benchmark's digit part is the MultiDigits chapter's problem at ``profile``
    (sizes, epochs, batch size, learning rate), so that chapter's equal-budget search applies."""
    from mtl_lib.studies.multidigits import config as md_config
    from mtl_lib.studies.survey_benchmark import MULTIDIGITS_LR
    from mtl_lib.studies.survey_benchmark import settings as benchmark_settings

    ours, theirs = benchmark_settings(profile).get("multidigits"), md_config.settings(profile)
    if ours is None:
        return False
    same_data = all(ours[k] == theirs["data"][k] for k in ("n_train", "n_val", "n_test"))
    return bool(same_data and ours["epochs"] == theirs["epochs"] and ours["batch_size"] == theirs["batch_size"]
                and MULTIDIGITS_LR[profile] == theirs["lr"])  # fmt: skip


def equal_runs(profile: str) -> int:
    """Runs of the synthetic part: the search and the test runs."""
    from mtl_lib.studies.survey_benchmark import settings as benchmark_settings

    own = settings(profile)
    search = sum(len(own["lr"]) * len(knob(m).values(profile)) for m in METHODS) * len(own["grid_seeds"])
    return search + len(METHODS) * len(benchmark_settings(profile)["seeds"])


__all__ = [
    "SETTINGS", "TUNED_EW", "Choice", "choose", "counts", "delta_m", "digits_match_the_chapter", "equal_runs",
    "final_configs", "grid_configs", "knob", "knob_table", "ranks", "settings", "summary",
]  # fmt: skip
