"""AdaTask's rAU bucket shares (Fig. 2 of Yang et al. 2023) on the benchmark: runs, table, figure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mtl_lib.experiments import RunConfig
from mtl_lib.studies._figures import fit_to_column
from mtl_lib.studies.adatask_rau.plots import BUCKET_COLORS
from mtl_lib.studies.multidigits.config import (
    _config,
    base_optimizer,
    methods,
    settings,
)

RAU_METHODS = ("ew", "gradnorm", "uw", "cagrad", "adatask_adam")

RAU_CONDITIONS = {"balanced": None, "right loss ×10": (1.0, 10.0)}


def rau_configs(profile: str, device: str = "auto", base_lrs: dict[str, float] | None = None) -> list[RunConfig]:
    """Fig. 2-style runs: the rAU methods, balanced and with the right digit's loss ×10, at the
    main benchmark's learning rates (``base_lrs``)."""
    by_key = {m.key: m for m in methods(profile)}
    lrs = base_lrs or {}
    out = []
    for condition, scales in RAU_CONDITIONS.items():
        extra = {} if scales is None else {"loss_scales": scales}
        for key in RAU_METHODS:
            for seed in settings(profile)["rau_seeds"]:
                lr = lrs.get(base_optimizer(by_key[key]), settings(profile)["lr"])
                out.append(_config(profile, by_key[key], seed, device, lr=lr, extra_problem=extra,
                                   label=f"{by_key[key].label} [{condition}]", diagnostics=("rau",)))  # fmt: skip
    return out


def rau_frame(records: Sequence[dict[str, Any]], task: str = "right") -> pd.DataFrame:
    """Final rAU(·, T, task) bucket shares over all shared parameters: columns method,
    condition, seed, bucket, share."""
    rows = []
    for record in records:
        method, condition = record["method"].rsplit(" [", 1)
        shares = record["diagnostics"]["rau_buckets"][task]["all"]
        for bucket, share in shares.items():
            rows.append((method, condition.rstrip("]"), record["seed"], bucket, share))
    return pd.DataFrame(rows, columns=["method", "condition", "seed", "bucket", "share"])


def plot_rau(frame: pd.DataFrame, task: str = "right") -> plt.Figure:
    """Stacked bars (Fig. 2 style): per condition, one bar per method, the share of shared
    parameters in each rAU(task) bucket (mean over seeds)."""
    conditions = list(dict.fromkeys(frame["condition"]))
    buckets = list(dict.fromkeys(frame["bucket"]))
    fig, axes = plt.subplots(1, len(conditions), figsize=(4.2 * len(conditions) + 1.6, 3.4), sharey=True, squeeze=False)
    for ax, condition in zip(axes[0], conditions):
        part = frame[frame["condition"] == condition]
        table = part.pivot_table(index="method", columns="bucket", values="share", aggfunc="mean", sort=False) * 100
        bottom = np.zeros(len(table))
        for bucket, color in zip(buckets, BUCKET_COLORS):
            ax.bar(
                range(len(table)),
                table[bucket].to_numpy(),
                bottom=bottom,
                color=color,
                label=bucket,
            )
            bottom += table[bucket].to_numpy()
        ax.set_xticks(range(len(table)), table.index, rotation=30, ha="right", fontsize=9)
        ax.set_title(condition, fontsize=10)
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel("% of shared parameters")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles[::-1],
        names[::-1],
        title=f"rAU({task})",
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=9,
    )
    fig.tight_layout()
    return fit_to_column(fig)  # the text column's width; labels stay ≥ 9 pt on the page


def dominance(frame: pd.DataFrame, low: float = 0.2, high: float = 0.8) -> pd.DataFrame:
    """Per condition and method: % of shared parameters dominated by the right digit (rAU > 0.8),
    by the left digit (rAU ≤ 0.2) and balanced (0.4 < rAU ≤ 0.6), mean over seeds."""

    def share(part: pd.DataFrame, pick) -> float:
        chosen = part[part["bucket"].map(pick)]
        return 100 * chosen.groupby("seed")["share"].sum().mean() if len(chosen) else 0.0

    def bounds(label: str) -> tuple[float, float]:
        a, b = (float(x) for x in label.strip("(]").split(","))
        return a, b

    rows = []
    for (condition, method), part in frame.groupby(["condition", "method"], sort=False):
        rows.append({
            "condition": condition, "method": method,
            "right-dominated %": share(part, lambda b: bounds(b)[0] >= high),
            "left-dominated %": share(part, lambda b: bounds(b)[1] <= low),
            "balanced %": share(part, lambda b: bounds(b) == (0.4, 0.6)),
        })  # fmt: skip
    return pd.DataFrame(rows).set_index(["condition", "method"]).round(1)


__all__ = ["RAU_METHODS", "RAU_CONDITIONS", "rau_configs", "rau_frame", "plot_rau", "dominance"]
