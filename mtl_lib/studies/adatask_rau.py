"""AdaTask's task-dominance analysis on the synthetic regression (Yang et al., AAAI 2023,
Figs. 1 and 2 and the "learning-rate dominance" paragraph of RQ3).

The notebook ``notebooks/adatask_rau.ipynb`` is a thin layer over this module. Three questions:

1. Is rAU a meaningful measure of dominance (Fig. 1)? Train EqualWeight with RMSProp, rank the
   shared parameters by rAU(i, T, B), add Gaussian noise N(0, σ²) to the top x % and measure how
   much each task's test RMSE grows; as a control (ours, not the paper's), add the same noise to
   as many *randomly chosen* shared parameters.
2. How dominated are the shared parameters under EqualWeight, PCGrad, UW, CAGrad, GradNorm and
   AdaTask-RMSProp (Fig. 2)? Runs go through :func:`mtl_lib.experiments.sweep` with
   ``diagnostics=("rau",)``, which records the rAU bucket shares into each result file.
3. Is the joint learning rate of RMSProp set by the dominant task? :class:`LearningRateProbe`
   follows a seeded sample of shared parameters and compares η/(√G + ε), with G RMSProp's own
   accumulator of the summed gradient, to η/(√G^k + ε), with G^k an accumulator fed with task
   k's gradient only along the same trajectory (the learning rate task k would get from an
   accumulator of its own).

Experiments 1 and 3 need the trained model and per-parameter rAU, which a sweep's result file
does not keep, so :func:`probe_run` trains those runs itself (same problem, model, seeds and
step as the sweep's EqualWeight run) and saves its results as one JSON file per run next to the
sweep's, so a re-executed notebook resumes.

rAU's decay γ is not given in the paper; the library's default is 0.9. :func:`probe_run`
tracks several γ at once so the notebook can show how much the bucket shares depend on it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.core.hooks import Callback
from mtl_lib.core.profiles import select
from mtl_lib.core.runtime import resolve_device, seed_everything
from mtl_lib.diagnostics.rau import DEFAULT_EDGES, RAUTracker
from mtl_lib.engine.trainer import Trainer
from mtl_lib.experiments import RunConfig, write_json_atomic
from mtl_lib.experiments.store import read_json
from mtl_lib.metrics.stats import mean_ci95
from mtl_lib.problems import PROBLEMS
from mtl_lib.studies import adatask_regime as regime
from mtl_lib.studies.adatask_synthetic import Claim
from mtl_lib.weighting import WEIGHTINGS

PROBLEM = "synthetic_regression"

#: Run sizes per profile. The training sizes at ``quick`` and ``paper`` are those of
#: :mod:`mtl_lib.studies.adatask_synthetic` (the paper gives none; see there). ``seeds``: the
#: bucket-share runs (Fig. 2); the probe runs (Fig. 1, LR, γ) use the first seed. ``noise_draws``:
#: noise samples per setting in Fig. 1 (the paper does not say how many it used).
#: ``probe_per_layer``: shared parameters sampled per layer for the learning-rate probe.
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": dict(seeds=(0,), noise_draws=2, probe_per_layer=8),
    "quick": dict(seeds=(0, 1, 2), noise_draws=10, probe_per_layer=64),
    "paper": dict(seeds=(0, 1, 2, 3, 4), noise_draws=20, probe_per_layer=64),
}

#: Method label → ingredients (RMSProp unless the method is an optimizer).
METHODS: dict[str, dict[str, Any]] = {
    "EqualWeight": dict(weighting="ew", optimizer="rmsprop"),
    "PCGrad": dict(weighting="ew", aggregator="pcgrad", optimizer="rmsprop"),
    "UW": dict(weighting="uw", optimizer="rmsprop"),
    "CAGrad": dict(weighting="ew", aggregator="cagrad", optimizer="rmsprop"),
    "GradNorm": dict(weighting="gradnorm", optimizer="rmsprop"),
    "AdaTask": dict(weighting="ew", optimizer="adatask_rmsprop"),
}

#: Fig. 1: noise variances on the top-1 % and fractions at variance 0.01 (the paper's grid).
NOISE_VARIANCES = (0.01, 0.02, 0.03, 0.04, 0.05)
NOISE_FRACTIONS = (0.01, 0.05, 0.10, 0.20)
#: rAU decays tracked by the probe runs (0.9 is the library's default, used by the sweep).
RAU_GAMMAS = (0.9, 0.99, 0.999)
TOP = "top rAU(B)"
RANDOM = "random"

#: The values of Fig. 1 the paper states in its text (relative RMSE increase, %).
PUBLISHED_FIG1 = pd.DataFrame(
    [
        (0.05, 0.01, "A", 3.23),
        (0.05, 0.01, "B", 175.13),
        (0.01, 0.01, "B", 7.20),
        (0.01, 0.20, "B", 72.62),
    ],
    columns=["variance", "fraction", "task", "increase_pct"],
)

#: Bucket colours: green (task A dominates) → yellow (balanced) → red (task B dominates), as
#: in the paper's figures.
BUCKET_COLORS = ("#1a9850", "#a6d96a", "#fee08b", "#fdae61", "#d73027")


def settings(profile: str) -> dict[str, Any]:
    """The frozen regime at ``profile`` plus this study's own sizes (seeds, noise draws, probe)."""
    return {**regime.settings(profile), **select(profile, SETTINGS)}


def limit_cpu_threads(device: str = "auto") -> None:
    """Use one CPU thread when training on the CPU.

    The models here are tiny (≈55 k shared parameters), so intra-op parallelism buys little;
    on the book's shared 2-core machine, with other processes running, two threads made a
    synthetic training step 10–100× slower than one (oversubscription), so the notebooks pin
    one thread. On a GPU nothing is changed."""
    if resolve_device(device).type == "cpu":
        torch.set_num_threads(1)


def _config(profile: str, method: str, seed: int, device: str, diagnostics: tuple[str, ...]) -> RunConfig:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; this study knows {list(METHODS)}")
    size = settings(profile)
    return RunConfig(
        problem=PROBLEM,
        lr=size["lr"],
        epochs=size["epochs"],
        batch_size=size["batch_size"],
        seed=seed,
        problem_kwargs=regime.problem_kwargs(profile),
        optimizer_kwargs=regime.optimizer_kwargs(profile, METHODS[method]["optimizer"]),
        label=method,
        device=device,
        diagnostics=diagnostics,
        **METHODS[method],
    )


def bucket_configs(profile: str, methods: Sequence[str] | None = None, device: str = "auto") -> list[RunConfig]:
    """Fig. 2: one run per method and seed, recording rAU bucket shares."""
    chosen = list(METHODS) if methods is None else list(methods)
    return [_config(profile, m, seed, device, ("rau",)) for m in chosen for seed in settings(profile)["seeds"]]


# ----------------------------------------------------------------------------- layers
def layer_of(tensor_name: str) -> str:
    """A layer is a module: its weight and bias (``encoder.0.weight`` → ``encoder.0``)."""
    return tensor_name.rsplit(".", 1)[0]


def shared_tensor_sizes(problem_kwargs: dict[str, Any] | None = None) -> dict[str, int]:
    """Element count of each shared tensor of the synthetic model, by name."""
    from mtl_lib.architectures import synthetic_mlp

    hidden = tuple((problem_kwargs or {}).get("hidden", (100, 100, 100, 100)))
    model = synthetic_mlp(hidden=hidden)
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: p.numel() for p in model.shared_parameters()}


# ----------------------------------------------------------------------------- Fig. 2
def bucket_frame(records: Sequence[dict[str, Any]], task: str = "B") -> pd.DataFrame:
    """Final rAU(·, T, task) bucket shares per run: columns method, seed, layer (``"all"`` or a
    module; a module's share pools its weight and bias by element count), bucket, share."""
    rows = []
    for record in records:
        sizes = shared_tensor_sizes(record["config"]["problem_kwargs"])
        per_tensor = record["diagnostics"]["rau_buckets"][task]
        for bucket in per_tensor["all"]:
            rows.append((record["method"], record["seed"], "all", bucket, per_tensor["all"][bucket]))
            pooled: dict[str, float] = {}
            counts: dict[str, int] = {}
            for name, shares in per_tensor.items():
                if name == "all":
                    continue
                layer = layer_of(name)
                pooled[layer] = pooled.get(layer, 0.0) + shares[bucket] * sizes[name]
                counts[layer] = counts.get(layer, 0) + sizes[name]
            rows += [(record["method"], record["seed"], layer, bucket, pooled[layer] / counts[layer]) for layer in pooled]
    return pd.DataFrame(rows, columns=["method", "seed", "layer", "bucket", "share"])


def bucket_table(frame: pd.DataFrame, layer: str = "all") -> pd.DataFrame:
    """Mean share (in %) over seeds per method and bucket, for one layer."""
    part = frame[frame["layer"] == layer]
    table = part.pivot_table(index="method", columns="bucket", values="share", aggfunc="mean", sort=False) * 100
    return table[bucket_labels()].round(1)


def bucket_labels(edges: Sequence[float] = DEFAULT_EDGES) -> list[str]:
    return [f"({a:g}, {b:g}]" for a, b in zip(edges, edges[1:])]


def pretty_bucket(label: str) -> str:
    low, high = (float(x) for x in label.strip("(]").split(","))
    return f"({low * 100:.0f} %, {high * 100:.0f} %]"


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
            ax.bar(range(len(layers)), table[label].to_numpy(), bottom=bottom, color=color, width=0.8,
                   label=pretty_bucket(label))
            bottom += table[label].to_numpy()
        ax.set_xticks(range(len(layers)), ["all"] + [f"L{i + 1}" for i in range(len(layers) - 1)])
        ax.set_title(method, fontsize=10)
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel("% of shared parameters")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles[::-1], names[::-1], title="rAU(B)", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def bucket_history(records: Sequence[dict[str, Any]], task: str = "B", seed: int | None = None) -> pd.DataFrame:
    """rAU(·, t, task) bucket shares of all shared parameters over training (one seed: the
    first one found unless ``seed`` is given): columns method, step, bucket, share."""
    frames = []
    for record in records:
        if seed is None:
            seed = record["seed"]
        if record["seed"] != seed:
            continue
        history = pd.DataFrame(record["diagnostics"]["rau_history"])
        history = history[(history["task"] == task) & (history["layer"] == "all")]
        frames.append(history.assign(method=record["method"])[["method", "step", "bucket", "share"]])
    return pd.concat(frames, ignore_index=True)


def plot_bucket_history(history: pd.DataFrame, title: str) -> plt.Figure:
    """Stacked areas of the rAU(B) bucket shares over training, one panel per method (the form
    of the paper's Fig. 2)."""
    methods = list(dict.fromkeys(history["method"]))
    labels = bucket_labels()
    fig, axes = plt.subplots(1, len(methods), figsize=(2.3 * len(methods) + 1.5, 2.8), sharey=True, squeeze=False)
    for ax, method in zip(axes[0], methods):
        part = history[history["method"] == method].pivot_table(index="step", columns="bucket", values="share")
        part = part[labels] * 100
        ax.stackplot(part.index, *[part[c] for c in labels], colors=BUCKET_COLORS,
                     labels=[pretty_bucket(c) for c in labels])
        ax.set_title(method, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylim(0, 100)
        ax.margins(x=0)
    axes[0][0].set_ylabel("% of shared parameters")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles[::-1], names[::-1], title="rAU(B)", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- Fig. 1 helpers
def top_fraction_indices(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """Indices of the ``round(fraction · P)`` (at least one) largest entries of the flat
    ``scores`` (P,). Ties at the threshold are broken arbitrarily but the count is exact."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    flat = scores.reshape(-1)
    count = max(1, round(fraction * flat.numel()))
    return torch.topk(flat, count, sorted=False).indices


def add_noise_(params: Sequence[torch.Tensor], indices: torch.Tensor, noise: torch.Tensor) -> None:
    """Add ``noise`` (one value per index) in place to the elements ``indices`` of the
    concatenation of the flattened ``params`` (the rAU tracker's order)."""
    if noise.shape != indices.shape:
        raise ValueError(f"{noise.numel()} noise values for {indices.numel()} indices")
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            inside = (indices >= offset) & (indices < offset + n)
            if bool(inside.any()):
                flat = p.view(-1)
                flat.index_add_(0, (indices[inside] - offset).to(p.device), noise[inside].to(device=p.device, dtype=p.dtype))
            offset += n
    if bool((indices >= offset).any()) or bool((indices < 0).any()):
        raise IndexError(f"indices outside the {offset} tracked parameters")


def noise_experiment(
    trainer: Trainer,
    eval_data: Any,
    rau_b: torch.Tensor,
    *,
    draws: int,
    seed: int,
    variances: Sequence[float] = NOISE_VARIANCES,
    fractions: Sequence[float] = NOISE_FRACTIONS,
    metric: str = "rmse",
) -> list[dict[str, Any]]:
    """Fig. 1: for each setting (variance σ² on the top 1 %, and fraction x at σ² = 0.01) and
    each draw, add N(0, σ²) to the top-x % shared parameters by ``rau_b`` and, as a control, to
    as many uniformly drawn shared parameters (a new set per draw); evaluate, restore.

    Returns rows ``selection, variance, fraction, draw, task, value, clean, increase_pct`` where
    ``increase_pct = 100 (value / clean − 1)`` of each task's ``metric``."""
    params = list(trainer.model.shared_parameters())
    total = sum(p.numel() for p in params)
    if rau_b.numel() != total:
        raise ValueError(f"rAU has {rau_b.numel()} entries, the shared parameters {total}")
    tasks = [t.name for t in trainer.tasks]
    clean = trainer.evaluate(eval_data)
    settings_grid = [(v, min(fractions)) for v in variances] + [(0.01, f) for f in fractions]
    settings_grid = list(dict.fromkeys(settings_grid))
    generator = torch.Generator().manual_seed(seed)
    backup = [p.detach().clone() for p in params]
    rows = []
    for variance, fraction in settings_grid:
        top = top_fraction_indices(rau_b.detach().cpu(), fraction)
        for draw in range(draws):
            for selection in (TOP, RANDOM):
                indices = top if selection == TOP else torch.randperm(total, generator=generator)[: top.numel()]
                noise = math.sqrt(variance) * torch.randn(indices.numel(), generator=generator)
                add_noise_(params, indices, noise)
                try:
                    noisy = trainer.evaluate(eval_data)
                finally:
                    with torch.no_grad():
                        for p, b in zip(params, backup):
                            p.copy_(b)
                for task in tasks:
                    value, base = noisy[f"{task}/{metric}"], clean[f"{task}/{metric}"]
                    rows.append(dict(selection=selection, variance=variance, fraction=fraction, draw=draw,
                                     task=task, value=value, clean=base, increase_pct=100.0 * (value / base - 1.0)))
    return rows


def noise_summary(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Mean relative increase (%) and its 95 % CI half-width over draws, per setting, selection
    and task."""
    frame = pd.DataFrame(rows)
    out = []
    for key, group in frame.groupby(["selection", "variance", "fraction", "task"], sort=True):
        mean, half = mean_ci95(group["increase_pct"].tolist())
        out.append((*key, mean, half, len(group)))
    return pd.DataFrame(out, columns=["selection", "variance", "fraction", "task", "increase_pct", "ci95", "draws"])


def noise_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Fig. 1 as a table: ours (top rAU(B) and random selections) beside the paper's values."""
    wide = summary.pivot_table(index=["variance", "fraction"], columns=["task", "selection"], values="increase_pct")
    wide.columns = [f"{task}: {selection}" for task, selection in wide.columns]
    paper = PUBLISHED_FIG1.pivot_table(index=["variance", "fraction"], columns="task", values="increase_pct")
    paper.columns = [f"{task}: paper" for task in paper.columns]
    table = wide.join(paper, how="left")
    order = [c for task in ("A", "B") for c in (f"{task}: {TOP}", f"{task}: {RANDOM}", f"{task}: paper") if c in table]
    table = table[order].round(2)
    table.index = [f"σ²={v:g}, top {f * 100:g} %" for v, f in table.index]
    return table


def plot_noise(summary: pd.DataFrame, title: str) -> plt.Figure:
    """Fig. 1: mean relative RMSE increase per task against σ² (top 1 %) and against the
    fraction (σ² = 0.01), top-rAU(B) and random selections, with the paper's stated values
    (the intervals over draws are in :func:`noise_summary`)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    colors = {"A": "#1a9850", "B": "#d73027"}
    small = summary["fraction"].min()
    panels = [
        (axes[0], summary[summary["fraction"] == small], "variance", f"σ² (noise on top {small * 100:g} %)",
         PUBLISHED_FIG1[PUBLISHED_FIG1["fraction"] == 0.01]),
        (axes[1], summary[summary["variance"] == 0.01], "fraction", "fraction of shared parameters (σ² = 0.01)",
         PUBLISHED_FIG1[PUBLISHED_FIG1["variance"] == 0.01]),
    ]
    for ax, part, x, xlabel, paper in panels:
        for task in sorted(part["task"].unique()):
            for selection, style in ((TOP, "-o"), (RANDOM, ":s")):
                line = part[(part["task"] == task) & (part["selection"] == selection)].sort_values(x)
                ax.plot(line[x], line["increase_pct"], style, color=colors[task], ms=4, label=f"task {task}, {selection}")
            dots = paper[paper["task"] == task]
            ax.scatter(dots[x], dots["increase_pct"], marker="*", s=90, color=colors[task], edgecolor="black",
                       zorder=5, label=f"task {task}, paper")
        ax.set_xticks(sorted(part[x].unique()))
        ax.set_xlabel(xlabel)
        ax.set_ylabel("relative RMSE increase (%)")
        ax.set_yscale("symlog", linthresh=1.0)
    axes[1].xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v * 100:g} %"))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- learning-rate probe
class LearningRateProbe(Callback):
    """Joint vs per-task effective learning rates of RMSProp on a seeded sample of shared
    parameters.

    For sampled element i: the joint rate η/(√G_i + ε) with G the optimizer's own
    ``square_avg`` (fed with the summed gradient), and for each task k the rate
    η/(√G^k_i + ε) with G^k ← α G^k + (1 − α)(g^k_i)², α, η and ε the optimizer's, fed with
    task k's gradient only along the same trajectory. ``joint_from_rows`` accumulates the sum of
    the task rows the same way; it equals ``square_avg`` when the rows are what the optimizer
    stepped with (a check, see the tests).

    ``per_layer`` elements are drawn uniformly (without replacement) from each layer (a module:
    weight and bias together) with a ``torch.Generator`` seeded by ``seed``. Needs torch's
    RMSprop without momentum and not centered, and the per-task rows of the shared gradient
    (``trainer.last_aggregation.task_gradients``; train equal weighting with ``aggregator="sum"``).
    """

    def __init__(self, per_layer: int = 64, seed: int = 0, record_every: int = 10) -> None:
        if per_layer < 1 or record_every < 1:
            raise ValueError(f"per_layer and record_every must be ≥ 1, got {per_layer}, {record_every}")
        self.per_layer = per_layer
        self.seed = seed
        self.record_every = record_every
        self.params: list[torch.Tensor] = []
        self.layers: list[str] = []
        self.task_names: list[str] = []
        self.index: torch.Tensor | None = None
        self.sample_layer: list[str] = []
        self.task_avg: torch.Tensor | None = None
        self.joint_from_rows: torch.Tensor | None = None
        self.steps = 0
        #: ``(step, joint (S,), per-task (K, S))`` learning rates, on the host.
        self.history: list[tuple[int, np.ndarray, np.ndarray]] = []

    def bind(self, model: Any, optimizer: torch.optim.Optimizer, task_names: Sequence[str]) -> None:
        if not isinstance(optimizer, torch.optim.RMSprop):
            raise TypeError(f"the learning-rate probe reads torch RMSprop's state, not {type(optimizer).__name__}")
        for group in optimizer.param_groups:
            if group["momentum"] or group["centered"]:
                raise NotImplementedError("the probe supports RMSprop without momentum and not centered")
        self.params = list(model.shared_parameters())
        names = {id(p): n for n, p in model.named_parameters()}
        tensor_names = [names.get(id(p), f"shared.{i}") for i, p in enumerate(self.params)]
        positions: dict[str, list[torch.Tensor]] = {}
        offset = 0
        for name, p in zip(tensor_names, self.params):
            positions.setdefault(layer_of(name), []).append(torch.arange(offset, offset + p.numel()))
            offset += p.numel()
        generator = torch.Generator().manual_seed(self.seed)
        chosen, owners = [], []
        for layer, ranges in positions.items():
            pool = torch.cat(ranges)
            pick = pool[torch.randperm(pool.numel(), generator=generator)[: self.per_layer]].sort().values
            chosen.append(pick)
            owners += [layer] * pick.numel()
        device = self.params[0].device
        self.index = torch.cat(chosen).to(device)
        self.sample_layer = owners
        self.layers = list(positions)
        self.task_names = list(task_names)
        self.task_avg = None
        self.joint_from_rows = None
        self.steps = 0
        self.history = []

    def on_train_start(self, trainer: Any) -> None:
        self.bind(trainer.model, trainer.optimizer, [t.name for t in trainer.tasks])

    def _group(self, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        ids = {id(p) for p in self.params}
        groups = [g for g in optimizer.param_groups if any(id(p) in ids for p in g["params"])]
        if len({(g["lr"], g["alpha"], g["eps"]) for g in groups}) != 1:
            raise ValueError("the shared parameters must share one lr, alpha and eps")
        return groups[0]

    def joint_square_avg(self, optimizer: torch.optim.Optimizer) -> torch.Tensor:
        """RMSProp's own accumulator G at the sampled elements."""
        flat = torch.cat([optimizer.state[p]["square_avg"].reshape(-1) for p in self.params])
        return flat[self.index]

    def on_step_end(self, trainer: Any, step: int, losses: Any) -> None:
        aggregation = trainer.last_aggregation
        rows = None if aggregation is None else aggregation.task_gradients
        if rows is None and aggregation is not None and aggregation.weights is not None:
            rows = aggregation.weights.unsqueeze(1) * trainer.last_jacobian
        if rows is None:
            raise RuntimeError("the learning-rate probe needs per-task gradients: train with aggregator='sum'")
        group = self._group(trainer.optimizer)
        alpha = group["alpha"]
        sample = rows.detach()[:, self.index]
        joint = sample.sum(0)
        if self.task_avg is None:
            self.task_avg = torch.zeros_like(sample)
            self.joint_from_rows = torch.zeros_like(joint)
        self.task_avg.mul_(alpha).addcmul_(sample, sample, value=1 - alpha)
        self.joint_from_rows.mul_(alpha).addcmul_(joint, joint, value=1 - alpha)  # type: ignore[union-attr]
        self.steps += 1
        if self.steps % self.record_every == 0:
            lr, eps = float(group["lr"]), group["eps"]
            joint_lr = lr / (self.joint_square_avg(trainer.optimizer).sqrt() + eps)
            task_lr = lr / (self.task_avg.sqrt() + eps)
            self.history.append((self.steps, joint_lr.cpu().numpy(), task_lr.cpu().numpy()))

    def summary(self) -> pd.DataFrame:
        """Quartiles over the sampled elements, per recorded step and layer (and ``"all"``), of
        the joint rate, each task's own rate and the ratios joint / task k: columns step, layer,
        quantity, q25, median, q75."""
        rows = []
        layers = np.array(self.sample_layer)
        for step, joint, per_task in self.history:
            quantities = {"joint": joint}
            for k, task in enumerate(self.task_names):
                quantities[f"{task} alone"] = per_task[k]
                quantities[f"joint / {task} alone"] = joint / per_task[k]
            for layer in ["all", *self.layers]:
                mask = np.ones_like(layers, dtype=bool) if layer == "all" else layers == layer
                for name, values in quantities.items():
                    q25, q50, q75 = np.quantile(values[mask], [0.25, 0.5, 0.75])
                    rows.append((step, layer, name, float(q25), float(q50), float(q75)))
        return pd.DataFrame(rows, columns=["step", "layer", "quantity", "q25", "median", "q75"])


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
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- probe runs
def _seeded_kwargs(factory: Any, kwargs: dict[str, Any], seed: int) -> dict[str, Any]:
    """As the runner: methods with their own randomness follow the run's seed."""
    kwargs = dict(kwargs)
    try:
        if "seed" in inspect.signature(factory).parameters:
            kwargs.setdefault("seed", seed)
    except (TypeError, ValueError):
        pass
    return kwargs


def probe_identity(profile: str, method: str, seed: int = 0) -> dict[str, Any]:
    """Everything that defines a probe run (its training config and the probe settings)."""
    size = settings(profile)
    config = _config(profile, method, seed, "auto", ())
    return {
        "config": config.identity(),
        "gammas": list(RAU_GAMMAS),
        "noise": None if method != "EqualWeight" else {
            "variances": list(NOISE_VARIANCES), "fractions": list(NOISE_FRACTIONS), "draws": size["noise_draws"],
        },
        "lr_probe": None if config.optimizer != "rmsprop" else {"per_layer": size["probe_per_layer"]},
    }


def probe_path(results_dir: str | Path, identity: dict[str, Any], method: str, seed: int) -> Path:
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    return Path(results_dir) / f"probe-{method}-seed{seed}-{digest}.json"


def probe_run(profile: str, results_dir: str | Path, method: str = "EqualWeight", seed: int = 0,
              device: str = "auto") -> dict[str, Any]:
    """Train ``method`` once with rAU trackers for every γ in :data:`RAU_GAMMAS` and, for
    EqualWeight, the learning-rate probe and the noise experiment of Fig. 1 (on rAU(B) with
    γ = 0.9, the library's default). The record is saved to ``results_dir`` and read back on
    later calls instead of training again."""
    identity = probe_identity(profile, method, seed)
    path = probe_path(results_dir, identity, method, seed)
    if path.exists():
        record = read_json(path)
        if record.get("identity") != identity:
            raise ValueError(f"{path} holds a different probe run than the one requested; delete it to re-run")
        return record
    started = time.perf_counter()
    size = settings(profile)
    config = _config(profile, method, seed, device, ())
    torch_device = resolve_device(device)
    seed_everything(seed)
    problem = PROBLEMS.get(PROBLEM)(seed=seed, batch_size=config.batch_size, device=torch_device, **config.problem_kwargs)
    trackers = {gamma: RAUTracker(gamma=gamma, record_every=10**9) for gamma in RAU_GAMMAS}
    steps = config.epochs * len(problem.train_data)  # type: ignore[arg-type]
    probe = LearningRateProbe(size["probe_per_layer"], seed=seed, record_every=max(1, steps // 50)) \
        if identity["lr_probe"] is not None else None
    aggregator = config.aggregator or "sum"  # per-task rows for rAU; same step as plain EW
    trainer = Trainer(
        problem.model, problem.tasks,
        weighting=config.weighting,
        aggregator=aggregator,
        optimizer=config.optimizer,
        lr=config.lr,
        optimizer_kwargs=config.optimizer_kwargs,
        weighting_kwargs=_seeded_kwargs(WEIGHTINGS.get(config.weighting), config.weighting_kwargs, seed),
        aggregator_kwargs=_seeded_kwargs(AGGREGATORS.get(aggregator), config.aggregator_kwargs, seed),
        device=torch_device,
        progress=False,
        callbacks=[*problem.callbacks, *trackers.values(), *([probe] if probe else [])],
    )
    history = trainer.fit(problem.train_data, epochs=config.epochs, eval_data=problem.eval_data)
    record: dict[str, Any] = {
        "identity": identity,
        "method": method,
        "seed": seed,
        "final": history[-1],
        "rau_buckets": {
            str(gamma): {task.name: tracker.bucket_shares(task.name).loc["all"].to_dict() for task in problem.tasks}
            for gamma, tracker in trackers.items()
        },
    }
    if probe is not None:
        record["lr_probe"] = probe.summary().to_dict(orient="list")
    if identity["noise"] is not None:
        record["noise"] = noise_experiment(
            trainer, problem.eval_data, trackers[RAU_GAMMAS[0]].rau("B"), draws=size["noise_draws"], seed=seed,
        )
    record["wall_time_s"] = time.perf_counter() - started
    write_json_atomic(path, record)
    return record


def gamma_table(probe_records: Sequence[dict[str, Any]], task: str = "B") -> pd.DataFrame:
    """Share (%) of shared parameters with rAU(task) in (80 %, 100 %] and in (40 %, 60 %] for
    each probe run and rAU decay γ."""
    rows = []
    for record in probe_records:
        for gamma, shares in record["rau_buckets"].items():
            rows.append({"method": record["method"], "γ": float(gamma),
                         "dominated by B: (80 %, 100 %]": 100 * shares[task]["(0.8, 1]"],
                         "balanced: (40 %, 60 %]": 100 * shares[task]["(0.4, 0.6]"]})
    return pd.DataFrame(rows).set_index(["method", "γ"]).round(1)


# ----------------------------------------------------------------------------- claims
def _share(frame: pd.DataFrame, method: str, bucket: str, layer: str = "all") -> float:
    part = frame[(frame["method"] == method) & (frame["layer"] == layer) & (frame["bucket"] == bucket)]
    return float(part["share"].mean()) if len(part) else math.nan


def check_claims(bucket_records: Sequence[dict[str, Any]], ew_probe: dict[str, Any]) -> list[Claim]:
    """The paper's claims about rAU and learning-rate dominance, each with a verdict computed
    from the records (bucket shares: mean over seeds, rAU γ = 0.9)."""
    frame = bucket_frame(bucket_records)
    seeds = frame["seed"].nunique()
    claims = []

    ew = _share(frame, "EqualWeight", "(0.8, 1]")
    claims.append(Claim(
        "EqualWeight leaves ≥ 90 % of shared parameters with rAU(B) in (80 %, 100 %].",
        "close to 100 % (Fig. 2a)",
        f"{100 * ew:.1f} % (mean over {seeds} seed(s))",
        bool(ew >= 0.9),
    ))

    ada = _share(frame, "AdaTask", "(0.4, 0.6]")
    claims.append(Claim(
        "AdaTask(-RMSProp) leaves ≥ 90 % of shared parameters with rAU(B) in (40 %, 60 %].",
        "more than 98 % in every layer after the first epochs",
        f"{100 * ada:.1f} % (mean over {seeds} seed(s))",
        bool(ada >= 0.9),
    ))

    pc = _share(frame, "PCGrad", "(0.8, 1]")
    claims.append(Claim(
        "PCGrad is close to EqualWeight: its share of B-dominated parameters is within 10 points of EqualWeight's.",
        "PCGrad close to EqualWeight (Fig. 2 caption)",
        f"PCGrad {100 * pc:.1f} % vs EqualWeight {100 * ew:.1f} %",
        bool(abs(pc - ew) <= 0.1),
    ))

    gn = sum(_share(frame, "GradNorm", b) for b in ("(0.2, 0.4]", "(0.4, 0.6]", "(0.6, 0.8]"))
    claims.append(Claim(
        "GradNorm leaves most shared parameters (≥ 50 %) dominated by neither task, rAU(B) in (20 %, 80 %].",
        "around 78 % not dominated by any task",
        f"{100 * gn:.1f} % (rAU(B) ≤ 20 %, i.e. dominated by A: {100 * _share(frame, 'GradNorm', '(0, 0.2]'):.1f} %; "
        f"> 80 %: {100 * _share(frame, 'GradNorm', '(0.8, 1]'):.1f} %)",
        bool(gn >= 0.5),
    ))

    summary = noise_summary(ew_probe["noise"])

    def increase(selection: str, variance: float, fraction: float, task: str) -> tuple[float, float]:
        row = summary[(summary["selection"] == selection) & np.isclose(summary["variance"], variance)
                      & np.isclose(summary["fraction"], fraction) & (summary["task"] == task)]
        return float(row["increase_pct"].iloc[0]), float(row["ci95"].iloc[0])

    b_top, _ = increase(TOP, 0.05, 0.01, "B")
    a_top, _ = increase(TOP, 0.05, 0.01, "A")
    claims.append(Claim(
        "Noise N(0, 0.05) on the top-1 % rAU(B) parameters of EqualWeight hurts task B much more "
        "than task A (we require B's relative RMSE increase ≥ 3× A's).",
        "B +175.13 %, A +3.23 %",
        f"B {b_top:+.2f} %, A {a_top:+.2f} %",
        bool(b_top > 0 and b_top >= 3 * max(a_top, 0.0)),
    ))

    by_fraction = [increase(TOP, 0.01, f, "B")[0] for f in NOISE_FRACTIONS]
    a_by_fraction = [increase(TOP, 0.01, f, "A")[0] for f in NOISE_FRACTIONS]
    monotone = all(x < y for x, y in zip(by_fraction, by_fraction[1:]))
    b_above = all(b > a for b, a in zip(by_fraction, a_by_fraction))
    claims.append(Claim(
        "With N(0, 0.01) on the top 1, 5, 10, 20 % by rAU(B), task B's RMSE increase grows with the "
        "fraction and stays above task A's.",
        "B +7.20 % (top 1 %) … +72.62 % (top 20 %), always above A",
        "B " + ", ".join(f"{x:+.2f} %" for x in by_fraction) + "; A " + ", ".join(f"{x:+.2f} %" for x in a_by_fraction),
        bool(monotone and b_above),
    ))

    b_rand, half_rand = increase(RANDOM, 0.05, 0.01, "B")
    _, half_top = increase(TOP, 0.05, 0.01, "B")
    margin = math.sqrt(np.nan_to_num(half_top) ** 2 + np.nan_to_num(half_rand) ** 2)
    claims.append(Claim(
        "High rAU(B) marks parameters that matter for B: noise N(0, 0.05) on the top-1 % rAU(B) "
        "parameters raises B's RMSE more than on as many random shared parameters (difference beyond "
        "its 95 % CI; our control, the paper has no random baseline).",
        "implied: 'a parameter with a high rAU for one task becomes much more important for that task'",
        f"top {b_top:+.2f} % vs random {b_rand:+.2f} % (± {margin:.2f})",
        bool(b_top - b_rand > margin),
    ))

    lr = pd.DataFrame(ew_probe["lr_probe"])
    last = lr[(lr["step"] == lr["step"].max()) & (lr["layer"] == "all")].set_index("quantity")["median"]
    to_b, to_a = float(last["joint / B alone"]), float(last["joint / A alone"])
    claims.append(Claim(
        "RMSProp's joint learning rate is set by task B: at the end of EqualWeight training the median "
        "(over sampled shared parameters) of joint / B-alone lies in [0.75, 1.25] while joint / A-alone ≤ 0.5.",
        "'the whole LR is very close to the separate LR of task B'",
        f"joint / B alone = {to_b:.2f}, joint / A alone = {to_a:.2f}",
        bool(0.75 <= to_b <= 1.25 and to_a <= 0.5),
    ))
    return claims


__all__ = [
    "LearningRateProbe",
    "METHODS",
    "PUBLISHED_FIG1",
    "SETTINGS",
    "add_noise_",
    "bucket_configs",
    "bucket_frame",
    "bucket_history",
    "bucket_table",
    "check_claims",
    "gamma_table",
    "limit_cpu_threads",
    "noise_experiment",
    "noise_summary",
    "noise_table",
    "plot_bucket_history",
    "plot_buckets",
    "plot_learning_rates",
    "plot_noise",
    "probe_run",
    "settings",
    "top_fraction_indices",
]
