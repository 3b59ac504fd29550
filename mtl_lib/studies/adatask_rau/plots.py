"""The rAU study's figures: bucket shares (Fig. 2), noise (Fig. 1), learning rates."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mtl_lib.studies._figures import fit_to_column
from mtl_lib.studies.adatask_rau.buckets import bucket_labels, pretty_bucket
from mtl_lib.studies.adatask_rau.config import PUBLISHED_FIG1, RANDOM, TOP

#: Bucket colours: green (task A dominates) → yellow (balanced) → red (task B dominates), as
#: in the paper's figures.
BUCKET_COLORS = ("#1a9850", "#a6d96a", "#fee08b", "#fdae61", "#d73027")


def _finish_bucket_panels(fig: plt.Figure, axes: np.ndarray, title: str) -> plt.Figure:
    """Shared y label, one legend of the buckets (dominated by B on top) and the title."""
    axes[0][0].set_ylabel("% of shared parameters")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles[::-1], names[::-1], title="rAU(B)", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fit_to_column(fig)  # the text column's width; labels stay ≥ 9 pt on the page


def plot_buckets(frame: pd.DataFrame, title: str) -> plt.Figure:
    """Stacked bars of the final rAU(B) bucket shares: one panel per method, one bar for all
    shared parameters and one per layer (mean over seeds)."""
    methods = list(dict.fromkeys(frame["method"]))
    labels = bucket_labels()
    fig, axes = plt.subplots(1, len(methods), figsize=(2.3 * len(methods) + 1.5, 3.4), sharey=True, squeeze=False)
    for ax, method in zip(axes[0], methods):
        part = frame[frame["method"] == method]
        table = part.pivot_table(index="layer", columns="bucket", values="share", aggfunc="mean", sort=False)
        layers = ["all"] + [x for x in dict.fromkeys(part["layer"]) if x != "all"]  # model order
        table = table.loc[layers, labels] * 100
        bottom = np.zeros(len(layers))
        for label, color in zip(labels, BUCKET_COLORS):
            ax.bar(
                range(len(layers)),
                table[label].to_numpy(),
                bottom=bottom,
                color=color,
                width=0.8,
                label=pretty_bucket(label),
            )
            bottom += table[label].to_numpy()
        ax.set_xticks(range(len(layers)), ["all"] + [f"L{i + 1}" for i in range(len(layers) - 1)])
        ax.set_title(method, fontsize=10)
        ax.set_ylim(0, 100)
    return _finish_bucket_panels(fig, axes, title)


def plot_bucket_history(history: pd.DataFrame, title: str) -> plt.Figure:
    """Stacked areas of the rAU(B) bucket shares over training, one panel per method (the form
    of the paper's Fig. 2)."""
    methods = list(dict.fromkeys(history["method"]))
    labels = bucket_labels()
    fig, axes = plt.subplots(1, len(methods), figsize=(2.3 * len(methods) + 1.5, 2.8), sharey=True, squeeze=False)
    for ax, method in zip(axes[0], methods):
        part = history[history["method"] == method].pivot_table(index="step", columns="bucket", values="share")
        part = part[labels] * 100
        ax.stackplot(
            part.index, *[part[c] for c in labels], colors=BUCKET_COLORS, labels=[pretty_bucket(c) for c in labels]
        )
        ax.set_title(method, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylim(0, 100)
        ax.margins(x=0)
    return _finish_bucket_panels(fig, axes, title)


def plot_noise(summary: pd.DataFrame, title: str) -> plt.Figure:
    """Fig. 1: mean relative RMSE increase per task against σ² (top 1 %) and against the
    fraction (σ² = 0.01), top-rAU(B) and random selections, with the paper's stated values
    (the intervals over draws are in :func:`noise_summary`)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    colors = {"A": "#1a9850", "B": "#d73027"}
    small = summary["fraction"].min()
    panels = [
        (
            axes[0],
            summary[summary["fraction"] == small],
            "variance",
            f"σ² (noise on top {small * 100:g} %)",
            PUBLISHED_FIG1[PUBLISHED_FIG1["fraction"] == 0.01],
        ),
        (
            axes[1],
            summary[summary["variance"] == 0.01],
            "fraction",
            "fraction of shared parameters (σ² = 0.01)",
            PUBLISHED_FIG1[PUBLISHED_FIG1["variance"] == 0.01],
        ),
    ]
    for ax, part, x, xlabel, paper in panels:
        for task in sorted(part["task"].unique()):
            for selection, style in ((TOP, "-o"), (RANDOM, ":s")):
                line = part[(part["task"] == task) & (part["selection"] == selection)].sort_values(x)
                ax.plot(
                    line[x], line["increase_pct"], style, color=colors[task], ms=4, label=f"task {task}, {selection}"
                )
            dots = paper[paper["task"] == task]
            ax.scatter(
                dots[x],
                dots["increase_pct"],
                marker="*",
                s=90,
                color=colors[task],
                edgecolor="black",
                zorder=5,
                label=f"task {task}, paper",
            )
        ax.set_xticks(sorted(part[x].unique()))
        ax.set_xlabel(xlabel)
        ax.set_ylabel("relative RMSE increase (%)")
        ax.set_yscale("symlog", linthresh=1.0)
    axes[1].xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v * 100:g} %"))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fit_to_column(fig)  # the text column's width; labels stay ≥ 9 pt on the page


def plot_learning_rates(summary: pd.DataFrame, title: str) -> plt.Figure:
    """Median (line) and interquartile range (band) of the joint and per-task effective learning
    rates of the sampled shared parameters over training, one panel per layer."""
    layers = [x for x in dict.fromkeys(summary["layer"]) if x != "all"]
    quantities = [q for q in dict.fromkeys(summary["quantity"]) if "/" not in q]
    colors = {"joint": "black", "A alone": "#1a9850", "B alone": "#d73027"}
    fig, axes = plt.subplots(1, len(layers), figsize=(2.6 * len(layers) + 1.5, 3.0), sharey=True, squeeze=False)
    for i, (ax, layer) in enumerate(zip(axes[0], layers)):
        for quantity in quantities:
            part = summary[(summary["layer"] == layer) & (summary["quantity"] == quantity)]
            color = colors.get(quantity)
            ax.plot(part["step"], part["median"], color=color, label=quantity, lw=1.5)
            ax.fill_between(part["step"], part["q25"], part["q75"], color=color, alpha=0.2, lw=0)
        ax.set_yscale("log")
        ax.set_title(f"L{i + 1} ({layer})", fontsize=10)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("effective learning rate η/(√G + ε)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fit_to_column(fig)  # the text column's width; labels stay ≥ 9 pt on the page


__all__ = [
    "BUCKET_COLORS",
    "plot_bucket_history",
    "plot_buckets",
    "plot_learning_rates",
    "plot_noise",
]
