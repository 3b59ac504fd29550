"""Fig. 1: noise on the shared parameters with the highest rAU(B) (and, as our control, on as
many random ones) and how much each task's error grows."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import torch

from mtl_lib.diagnostics import Diagnostic, RAUTracker
from mtl_lib.engine.trainer import Trainer
from mtl_lib.metrics.stats import mean_ci95
from mtl_lib.studies.adatask_rau.config import (
    NOISE_FRACTIONS,
    NOISE_VARIANCES,
    PUBLISHED_FIG1,
    RANDOM,
    TOP,
    TOP_AU,
    TOP_FISHER,
)


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
                flat.index_add_(
                    0, (indices[inside] - offset).to(p.device), noise[inside].to(device=p.device, dtype=p.dtype)
                )
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
    ablations: Mapping[str, torch.Tensor] | None = None,
) -> list[dict[str, Any]]:
    """Fig. 1: for each setting (variance σ² on the top 1 %, and fraction x at σ² = 0.01) and
    each draw, add N(0, σ²) to the top-x % shared parameters by ``rau_b`` and, as a control, to
    as many uniformly drawn shared parameters (a new set per draw); evaluate, restore.

    ``ablations`` (name → scores like ``rau_b``): further selections, each the top-x % by its own
    scores under the same grid. Their noise comes from a generator of its own (seeded ``seed + 1``,
    ``seed + 2``, …), so adding one leaves the rAU and random rows exactly as without it.

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
    for name, scores in (ablations or {}).items():
        if scores.numel() != total:
            raise ValueError(f"ablation {name!r} scores {scores.numel()} entries, the shared parameters are {total}")
    generator = torch.Generator().manual_seed(seed)
    backup = [p.detach().clone() for p in params]
    rows: list[dict[str, Any]] = []

    def perturbed(indices: torch.Tensor, variance: float, source: torch.Generator) -> dict[str, float]:
        add_noise_(params, indices, math.sqrt(variance) * torch.randn(indices.numel(), generator=source))
        try:
            return trainer.evaluate(eval_data)
        finally:
            with torch.no_grad():
                for p, b in zip(params, backup):
                    p.copy_(b)

    plans = [(TOP, rau_b, generator, True)] + [
        (name, scores, torch.Generator().manual_seed(seed + 1 + i), False)
        for i, (name, scores) in enumerate((ablations or {}).items())
    ]
    for selection_name, scores, source, with_random in plans:
        for variance, fraction in settings_grid:
            top = top_fraction_indices(scores.detach().cpu(), fraction)
            for draw in range(draws):
                for selection in (selection_name, RANDOM) if with_random else (selection_name,):
                    indices = top if selection != RANDOM else torch.randperm(total, generator=source)[: top.numel()]
                    noisy = perturbed(indices, variance, source)
                    rows += _increase_rows(noisy, clean, tasks, metric, selection, variance, fraction, draw)
    return rows


def _increase_rows(
    noisy: Mapping[str, float], clean: Mapping[str, float], tasks: Sequence[str], metric: str,
    selection: str, variance: float, fraction: float, draw: int,
) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for task in tasks:
        value, base = noisy[f"{task}/{metric}"], clean[f"{task}/{metric}"]
        rows.append(
            dict(
                selection=selection,
                variance=variance,
                fraction=fraction,
                draw=draw,
                task=task,
                value=value,
                clean=base,
                increase_pct=100.0 * (value / base - 1.0),
            )
        )
    return rows


def output_sensitivity(
    trainer: Trainer, eval_data: Any, task: str, *, repeats: int = 32, seed: int = 0
) -> torch.Tensor:
    """How much ``task``'s predictions move when each shared parameter element moves: the diagonal
    of the Gauss–Newton matrix of its outputs, Σ_n Σ_j (∂f_j(x_n)/∂θ_i)², flat ``(P,)`` over the
    first batch of ``eval_data``. For a squared loss this is (up to a constant) the Fisher
    information, so small noise of variance σ² on a set S raises the task's loss by about
    σ² Σ_{i∈S} of it: the parameters that matter for the task in Fig. 1's sense.

    Estimated without per-sample gradients: with v_{n,j} ~ N(0, 1) independent, the square of the
    gradient of Σ_n v_n·f(x_n) has that diagonal as its expectation (the cross terms average out);
    ``repeats`` such backward passes are averaged (seeded by ``seed``)."""
    model = trainer.model
    params = list(model.shared_parameters())
    index = [t.name for t in trainer.tasks].index(task)
    x = next(iter(eval_data))[0].to(trainer.device)
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(sum(p.numel() for p in params), device=params[0].device)
    was_training = model.training
    model.eval()
    try:
        for _ in range(repeats):
            output = model(x)[index].float()
            probe = torch.randn(output.shape, generator=generator).to(output.device)
            grads = torch.autograd.grad((output * probe).sum(), params, allow_unused=True)
            flat = torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)])
            total += flat.square()
    finally:
        model.train(was_training)
    return total / repeats


def selection_profile(
    tracker: RAUTracker,
    rankings: Mapping[str, torch.Tensor],
    sensitivity: Mapping[str, torch.Tensor],
    fractions: Sequence[float] = NOISE_FRACTIONS,
) -> list[dict[str, Any]]:
    """What each ranking selects: per ranking and top-x %, for every task the median over the
    selected elements of its AU (how much it moved them) and of its :func:`output_sensitivity`
    (``sensitivity``: how much its predictions depend on them), each divided by the median over
    all shared elements, and the selection's mean rAU. A sensitivity ratio near or below 1 says
    the selection holds parameters that matter no more to the task than a random one."""
    names = list(sensitivity)
    rau = {task: tracker.rau(task) for task in names}
    au = {task: tracker.accumulated_updates(task) for task in names}
    au_median = {task: au[task].median().clamp_min(1e-45) for task in names}
    fisher_median = {task: sensitivity[task].median().clamp_min(1e-45) for task in names}
    rows = []
    for selection, scores in rankings.items():
        for fraction in fractions:
            chosen = top_fraction_indices(scores.detach().cpu(), fraction).to(scores.device)
            row: dict[str, Any] = {"selection": selection, "fraction": fraction}
            for task in names:
                row[f"mean rAU({task})"] = float(rau[task][chosen].mean())
                row[f"AU({task}) / median"] = float(au[task][chosen].median() / au_median[task])
                row[f"Fisher({task}) / median"] = float(sensitivity[task][chosen].median() / fisher_median[task])
            rows.append(row)
    return rows


class NoiseProbe(Diagnostic):
    """The noise experiment as a run diagnostic: after training, :func:`noise_experiment` on
    ``tracker``'s rAU of ``task`` (record key ``"noise"``), with two ablations that rank the
    parameters otherwise: by the task's AU (``TOP_AU``: the parameters the task moves most, not
    those it moves more than the other task does) and by :func:`output_sensitivity`
    (``TOP_FISHER``: the parameters the task's predictions depend on most), and
    :func:`selection_profile` of the three rankings (record key ``"noise_selected"``)."""

    def __init__(self, tracker: RAUTracker, *, draws: int, seed: int, task: str = "B") -> None:
        self.tracker = tracker
        self.draws = draws
        self.seed = seed
        self.task = task

    def results(self, trainer: Any, eval_data: Any) -> dict[str, Any]:
        rau = self.tracker.rau(self.task)
        sensitivity = {t.name: output_sensitivity(trainer, eval_data, t.name, seed=self.seed) for t in trainer.tasks}
        ablations = {TOP_AU: self.tracker.accumulated_updates(self.task), TOP_FISHER: sensitivity[self.task]}
        rows = noise_experiment(trainer, eval_data, rau, draws=self.draws, seed=self.seed, ablations=ablations)
        profile = selection_profile(self.tracker, {TOP: rau, **ablations}, sensitivity)
        return {"noise": rows, "noise_selected": profile}


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
    selections = (TOP, RANDOM, TOP_AU, TOP_FISHER, "paper")
    order = [c for task in ("A", "B") for c in (f"{task}: {selection}" for selection in selections) if c in table]
    table = table[order].round(2)
    table.index = [f"σ²={v:g}, top {f * 100:g} %" for v, f in table.index]
    return table


__all__ = [
    "NoiseProbe",
    "add_noise_",
    "noise_experiment",
    "noise_summary",
    "noise_table",
    "output_sensitivity",
    "selection_profile",
    "top_fraction_indices",
]
