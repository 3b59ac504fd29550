"""The chapter's data facts, sample images, Δm figure and the estimate of the ``paper`` sweep's cost."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from mtl_lib.metrics.stats import mean_ci95
from mtl_lib.studies._common import cost_per_step
from mtl_lib.studies._figures import book_subplots, fit_to_column
from mtl_lib.studies.multidigits.config import (
    EW,
    _label,
    grid_configs,
    methods,
    settings,
)
from mtl_lib.studies.multidigits.rau import (
    RAU_CONDITIONS,
    RAU_METHODS,
)


def data_facts(profile: str) -> dict[str, Any]:
    """Sizes of the source pools and composite splits, and whether any source image is shared
    between splits (it must not be)."""
    from mtl_lib.problems.multidigits import multidigits_data

    data = multidigits_data(**settings(profile)["data"])
    pools = {k: set(v.tolist()) for k, v in data.pools.items()}
    used = {k: set(s.sources.flatten().tolist()) for k, s in data.splits.items()}
    shared = sum(len(used[a] & used[b]) for a, b in (("train", "val"), ("train", "test"), ("val", "test")))
    return {
        "source images per pool": {k: len(v) for k, v in pools.items()},
        "composites per split": {k: len(s.images) for k, s in data.splits.items()},
        "source images shared between splits": shared,
        "every composite uses its own split's pool": all(used[k] <= pools[k] for k in pools),
    }


def plot_samples(profile: str, n: int = 8) -> plt.Figure:
    """The first ``n`` training composites with their labels."""
    from mtl_lib.problems.multidigits import multidigits_data

    data = multidigits_data(**settings(profile)["data"])
    split = data.splits["train"]
    fig, axes = book_subplots(1, n, height=1.3)
    for i, ax in enumerate(axes):
        ax.imshow(split.images[i, 0].numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"L={int(split.labels['left'][i])} R={int(split.labels['right'][i])}", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fit_to_column(fig)  # the text column's width; labels stay ≥ 9 pt on the page


def plot_delta_m(values: dict[str, list[float]], title: str) -> plt.Figure:
    """Δm per method with its 95 % interval (horizontal bars), sorted by the mean."""
    items = sorted(((k, *mean_ci95(v)) for k, v in values.items() if v), key=lambda x: x[1])
    fig, ax = plt.subplots(figsize=(6.5, 0.28 * len(items) + 1.2))
    ys = np.arange(len(items))
    means = np.array([m for _, m, _ in items])
    raw = np.array([h for _, _, h in items])
    halves = np.nan_to_num(raw)
    # one seed has no interval: grey, like "no detectable difference"
    colors = [
        "tab:gray" if math.isnan(r) else "tab:green" if m - h > 0 else "tab:red" if m + h < 0 else "tab:gray"
        for m, h, r in zip(means, halves, raw)
    ]
    for y, m, h, c in zip(ys, means, halves, colors):
        ax.errorbar(m, y, xerr=h, fmt="o", color=c, capsize=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(ys, [k for k, _, _ in items])
    ax.set_xlabel(
        "Δm (%), mean and 95 % CI over seeds\ngreen: better, red: worse, grey: no detectable difference",
        fontsize=9,
    )
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def paper_estimate(
    records: Sequence[dict[str, Any]], profile: str = "paper", workers: Sequence[int] = (1, 2, 4)
) -> dict[str, float]:
    """Estimated wall time of ``profile``'s sweep from the per-step costs measured in
    ``records`` (same methods; the per-step cost at the same batch size carries over): the
    sum over its runs of steps × the method's median cost per step, divided by each number of
    parallel worker processes in ``workers`` (assumes one free core per worker). Evaluation and
    start-up time are not included."""
    size = settings(profile)
    steps_per_run = size["epochs"] * math.ceil(size["data"]["n_train"] / size["batch_size"])
    costs: dict[str, list[float]] = {}
    for record in records:
        costs.setdefault(record["method"], []).append(cost_per_step(record))
    ew = float(np.median(costs[EW]))
    per_method = {m: float(np.median(v)) for m, v in costs.items()}
    n_seeds = len(size["seeds"])
    main = sum(per_method.get(m.label, ew) for m in methods(profile)) * n_seeds * steps_per_run
    grid = len(grid_configs(profile)) * ew * steps_per_run
    tuned = n_seeds * ew * steps_per_run
    rau = sum(per_method.get(_label(k) if k != "adatask_adam" else "AdaTask-Adam", ew) for k in RAU_METHODS)
    rau *= len(RAU_CONDITIONS) * len(size["rau_seeds"]) * steps_per_run
    total = main + grid + tuned + rau
    return {
        "runs": len(methods(profile)) * n_seeds
        + len(grid_configs(profile))
        + n_seeds
        + len(RAU_METHODS) * len(RAU_CONDITIONS) * len(size["rau_seeds"]),
        "steps per run": steps_per_run,
        **{f"hours with {n} worker{'s' if n > 1 else ''}": round(total / 3600 / n, 2) for n in workers},
    }


__all__ = ["data_facts", "plot_samples", "plot_delta_m", "paper_estimate"]
