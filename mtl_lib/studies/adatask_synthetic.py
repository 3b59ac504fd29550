"""AdaTask's synthetic regression study (Yang et al., AAAI 2023, Table 2).

The notebook ``notebooks/synthetic_regression.ipynb`` is a thin layer over this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from mtl_lib.core.jacobian import flatten_rows, task_jacobians
from mtl_lib.core.runtime import resolve_device, seed_everything
from mtl_lib.data import make_synthetic_regression
from mtl_lib.diagnostics.conflict import gradient_cosine, gradient_norms
from mtl_lib.experiments import RunConfig, final_frame, history_frame
from mtl_lib.metrics.stats import format_mean_ci
from mtl_lib.problems import PROBLEMS
from mtl_lib.studies import adatask_regime as regime
from mtl_lib.studies._common import INCONCLUSIVE, Claim, identify, paired_difference
from mtl_lib.studies._figures import fit_to_column
from mtl_lib.studies.registry import Study, one_stage

PROBLEM = "synthetic_regression"

#: Run sizes per profile come from :mod:`mtl_lib.studies.adatask_regime` (the setting frozen by
#: the EqualWeight-only calibration, resized per profile).
#: Method label → ingredients (everything else as in the run config).
METHODS: dict[str, dict[str, Any]] = {
    "EqualWeight": dict(weighting="ew"),
    "PCGrad": dict(weighting="ew", aggregator="pcgrad"),
}

#: Yang et al. (2023), Table 2: task-normalized RMSE on the synthetic data (lower is better).
PUBLISHED_TABLE2 = pd.DataFrame(
    [
        ("EqualWeight", 0.2172, 0.0113, 0.1142),
        ("GradNorm", 0.1134, 0.0226, 0.0680),
        ("UW", 0.2032, 0.0100, 0.1066),
        ("PCGrad", 0.2221, 0.0155, 0.1188),
        ("CAGrad", 0.1495, 0.0140, 0.0817),
        ("AdaTask", 0.0704, 0.0417, 0.0560),
    ],
    columns=["method", "A", "B", "average"],
).set_index("method")


#: The frozen regime at a profile (:mod:`mtl_lib.studies.adatask_regime`: its ``per_profile`` table).
settings = regime.settings


def synthetic_config(size: dict[str, Any], label: str, seed: int, device: str, **fields: Any) -> RunConfig:
    """One run of the synthetic regression at a profile's ``size`` (the frozen regime of
    :mod:`mtl_lib.studies.adatask_regime`, resized); ``fields`` are the ingredients and other
    config fields.
    Shared by every AdaTask study, so that the same setting is the same run (and run id)."""
    return RunConfig(
        problem=PROBLEM,
        lr=size["lr"],
        epochs=size["epochs"],
        batch_size=size["batch_size"],
        seed=seed,
        problem_kwargs=regime.problem_kwargs_of(size),
        optimizer_kwargs=regime.optimizer_kwargs_of(size, fields.get("optimizer", "adam")),
        label=label,
        device=device,
        **fields,
    )


def configs(profile: str, methods: Sequence[str] | None = None, device: str = "auto") -> list[RunConfig]:
    """One RMSProp run per method and seed at the profile's size."""
    chosen = list(METHODS) if methods is None else list(methods)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; this study knows {list(METHODS)}")
    size = settings(profile)
    return [
        synthetic_config(size, method, seed, device, optimizer="rmsprop", **METHODS[method])
        for method in chosen
        for seed in size["seeds"]
    ]


@dataclass
class Dominance:
    """How much larger task B is than task A, measured on the generated data and at init."""

    target_std_ratio: float
    gradient_norm_ratio: float
    gradient_cosine: float


def measure_dominance(profile: str, seed: int = 0, device: str = "auto") -> Dominance:
    """Ratio of the tasks' target spreads and of their shared-parameter gradient norms on one
    training batch of a freshly initialised model (what an optimizer sees at step 1)."""
    size = settings(profile)
    options = regime.problem_kwargs(profile)
    data = make_synthetic_regression(
        options["n_train"],
        options["n_test"],
        input_dist=options["input_dist"],
        spread=options["spread"],
        target_scaling=options["target_scaling"],
    )
    seed_everything(seed)
    problem = PROBLEMS.get(PROBLEM)(seed=seed, batch_size=size["batch_size"], device=resolve_device(device), **options)
    x, *targets = next(iter(problem.train_data))
    predictions = problem.model(x)
    losses = torch.stack([t.loss(p, y) for t, p, y in zip(problem.tasks, predictions, targets)])
    jacobian = flatten_rows(task_jacobians(losses, problem.model.shared_parameters()))
    norms = gradient_norms(jacobian)
    return Dominance(
        target_std_ratio=data.target_scale[1] / data.target_scale[0],
        gradient_norm_ratio=float(norms[1] / norms[0]),
        gradient_cosine=float(gradient_cosine(jacobian)[0, 1]),
    )


def per_run_scores(records: Sequence[dict[str, Any]], definition: str | None = None) -> pd.DataFrame:
    """One row per run: method, seed, task-normalized error of A, of B, and their average
    (``definition``: a key of :data:`mtl_lib.problems.synthetic.TASK_NORMALIZATIONS`; None:
    the one frozen by the calibration)."""
    final = final_frame(records)
    final = final[final["metric"] == regime.metric_key(definition)]
    wide = final.pivot_table(index=["method", "seed"], columns="task", values="value").reset_index()
    wide["average"] = (wide["A"] + wide["B"]) / 2
    return wide


def at_checkpoint(records: Sequence[dict[str, Any]], epoch: int) -> list[dict[str, Any]]:
    """The records as they stood after ``epoch`` epochs (history cut there; with a constant
    learning rate that is the ``epoch``-epoch run), to check a verdict at neighbouring budgets."""
    cut = []
    for record in records:
        history = [h for h in record.get("history") or [] if h["epoch"] <= epoch]
        cut.append({**record, "history": history, "final": history[-1] if history else record.get("final")})
    return cut


def plot_curves(records: Sequence[dict[str, Any]], title: str, definition: str | None = None) -> plt.Figure:
    """Test task-normalized error per epoch (``definition`` as in :func:`per_run_scores`: the
    table's), one panel per task, mean and 95 % CI over seeds."""
    curves = history_frame(records)
    curves = curves[curves["metric"] == regime.metric_key(definition)]
    grid = sns.relplot(data=curves, x="epoch", y="value", hue="method", col="task", kind="line",
                       errorbar=("ci", 95), height=2.7, aspect=1.0, facet_kws={"sharey": False})  # fmt: skip
    grid.set_axis_labels("epoch", f"test {regime.metric_label(definition)}")
    grid.figure.suptitle(title, y=1.04)
    # two panels and the legend within the text column (mtl_lib.studies._figures: labels ≥ 9 pt)
    return fit_to_column(grid.figure, relayout=False)


def comparison_table(records: Sequence[dict[str, Any]], definition: str | None = None) -> pd.DataFrame:
    """Ours (mean ± 95 % CI over seeds, ``definition`` as in :func:`per_run_scores`) beside the
    paper's Table 2, for the methods run."""
    scores = per_run_scores(records, definition)
    rows = []
    for method, group in scores.groupby("method", sort=False):
        row = {"method": method, "seeds": len(group)}
        for column in ("A", "B", "average"):
            row[f"{column} (ours)"] = format_mean_ci(group[column].tolist())
            published = PUBLISHED_TABLE2[column].get(method)
            row[f"{column} (paper)"] = "" if published is None else f"{published:.4f}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


#: Stable ids of :func:`check_claims`' claims, in their order.
CLAIM_IDS = (
    "adatask.synthetic.ew_dominates_a",
    "adatask.synthetic.pcgrad_no_relief",
    "adatask.synthetic.absolute_errors_match",
)


def check_claims(records: Sequence[dict[str, Any]], definition: str | None = None) -> list[Claim]:
    """The paper's claims that this EW-vs-PCGrad comparison can test, each with a verdict from a
    95 % interval over seeds (see :mod:`mtl_lib.studies._common`); errors under ``definition``
    (as in :func:`per_run_scores`)."""
    scores = per_run_scores(records, definition)
    ew = scores[scores["method"] == "EqualWeight"].set_index("seed")
    paper = PUBLISHED_TABLE2
    claims = []

    paper_ratio = paper.loc["EqualWeight", "A"] / paper.loc["EqualWeight", "B"]
    claims.append(
        Claim.threshold(
            "Under equal weighting the dominated task A ends with a clearly larger "
            "task-normalized RMSE than the dominant task B (we require A/B > 1.5).",
            f"A/B = {paper_ratio:.1f}",
            (ew["A"] / ew["B"]).tolist(),
            1.5,
            "above",
            paper_value=float(paper_ratio),
            digits=2,
        )
    )

    diff = paired_difference(scores, "PCGrad", "EqualWeight", "A")
    # A "no effect" claim, tested for equivalence: PCGrad relieves A by less than a tenth of
    # equal weighting's own A error (the paper's PCGrad is 2 % *worse*; AdaTask's relief is 68 %).
    margin = 0.1 * float(ew["A"].mean())
    verdict = diff.verdict_no_effect("negative", margin=margin)
    claims.append(
        Claim(
            "PCGrad does not relieve the dominated task: its task-A error is not lower than "
            "equal weighting's by 10 % of that error or more (paired over seeds, 95 % CI of the difference).",
            f"PCGrad {paper.loc['PCGrad', 'A']:.4f} vs EqualWeight {paper.loc['EqualWeight', 'A']:.4f} on task A",
            f"PCGrad − EqualWeight on task A = {diff.describe()}",
            verdict,
            f"equivalence: the 95 % interval above −{margin:.4f} (10 % of EqualWeight's A error)",
            diff.power_note() if verdict == INCONCLUSIVE else "",
        )
    )

    paper_avg = float(paper.loc["EqualWeight", "average"])
    claims.append(
        Claim.within(
            "The absolute errors match the paper's (within 25 % on EqualWeight's average).",
            f"{paper_avg:.4f}",
            ew["average"].tolist(),
            paper_avg,
            0.25 * paper_avg,
        )
    )
    return identify(claims, CLAIM_IDS)


def _tables_sweep(profile: str, device: str = "auto") -> list[RunConfig]:
    """The Tables 2 and 5 runs (:func:`mtl_lib.studies.adatask_tables.synthetic_configs`): this
    chapter's EqualWeight and PCGrad runs are among them (same settings, same run ids)."""
    from mtl_lib.studies.adatask_tables import synthetic_configs

    return synthetic_configs(profile, device=device)


STUDY = Study(
    "adatask_synthetic", "synthetic_regression",
    "AdaTask's synthetic regression, Tables 2 and 5 (read by this notebook and adatask_tables)",
    settings=settings, estimated_s=15,  # it reads the runs adatask_tables trains: last in a first build
    sweep=one_stage(_tables_sweep), claims=CLAIM_IDS,
    captions=(("study.plot_curves(", "Test task-normalized RMSE per epoch for each task (columns) and method "
               "(colours): mean over seeds with its 95 % interval. Lower is better."),),
)  # fmt: skip
