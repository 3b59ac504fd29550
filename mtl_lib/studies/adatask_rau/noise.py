"""Fig. 1: noise on the shared parameters with the highest rAU(B) (and, as our control, on as
many random ones) and how much each task's error grows."""

from __future__ import annotations

import math
from collections.abc import Sequence
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


class NoiseProbe(Diagnostic):
    """The noise experiment as a run diagnostic: after training, :func:`noise_experiment` on
    ``tracker``'s rAU of ``task`` (record key ``"noise"``)."""

    def __init__(self, tracker: RAUTracker, *, draws: int, seed: int, task: str = "B") -> None:
        self.tracker = tracker
        self.draws = draws
        self.seed = seed
        self.task = task

    def results(self, trainer: Any, eval_data: Any) -> dict[str, Any]:
        rau = self.tracker.rau(self.task)
        return {"noise": noise_experiment(trainer, eval_data, rau, draws=self.draws, seed=self.seed)}


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


__all__ = [
    "NoiseProbe",
    "add_noise_",
    "noise_experiment",
    "noise_summary",
    "noise_table",
    "top_fraction_indices",
]
