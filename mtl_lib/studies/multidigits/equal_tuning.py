"""Equal tuning budget: every method gets the same search as tuned EW.

The chapter's main protocol tunes only EW (learning rate × weight decay on the validation split)
and runs every other method at its library defaults, which favours EW in a comparison against
"tuned EW". Careful studies (Kurin et al. 2022; Xin et al. 2022) give every method the same
budget. Here each method gets a grid of the *same size* as EW's: the profile's grid learning
rates × the values of its **one most important hyperparameter** (:data:`KNOBS`, with the reason
and source per method; a method with no hyperparameter of its own gets weight decay, as EW).
Every grid contains the method's default, so tuning cannot choose a setting that was worse on
validation than the default at the same learning rate. The best cell (mean validation accuracy
of the two tasks over the profile's ``equal_grid_seeds``) is re-run on the test split over every seed;
Δm is against tuned EW, which is EW's own choice from the same search.

The claim's rule (:func:`equal_tuning_claim`, the book's rule for "no effect" claims): a method
is *matched* by tuned EW when the whole 95 % interval of its Δm lies below :data:`MATCH_MARGIN`
(an equivalence test: it is not better than tuned EW by a margin that matters), *better* when the
whole interval lies above 0, undecided otherwise. "Tuned EW matches most methods" is REPRODUCED
when more than half of the methods are matched, NOT REPRODUCED when at least half are better
(then "most" cannot hold), INCONCLUSIVE otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mtl_lib.experiments import RunConfig
from mtl_lib.metrics.stats import mean_ci95
from mtl_lib.studies._common import Claim, cost_per_step
from mtl_lib.studies.multidigits.config import (
    ROTATION_LR_FRACTION,
    SETTINGS,
    TASKS,
    TUNED_EW,
    Method,
    _config,
    methods,
    settings,
)
from mtl_lib.studies.multidigits.tables import (
    MATCH_MARGIN,
    accuracy_frame,
    delta_m,
    match_verdict,
    matched_claim,
    verdict,
)

#: The stable id of the claim under this protocol.
EQUAL_CLAIM_ID = "multidigits.tuned_ew_matches_most_equal_budget"


@dataclass(frozen=True)
class Knob:
    """A method's tuned hyperparameter: its name, where it goes (``weighting_kwargs``,
    ``aggregator_kwargs``, ``weight_decay`` or ``rotation_fraction``), its values at ``quick`` (two,
    as EW's two weight decays) and at ``paper`` (three), and why this one (paper or official code)."""

    name: str
    target: str
    quick: tuple[Any, ...]
    paper: tuple[Any, ...]
    why: str

    def values(self, profile: str) -> tuple[Any, ...]:
        """The grid values at ``profile`` (smoke uses quick's)."""
        return self.paper if profile == "paper" else self.quick


def _decay(profile_key: str) -> tuple[float, ...]:
    return tuple(SETTINGS[profile_key]["grid"]["weight_decay"])


WEIGHT_DECAY = Knob(
    "weight_decay", "weight_decay", _decay("quick"), _decay("paper"),
    "no hyperparameter of its own that its paper tunes: weight decay, the same axis as tuned EW",
)  # fmt: skip


_W, _A = "weighting_kwargs", "aggregator_kwargs"

#: The one hyperparameter per method (registry name; the first quick value is the library default).
#: Methods not listed get :data:`WEIGHT_DECAY`.
KNOBS: dict[str, Knob] = {
    "dwa": Knob("temperature", _W, (2.0, 1.0), (1.0, 2.0, 5.0), "softmax temperature T (Liu et al. 2019 use T = 2)"),
    "famo": Knob("gamma", _W, (1e-3, 1e-5), (1e-5, 1e-3, 1e-2),
               "logit weight decay γ: 1e-3 in the paper's Algorithm 2 and LibMTL, 1e-5 in the official code"),
    "gradnorm": Knob("alpha", _W, (1.5, 0.12), (0.12, 0.5, 1.5),
                   "asymmetry α: the paper's NYUv2 value 1.5 and its synthetic value 0.12"),
    "stch": Knob("mu", _W, (1.0, 0.1), (0.1, 0.5, 1.0), "smoothing μ of the Tchebycheff max, the method's one parameter"),
    "cagrad": Knob("c", _A, (0.4, 0.2), (0.2, 0.4, 0.6), "conflict radius c (0.4 on NYUv2, 0.5 on the toy in the paper)"),
    "crmogm": Knob("alpha", _A, (0.9, 0.5), (0.5, 0.9, 0.99), "momentum α of the weights' moving average"),
    "db_mtl": Knob("beta", _A, (0.9, 0.5), (0.1, 0.5, 0.9), "EMA rate β of the log-loss gradients"),
    "excess_mtl": Knob("robust_step_size", _A, (1.0, 0.1), (0.1, 0.5, 1.0), "step size of the excess-risk weights"),
    "fairgrad": Knob("alpha", _A, (1.0, 2.0), (0.5, 1.0, 2.0), "α of the α-fair utility (the paper's sweep)"),
    "gradvac": Knob("beta", _A, (0.01, 0.1), (0.001, 0.01, 0.1), "EMA rate β of the cosine targets (paper: 1e-2)"),
    "mgda": Knob("normalization", _A, ("none", "loss+"), ("none", "l2", "loss+"),
               "gradient normalisation (Sener & Koltun's normalization_type, LibMTL's mgda_gn)"),
    "moco": Knob(
        "beta", _A, (0.5, 1.0), (0.1, 0.5, 1.0),
        "tracking rate β of the gradient estimates: the authors' hp_grid scripts search it with γ; at this "
        "budget λ stays near 1/K whatever γ is, and the tracking lag is what holds MoCo back (the audit page)",
    ),
    "modo": Knob("gamma", _A, (0.1, 0.01), (0.01, 0.1, 1.0), "weight step size γ (the authors' hp_grid scripts)"),
    "nash_mtl": Knob("update_weights_every", _A, (1, 5), (1, 5, 25), "how often the Nash weights are re-solved"),
    "pcd": Knob("tau", _A, (0.02, 0.2), (0.02, 0.1, 0.5),
              "τ, the share of its own progress each secondary task is guaranteed"),
    "sdmgrad": Knob("lambda_", _A, (0.3, 0.6), (0.1, 0.3, 0.6), "λ, the pull towards the average gradient"),
    "rotograd": Knob("rotation_fraction", "rotation_fraction", (ROTATION_LR_FRACTION, 0.01), (0.01, 0.1, 1.0),
                   "rotation learning rate, as a fraction of the model's"),
}  # fmt: skip


def knob(method: Method) -> Knob:
    """The hyperparameter ``method`` is tuned on (weight decay for a method not in :data:`KNOBS`)."""
    return KNOBS.get(method.key, WEIGHT_DECAY)


def knob_table(profile: str = "quick") -> pd.DataFrame:
    """One row per method: the tuned hyperparameter, its grid at ``profile`` and why it was chosen."""
    rows = []
    for m in methods(profile):
        k = knob(m)
        rows.append({"method": m.label, "hyperparameter": k.name, "values": list(k.values(profile)),
                     "learning rates": list(settings(profile)["grid"]["lr"]), "why this one": k.why})  # fmt: skip
    return pd.DataFrame(rows).set_index("method")


def _setting_config(profile: str, method: Method, lr: float, value: Any, seed: int, device: str,
                    eval_split: str, label: str) -> RunConfig:  # fmt: skip
    k = knob(method)
    if k.target == "weight_decay":
        return _config(profile, method, seed, device, lr=lr, weight_decay=value, eval_split=eval_split, label=label)
    if k.target == "rotation_fraction":
        return _config(profile, method, seed, device, lr=lr, eval_split=eval_split, label=label,
                       extra_problem={"rotation_lr": value * lr})  # fmt: skip
    ingredients = dict(method.ingredients)
    ingredients[k.target] = {**ingredients.get(k.target, {}), k.name: value}
    changed = Method(method.key, method.label, method.kind, ingredients, method.problem_options, method.reference)
    return _config(profile, changed, seed, device, lr=lr, eval_split=eval_split, label=label)


def _cell_label(method: Method, lr: float, value: Any) -> str:
    return f"{method.label} lr={lr:g} {knob(method).name}={value}"


def equal_grid_configs(profile: str, device: str = "auto") -> list[RunConfig]:
    """The search, scored on the validation split: every method × grid learning rate × its
    hyperparameter's values × the profile's grid seeds."""
    size = settings(profile)
    return [
        _setting_config(profile, m, lr, value, seed, device, "val", _cell_label(m, lr, value))
        for m in methods(profile)
        for lr in size["grid"]["lr"]
        for value in knob(m).values(profile)
        for seed in size["equal_grid_seeds"]
    ]


@dataclass(frozen=True)
class Choice:
    """A method's chosen grid cell and its mean validation accuracy (over the grid seeds)."""

    lr: float
    value: Any
    val_accuracy: float


def choose_equal(profile: str, grid_records: Sequence[dict[str, Any]]) -> dict[str, Choice]:
    """Per method label, the grid cell with the best mean validation accuracy (ties: the first
    cell in grid order, which puts the default value first)."""
    scores: dict[str, list[float]] = {}
    for record in grid_records:
        scores.setdefault(record["method"], []).append(float(np.mean([record["final"][f"{t}/acc"] for t in TASKS])))
    out: dict[str, Choice] = {}
    for m in methods(profile):
        cells = [(lr, value) for lr in settings(profile)["grid"]["lr"] for value in knob(m).values(profile)]
        scored = [Choice(lr, v, float(np.mean(scores[_cell_label(m, lr, v)])))
                  for lr, v in cells if _cell_label(m, lr, v) in scores]  # fmt: skip
        if scored:
            out[m.label] = max(scored, key=lambda c: c.val_accuracy)  # max keeps the first of ties
    return out


def _test_label(method: Method) -> str:
    return TUNED_EW if method.key == "ew" else method.label


def equal_test_configs(profile: str, choices: dict[str, Choice], device: str = "auto") -> list[RunConfig]:
    """Every method at its chosen cell on the test split over every seed (EW's row is tuned EW)."""
    return [
        _setting_config(profile, m, choices[m.label].lr, choices[m.label].value, seed, device, "test", _test_label(m))
        for m in methods(profile)
        if m.label in choices
        for seed in settings(profile)["seeds"]
    ]


def equal_delta_m(test_records: Sequence[dict[str, Any]], profile: str = "quick") -> dict[str, list[float]]:
    """Per method, per-seed Δm (%) against tuned EW under equal tuning."""
    frame = accuracy_frame(test_records)
    present = set(frame["method"])
    return {
        m.label: delta_m(frame, m.label, TUNED_EW)
        for m in methods(profile)
        if m.key != "ew" and m.label in present and TUNED_EW in present
    }


def _fmt(values: Sequence[float]) -> str:
    mean, half = mean_ci95(values)
    return f"{mean:+.2f}" if math.isnan(half) else f"{mean:+.2f} ± {half:.2f}"


def equal_summary(test_records: Sequence[dict[str, Any]], choices: dict[str, Choice], profile: str = "quick",
                  before: dict[str, list[float]] | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per method: the chosen setting, Δm vs tuned EW (mean ± 95 % CI over seeds) and its
    verdicts, the mean rank over seeds, and (``before``: per-seed Δm vs tuned EW in the main
    protocol, methods at their defaults) the same Δm before equal tuning."""
    values = equal_delta_m(test_records, profile)
    ranks = equal_ranks(test_records)
    costs: dict[str, list[float]] = {}
    for record in test_records:
        costs.setdefault(record["method"], []).append(cost_per_step(record))
    rows = []
    for m in methods(profile):
        label = _test_label(m)
        if m.label not in choices or label not in ranks.index:
            continue
        choice, k = choices[m.label], knob(m)
        row: dict[str, Any] = {"method": label, "hyperparameter": k.name, "default": k.quick[0],
                               "chosen lr": choice.lr, "chosen value": choice.value,
                               "val acc": round(choice.val_accuracy, 4)}  # fmt: skip
        if before is not None:
            row["Δm % before (defaults)"] = _fmt(before[m.label]) if before.get(m.label) else ""
        delta = values.get(m.label, [])
        row["Δm % vs tuned EW"] = _fmt(delta) if delta else "(reference)"
        row["vs tuned EW"] = verdict(delta) if delta else "(reference)"
        row[f"matched (margin {MATCH_MARGIN:g} %)"] = match_verdict(delta) if delta else "(reference)"
        row["mean rank"] = round(float(ranks.loc[label, "mean rank"]), 1)
        row["cost/step vs EW"] = round(float(np.median(costs[label]) / np.median(costs[TUNED_EW])), 2)
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def equal_ranks(test_records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Per seed, methods ranked by mean test accuracy over the tasks (1 = best), and the mean rank."""
    frame = accuracy_frame(test_records)
    frame["mean acc"] = frame[list(TASKS)].mean(axis=1)
    table = frame.pivot_table(index="method", columns="seed", values="mean acc", sort=False)
    ranks = table.rank(ascending=False, method="min")
    ranks.columns = [f"seed {s}" for s in ranks.columns]
    ranks["mean rank"] = ranks.mean(axis=1)
    return ranks.sort_values("mean rank")


def equal_tuning_claim(values: dict[str, list[float]], profile: str) -> Claim:
    """ "Tuned EW matches most methods" under equal tuning (the rule in the module docstring)."""
    claim = matched_claim(
        values,
        claim="Tuned EW matches most specialised methods when every method is tuned alike (Kurin et al. 2022; "
        "Xin et al. 2022)",
        paper="most methods no better than tuned EW under an equal tuning budget",
        protocol=f"profile '{profile}', every method tuned on the same-size grid",
    )
    return claim.identified(EQUAL_CLAIM_ID)


def plot_before_after(before: dict[str, list[float]], after: dict[str, list[float]], title: str) -> plt.Figure:
    """Δm vs tuned EW per method with its 95 % interval: at defaults (grey) and after equal tuning
    (blue), sorted by the tuned mean."""
    names = sorted((k for k in after if after[k]), key=lambda k: mean_ci95(after[k])[0])
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(names) + 1.3))
    for offset, values, colour, label in (
        (0.18, before, "tab:gray", "defaults"),
        (-0.18, after, "tab:blue", "equal tuning"),
    ):
        shown = [(i, *mean_ci95(values[k])) for i, k in enumerate(names) if values.get(k)]
        ax.errorbar([m for _, m, _ in shown], [i + offset for i, _, _ in shown],
                    xerr=[0.0 if math.isnan(h) else h for _, _, h in shown], fmt="o", ms=3, capsize=2,
                    color=colour, label=label)  # fmt: skip
    ax.axvline(0, color="black", lw=0.8)
    ax.axvline(MATCH_MARGIN, color="black", lw=0.6, ls=":")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(f"Δm vs tuned EW (%), mean and 95 % CI over seeds; dotted: the {MATCH_MARGIN:g} % margin", fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def equal_runs(profile: str) -> int:
    """Runs of the equal-tuning protocol at ``profile``: the search plus the test runs."""
    size = settings(profile)
    search = sum(len(size["grid"]["lr"]) * len(knob(m).values(profile)) for m in methods(profile))
    return search * len(size["equal_grid_seeds"]) + len(methods(profile)) * len(size["seeds"])


def equal_estimate(saved: dict[str, Any] | None, profile: str = "paper", workers: Sequence[int] = (1, 2)) -> str:
    """Wall-time estimate of the protocol at ``profile`` from the measured mean run time of a saved
    sweep at that profile (its summed run seconds over its runs; one torch thread per run)."""
    runs = equal_runs(profile)
    if not saved:
        return f"{runs} runs at '{profile}'; no saved sweep at that profile to measure the cost of a run from"
    per_run = float(saved["run_seconds"]) / sum(saved["runs"].values())
    hours = ", ".join(f"{runs * per_run / 3600 / n:.1f} h with {n} worker{'s' if n > 1 else ''}" for n in workers)
    return (f"{runs} runs at '{profile}' × {per_run:.1f} s per run (the mean of the saved '{profile}' sweep's "
            f"{sum(saved['runs'].values())} runs) = {hours}")  # fmt: skip


__all__ = [
    "MATCH_MARGIN", "EQUAL_CLAIM_ID", "Knob", "WEIGHT_DECAY", "KNOBS", "knob", "knob_table",
    "equal_grid_configs", "Choice", "choose_equal", "equal_test_configs", "equal_delta_m", "match_verdict",
    "equal_summary", "equal_ranks", "equal_tuning_claim", "plot_before_after", "equal_runs", "equal_estimate",
]  # fmt: skip
