"""AdaTask's Table 1 and Fig. 3 on CityScapes (or its generated stand-in): runs, tables, rAU buckets, claims."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mtl_lib.experiments import RunConfig, final_frame
from mtl_lib.metrics import delta_p, delta_p_bounds
from mtl_lib.metrics.stats import format_mean_ci
from mtl_lib.problems.cityscapes import cityscapes_tasks
from mtl_lib.studies._common import (
    Claim,
    estimate,
    identify,
    per_profile,
)
from mtl_lib.studies.adatask_rau.buckets import bucket_labels, pretty_bucket
from mtl_lib.studies.adatask_rau.plots import BUCKET_COLORS

CITYSCAPES_CLAIM_IDS = (
    "adatask.fig3.segmentation_dominant", "adatask.table1.ada_lowers_depth_errors", "adatask.table1.ada_highest_delta_p",
    "adatask.table1.combining_helps", "adatask.fig3.ew_gradnorm_dominated", "adatask.fig3.ada_balanced",
)  # fmt: skip

#: ``paper``: MTAN/CAGrad's 200 epochs, batch 8, Adam 1e-4 on the full 128×256 splits; our model
#: at width 64 (still ~7× smaller than their SegNet). ``smoke``/``quick``: tiny images and model
#: so that 27 runs fit in minutes on a CPU.
CITYSCAPES_SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": dict(
        n_train=16, n_val=8, height=16, width=32, model_width=4, epochs=1, batch_size=8, lr=1e-3, seeds=(0, 1, 2)
    ),
    "quick": dict(
        n_train=128, n_val=32, height=32, width=64, model_width=8, epochs=4, batch_size=8, lr=1e-3, seeds=(0, 1, 2)
    ),
    "paper": dict(
        n_train=2975,
        n_val=500,
        height=128,
        width=256,
        model_width=64,
        epochs=200,
        batch_size=8,
        lr=1e-4,
        seeds=(0, 1, 2),
    ),
}

CITYSCAPES_METHODS: dict[str, dict[str, Any]] = {
    "EqualWeight": dict(optimizer="adam"),
    "MGDA": dict(optimizer="adam", aggregator="mgda"),
    "GradNorm": dict(optimizer="adam", weighting="gradnorm"),
    "UW": dict(optimizer="adam", weighting="uw"),
    "PCGrad": dict(optimizer="adam", aggregator="pcgrad"),
    "CAGrad": dict(optimizer="adam", aggregator="cagrad"),
    "AdaTask": dict(optimizer="adatask_adam"),
    "AdaTask+PCGrad": dict(optimizer="adatask_adam", aggregator="pcgrad"),
    "AdaTask+CAGrad": dict(optimizer="adatask_adam", aggregator="cagrad"),
}

#: Fig. 3's methods: their runs record rAU (same training step; see the runner).
RAU_METHODS = ("EqualWeight", "GradNorm", "AdaTask")

SINGLE_METHODS = ("EqualWeight", "MGDA", "GradNorm", "UW", "PCGrad", "CAGrad", "AdaTask")

#: Metric key → (column name, higher is better).
CITYSCAPES_METRICS = {
    "depth/abs_err": ("Abs Err", False),
    "depth/rel_err": ("Rel Err", False),
    "segmentation/miou": ("mIoU", True),
    "segmentation/pix_acc": ("Pix Acc", True),
}

#: Yang et al. (2023), Table 1 (CityScapes; depth = task A, the dominated one; segmentation =
#: task B). mIoU and Pix Acc in %, Δp in % vs EqualWeight. Its GridSearch row is not run here.
PUBLISHED_TABLE1 = pd.DataFrame(
    [
        ("EqualWeight", 0.0152, 47.00, 75.01, 93.40, 0.00),
        ("MGDA", 0.0166, 33.50, 69.42, 91.22, 2.40),
        ("GradNorm", 0.0145, 44.16, 75.18, 93.38, 2.71),
        ("UW", 0.0134, 36.66, 74.42, 93.05, 8.05),
        ("PCGrad", 0.0150, 42.52, 75.46, 93.49, 2.88),
        ("CAGrad", 0.0141, 38.40, 75.30, 93.48, 6.50),
        ("AdaTask", 0.0128, 36.85, 75.02, 93.40, 9.34),
        ("AdaTask+PCGrad", 0.0127, 34.46, 74.76, 93.25, 10.52),
        ("AdaTask+CAGrad", 0.0133, 31.50, 73.17, 92.88, 10.59),
    ],
    columns=["method", "Abs Err", "Rel Err", "mIoU", "Pix Acc", "Δp (%)"],
).set_index("method")

#: Half a unit of the last digit Table 1 prints per column (Abs Err to 4 decimals, the rest to 2).
TABLE1_HALF_UNIT = {"Abs Err": 0.5e-4, "Rel Err": 0.5e-2, "mIoU": 0.5e-2, "Pix Acc": 0.5e-2, "Δp (%)": 0.5e-2}


def table1_delta_p_check(higher_is_better: dict[str, bool] | None = None) -> pd.DataFrame:
    """Δp recomputed with :func:`mtl_lib.metrics.delta_p` from the paper's own Table 1 metrics
    (baseline: its EqualWeight row), beside the Δp it prints. ``low``/``high`` bound Δp over
    every value the printed digits allow (:func:`~mtl_lib.metrics.delta_p_bounds`);
    ``consistent`` says whether the printed Δp (± its own rounding) lies in them.
    ``higher_is_better`` (column name → bool) defaults to :data:`CITYSCAPES_METRICS`'
    directions; pass another to see a wrong convention fail."""
    higher = higher_is_better or {name: better for name, better in CITYSCAPES_METRICS.values()}
    half = {name: TABLE1_HALF_UNIT[name] for name in higher}
    base = PUBLISHED_TABLE1.loc["EqualWeight"]
    rows = []
    for method, row in PUBLISHED_TABLE1.iterrows():
        values, baseline = {k: row[k] for k in higher}, {k: base[k] for k in higher}
        low, high = delta_p_bounds(values, baseline, higher, half)
        printed, slack = float(row["Δp (%)"]), TABLE1_HALF_UNIT["Δp (%)"]
        rows.append(
            dict(
                method=method,
                paper=printed,
                recomputed=delta_p(values, baseline, higher),
                low=low,
                high=high,
                consistent=low - slack <= printed <= high + slack,
            )
        )
    return pd.DataFrame(rows).set_index("method")


#: Fig. 3 as the paper's text states it (share of shared parameters, %).
PUBLISHED_FIG3 = {
    "EqualWeight": "99 % dominated by B",
    "GradNorm": "95 % dominated by B",
    "AdaTask": "7 % slightly dominated by B, 93 % balanced",
}

cityscapes_settings = per_profile(CITYSCAPES_SETTINGS)


def dataset_label(data_dir: str | None) -> str:
    return "CityScapes (MTAN preprocessing)" if data_dir else "stand-in"


def cityscapes_configs(profile: str, data_dir: str | None = None, device: str = "auto") -> list[RunConfig]:
    """Table 1 and Fig. 3: one Adam / AdaTask-Adam run per method and seed; Fig. 3's methods
    record rAU."""
    size = cityscapes_settings(profile)
    problem_kwargs = {k: size[k] for k in ("n_train", "n_val", "height", "width", "model_width")}
    if data_dir is not None:
        problem_kwargs["data_dir"] = str(data_dir)
    return [
        RunConfig(
            problem="cityscapes",
            lr=size["lr"],
            epochs=size["epochs"],
            batch_size=size["batch_size"],
            seed=seed,
            problem_kwargs=problem_kwargs,
            label=method,
            device=device,
            diagnostics=("rau",) if method in RAU_METHODS else (),
            **ingredients,
        )
        for method, ingredients in CITYSCAPES_METHODS.items()
        for seed in size["seeds"]
    ]


def cityscapes_scores(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per run: method, seed, the four metrics (keys of :data:`CITYSCAPES_METRICS`) and
    Δp (%) against the EqualWeight run of the same seed (:func:`mtl_lib.metrics.delta_p`)."""
    final = final_frame(records)
    final = final.assign(key=final["task"] + "/" + final["metric"])
    final = final[final["key"].isin(list(CITYSCAPES_METRICS))]
    wide = final.pivot_table(index=["method", "seed"], columns="key", values="value", sort=False).reset_index()
    higher = {key: better for key, (_, better) in CITYSCAPES_METRICS.items()}
    baseline = wide[wide["method"] == "EqualWeight"].set_index("seed")
    deltas = []
    for _, row in wide.iterrows():
        if row["seed"] in baseline.index:
            base = baseline.loc[row["seed"]]
            deltas.append(delta_p({k: row[k] for k in higher}, {k: base[k] for k in higher}, higher))
        else:
            deltas.append(math.nan)
    wide["delta_p"] = deltas
    return wide


def delta_p_of_means(scores: pd.DataFrame) -> pd.Series:
    """Δp (%) of each method's seed-mean metrics against EqualWeight's seed-mean metrics: the
    paper's formula applied to the numbers a table reports (one value per method, no interval).
    ``scores`` is :func:`cityscapes_scores`' frame; NaN without an EqualWeight run."""
    higher = {key: better for key, (_, better) in CITYSCAPES_METRICS.items()}
    means = scores.groupby("method", sort=False)[list(higher)].mean()
    if "EqualWeight" not in means.index:
        return pd.Series(math.nan, index=means.index, name="delta_p_of_means")
    base = means.loc["EqualWeight"]
    values = {m: delta_p(dict(row), dict(base), higher) for m, row in means.iterrows()}
    return pd.Series(values, name="delta_p_of_means")


def cityscapes_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Ours (mean ± 95 % CI over seeds) beside Table 1. mIoU and Pix Acc in % like the paper;
    the depth errors in our units (the paper's are on MTAN's inverse depth). Δp twice: the mean
    of the per-seed Δp (paired with EqualWeight's run of the same seed; the claims use these)
    and Δp of the seed-mean metrics (:func:`delta_p_of_means`)."""
    scores = cityscapes_scores(records)
    of_means = delta_p_of_means(scores)
    rows = []
    for method, group in scores.groupby("method", sort=False):
        row: dict[str, Any] = {"method": method, "seeds": len(group)}
        for key, (name, _) in CITYSCAPES_METRICS.items():
            scale = 100.0 if key.startswith("segmentation") else 1.0
            digits = 2 if key.startswith("segmentation") else 4
            row[f"{name} (ours)"] = format_mean_ci((group[key] * scale).tolist(), digits)
            row[f"{name} (paper)"] = PUBLISHED_TABLE1.loc[method, name] if method in PUBLISHED_TABLE1.index else ""
        row["Δp % (ours)"] = format_mean_ci(group["delta_p"].tolist(), 2)
        row["Δp % of means (ours)"] = f"{of_means[method]:.2f}"
        row["Δp % (paper)"] = PUBLISHED_TABLE1.loc[method, "Δp (%)"] if method in PUBLISHED_TABLE1.index else ""
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def overall_buckets(records: Sequence[dict[str, Any]], task: str) -> pd.DataFrame:
    """Final rAU(·, T, task) bucket shares of all shared parameters, for the runs that recorded
    rAU: columns method, seed, bucket, share."""
    rows = [
        (r["method"], r["seed"], bucket, share)
        for r in records
        if "rau_buckets" in r.get("diagnostics", {})
        for bucket, share in r["diagnostics"]["rau_buckets"][task]["all"].items()
    ]
    return pd.DataFrame(rows, columns=["method", "seed", "bucket", "share"])


def _mean_rau(frame: pd.DataFrame, method: str) -> float:
    """Mean rAU approximated from the bucket shares (bucket midpoints)."""
    part = frame[frame["method"] == method].groupby("bucket")["share"].mean()
    mids = {label: sum(float(x) for x in label.strip("(]").split(",")) / 2 for label in part.index}
    return float(sum(part[label] * mids[label] for label in part.index))


def dominant_task(records: Sequence[dict[str, Any]], method: str = "EqualWeight") -> tuple[str, dict[str, float]]:
    """The task with the larger mean rAU under ``method`` (the paper's "task B") and each task's
    mean rAU (from the bucket midpoints, mean over seeds)."""
    names = [t.name for t in cityscapes_tasks()]
    means = {name: _mean_rau(overall_buckets(records, name), method) for name in names}
    return max(means, key=means.get), means  # type: ignore[arg-type]


def plot_overall_buckets(frame: pd.DataFrame, title: str, task: str) -> plt.Figure:
    """Stacked bars: share of shared parameters per rAU(task) bucket, one bar per method (mean
    over seeds)."""
    labels = bucket_labels()
    table = frame.pivot_table(index="method", columns="bucket", values="share", aggfunc="mean", sort=False)
    table = table[labels] * 100
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    bottom = np.zeros(len(table))
    for label, color in zip(labels, BUCKET_COLORS):
        ax.bar(table.index, table[label].to_numpy(), bottom=bottom, color=color, label=pretty_bucket(label))
        bottom += table[label].to_numpy()
    ax.set_ylabel("% of shared parameters")
    ax.set_xlabel("method")
    ax.set_ylim(0, 100)
    handles, names = ax.get_legend_handles_labels()
    ax.legend(
        handles[::-1], names[::-1], title=f"rAU({task})", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8
    )
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


def _per_seed_mean_rau(records: Sequence[dict[str, Any]], task: str, method: str) -> pd.Series:
    """Mean rAU(task) of the shared parameters per seed under ``method`` (bucket midpoints)."""
    frame = overall_buckets(records, task)
    frame = frame[frame["method"] == method]
    mids = frame["bucket"].map(lambda label: sum(float(x) for x in label.strip("(]").split(",")) / 2)
    return (frame["share"] * mids).groupby(frame["seed"]).sum()


def _per_seed_share(records: Sequence[dict[str, Any]], task: str, method: str, bucket: str) -> list[float]:
    frame = overall_buckets(records, task)
    return frame[(frame["method"] == method) & (frame["bucket"] == bucket)]["share"].tolist()


def cityscapes_claims(records: Sequence[dict[str, Any]], data_label: str) -> list[Claim]:
    """Table 1 and Fig. 3 claims on the CityScapes problem (``data_label`` names the data, e.g.
    "stand-in"), verdicts from 95 % intervals over seeds (paired by seed where two methods meet)."""
    scores = cityscapes_scores(records)
    t1 = PUBLISHED_TABLE1
    tag = f" [{data_label}]"
    claims = []

    b_task, mean_rau = dominant_task(records)
    names = list(mean_rau)
    seg, depth = (_per_seed_mean_rau(records, name, "EqualWeight") for name in ("segmentation", "depth"))
    gap = (seg - depth).dropna().tolist()
    claims.append(
        replace(
            Claim.threshold(
                "Segmentation is the dominant task (the paper's task B): under EqualWeight it has the larger "
                "mean rAU (segmentation − depth > 0 per seed)." + tag,
                "task B = segmentation",
                gap,
                0.0,
                "above",
                digits=3,
            ),
            ours=f"segmentation − depth mean rAU = {estimate(gap).describe(3)}; means "
            + ", ".join(f"{k} {mean_rau[k]:.2f}" for k in names),
        )
    )

    depth_parts = [
        Claim.pairwise(metric, "", scores, [("AdaTask", "EqualWeight")], f"depth/{metric}", "negative")
        for metric in ("abs_err", "rel_err")
    ]
    claims.append(
        Claim.all_of(
            "AdaTask lowers both depth errors (the dominated task) compared with EqualWeight (paired over seeds)."
            + tag,
            f"Abs Err {t1.loc['AdaTask', 'Abs Err']} vs {t1.loc['EqualWeight', 'Abs Err']}, "
            f"Rel Err {t1.loc['AdaTask', 'Rel Err']:.2f} vs {t1.loc['EqualWeight', 'Rel Err']:.2f}",
            depth_parts,
        )
    )

    ada_dp = scores[scores["method"] == "AdaTask"]["delta_p"].dropna().tolist()
    singles = [m for m in SINGLE_METHODS if m in set(scores["method"]) and m not in ("AdaTask", "EqualWeight")]
    positive = Claim.threshold(
        "Δp > 0", "", ada_dp, 0.0, "above", paper_value=float(t1.loc["AdaTask", "Δp (%)"]), unit=" %", digits=2
    )
    highest = Claim.pairwise("highest", "", scores, [("AdaTask", m) for m in singles], "delta_p", "positive", digits=2)
    claims.append(
        Claim.all_of(
            "AdaTask has a positive Δp vs EqualWeight, the highest of the single methods (Δp > 0 and "
            "AdaTask − each single method > 0, over seeds)." + tag,
            f"AdaTask {t1.loc['AdaTask', 'Δp (%)']:.2f} %, best baseline UW {t1.loc['UW', 'Δp (%)']:.2f} %",
            [replace(positive, ours=f"AdaTask Δp = {positive.ours}"), highest],
        )
    )

    combos = [(m, "AdaTask") for m in ("AdaTask+PCGrad", "AdaTask+CAGrad")]
    ada_paper = float(t1.loc["AdaTask", "Δp (%)"])
    claims.append(
        Claim.pairwise(
            "Combining helps: AdaTask+PCGrad and AdaTask+CAGrad both have a higher Δp than AdaTask alone "
            "(paired over seeds)." + tag,
            "10.52 % and 10.59 % vs 9.34 %",
            scores,
            combos,
            "delta_p",
            "positive",
            paper_effects={
                ("AdaTask+PCGrad", "AdaTask"): 10.52 - ada_paper,
                ("AdaTask+CAGrad", "AdaTask"): 10.59 - ada_paper,
            },
            digits=2,
        )
    )

    paper_dominated = {"EqualWeight": 0.99, "GradNorm": 0.95}
    dominated = []
    for m, paper_share in paper_dominated.items():
        shares = _per_seed_share(records, b_task, m, "(0.8, 1]")
        part = Claim.threshold(m, "", shares, 0.9, "above", paper_value=paper_share, scale=100, unit=" %")
        dominated.append(replace(part, ours=f"{m} {part.ours}"))
    claims.append(
        Claim.all_of(
            f"EqualWeight and GradNorm leave ≥ 90 % of shared parameters dominated by task B = {b_task} "
            "(rAU(B) in (80 %, 100 %], interval over seeds)." + tag,
            "99 % and 95 %",
            dominated,
        )
    )

    claims.append(
        Claim.threshold(
            f"AdaTask leaves ≥ 90 % of shared parameters balanced, rAU(B = {b_task}) in (40 %, 60 %] "
            "(interval over seeds)." + tag,
            "93 % balanced",
            _per_seed_share(records, b_task, "AdaTask", "(0.4, 0.6]"),
            0.9,
            "above",
            paper_value=0.93,
            scale=100,
            unit=" %",
        )
    )
    return identify(claims, CITYSCAPES_CLAIM_IDS)


__all__ = [
    "CITYSCAPES_CLAIM_IDS",
    "CITYSCAPES_SETTINGS",
    "CITYSCAPES_METHODS",
    "RAU_METHODS",
    "SINGLE_METHODS",
    "CITYSCAPES_METRICS",
    "PUBLISHED_TABLE1",
    "PUBLISHED_FIG3",
    "TABLE1_HALF_UNIT",
    "table1_delta_p_check",
    "cityscapes_settings",
    "dataset_label",
    "cityscapes_configs",
    "cityscapes_scores",
    "delta_p_of_means",
    "cityscapes_table",
    "overall_buckets",
    "dominant_task",
    "plot_overall_buckets",
    "cityscapes_claims",
]
