"""The survey chapter: every method on one pair of gradients, on the two-objective toy problem,
and in a small benchmark. Notebooks ``notebooks/survey_*.md`` call these functions.

Every picture comes from the ordinary :class:`~mtl_lib.engine.Trainer`:

* **pair geometry** — :class:`PairModel` is a model whose two task losses have *fixed* gradients
  g₁, g₂ with respect to its one shared parameter W, and prescribed values that fall over the
  "epochs" (task 2 faster than task 1). W is pinned back to 0 after every step, so each step
  shows what the method does to the same two gradients, while the method's own state (learned
  weights, loss history, EMA targets, tracked gradients) evolves as in training. The direction
  drawn is W's gradient at the last step.
* **toy trajectories** — :func:`mtl_lib.experiments.trajectory.toy_trajectory`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import torch
from torch import nn

from mtl_lib.core.tasks import Task
from mtl_lib.engine.trainer import Trainer
from mtl_lib.experiments.trajectory import Trajectory, TrajectoryRecorder, toy_trajectory
from mtl_lib.problems.gradient_pair import GRADIENT_PAIR, PairModel
from mtl_lib.problems.toy import (
    CAGRAD_STARTS,
    PARETO_X2,
    DataFreeSteps,
    pareto_front,
    prediction_is_loss,
    toy_objectives,
)
from mtl_lib.studies import survey_claims
from mtl_lib.studies._common import per_profile
from mtl_lib.studies._figures import book_subplots, fit_to_column
from mtl_lib.studies.registry import Study


@dataclass
class Method:
    """One entry of the survey: how to ask the trainer for it, and how to label it."""

    key: str
    label: str
    part: str  # "loss" or "gradient"
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)
    #: Replaces entries of ``trainer_kwargs`` on the toy problem only (whose objectives reach −20:
    #: log-loss methods need a lower bound there).
    toy_kwargs: dict[str, Any] = field(default_factory=dict)


METHODS: list[Method] = [
    Method("ew", "EW (reference)", "loss", {"weighting": "ew"}),
    Method("uw", "UW", "loss", {"weighting": "uw"}),
    Method("dwa", "DWA", "loss", {"weighting": "dwa"}),
    # The toy's objectives lie above −20 and are negative near its Pareto set, where the geometric
    # mean is undefined: on the toy GLS runs on f_k + 20.
    Method("gls", "GLS", "loss", {"weighting": "gls"}, {"weighting_kwargs": {"shift": 20.0}}),
    # Likewise STCH's (log-)normalised losses: on the toy it measures them from −20.
    Method(
        "stch",
        "STCH",
        "loss",
        {"weighting": "stch", "weighting_kwargs": {"warmup_epochs": 2}},
        {"weighting_kwargs": {"warmup_epochs": 2, "shift": 20.0}},
    ),
    Method("rlw", "RLW", "loss", {"weighting": "rlw"}),
    Method("imtl_l", "IMTL-L", "loss", {"weighting": "imtl_l"}),
    Method("famo", "FAMO", "loss", {"weighting": "famo"}, {"weighting_kwargs": {"min_losses": (-21.0, -21.0)}}),
    Method("nash_mtl", "Nash-MTL", "gradient", {"aggregator": "nash_mtl"}),
    Method("mgda", "MGDA", "gradient", {"aggregator": "mgda"}),
    Method("moco", "MoCo", "gradient", {"aggregator": "moco"}),
    Method("gradnorm", "GradNorm", "gradient", {"weighting": "gradnorm"}),
    Method("pcgrad", "PCGrad", "gradient", {"aggregator": "pcgrad"}),
    Method("gradvac", "GradVac", "gradient", {"aggregator": "gradvac"}),
    Method("cagrad", "CAGrad", "gradient", {"aggregator": "cagrad"}),
    Method("rotograd", "RotoGrad (scaling)", "gradient", {}),
    Method("graddrop", "GradDrop", "gradient", {"aggregator": "graddrop"}),
    Method("imtl_g", "IMTL-G", "gradient", {"aggregator": "imtl_g"}),
    Method("aligned_mtl", "Aligned-MTL", "gradient", {"aggregator": "aligned_mtl"}),
    Method("upgrad", "UPGrad", "gradient", {"aggregator": "upgrad"}),
    Method("dualproj", "DualProj", "gradient", {"aggregator": "dualproj"}),
    Method("config", "ConFIG", "gradient", {"aggregator": "config"}),
    Method("fairgrad", "FairGrad", "gradient", {"aggregator": "fairgrad"}),
    Method("excess_mtl", "ExcessMTL", "gradient", {"aggregator": "excess_mtl"}),
    Method("modo", "MoDo", "gradient", {"aggregator": "modo"}),
    Method("sdmgrad", "SDMGrad", "gradient", {"aggregator": "sdmgrad"}),
    Method("crmogm", "CR-MOGM (MGDA)", "gradient", {"aggregator": "crmogm"}),
    Method(
        "db_mtl", "DB-MTL", "gradient", {"aggregator": "db_mtl"}, {"aggregator_kwargs": {"min_losses": (-21.0, -21.0)}}
    ),
]
METHODS_BY_KEY = {m.key: m for m in METHODS}


def method(key: str) -> Method:
    if key not in METHODS_BY_KEY:
        raise KeyError(f"unknown survey method {key!r}; known: {', '.join(METHODS_BY_KEY)}")
    return METHODS_BY_KEY[key]


# ------------------------------------------------------------------------- pair geometry
class _PinAndSchedule:
    """Sets this epoch's loss levels and pins W at 0 after every step."""

    def __init__(self, decay: Sequence[float]) -> None:
        self.decay = decay

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        levels = torch.tensor([d ** (epoch - 1) for d in self.decay], dtype=trainer.model.levels.dtype)
        trainer.model.levels.copy_(levels)

    def on_step_end(self, trainer: Trainer, step: int, losses: Any) -> None:
        with torch.no_grad():
            trainer.model.weight.zero_()


@dataclass
class PairGeometry:
    gradients: torch.Tensor  # (2, 2) the input pair
    direction: torch.Tensor  # (2,) the update direction (gradient handed to the optimizer)
    task_gradients: torch.Tensor | None  # (2, 2) modified per-task gradients, if the method has them
    final_losses: torch.Tensor  # (2,) the loss levels at the last step


class _Theta(nn.Module):
    """An "encoder" whose output is its own parameter: the representation z is θ itself."""

    def __init__(self, start: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(start.clone().unsqueeze(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a fresh non-leaf view per forward: RotoGrad's tensor hooks then live and die with
        # this step's graph instead of piling up on the parameter
        return self.weight.view_as(self.weight)


class _LinearLoss(nn.Module):
    def __init__(self, model: PairModel, task: int) -> None:
        super().__init__()
        self.owner = [model]  # a list, so the PairModel is not registered as a submodule
        self.task = task

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        pair = self.owner[0]
        return pair.levels[self.task] + pair.gradients[self.task] @ z[0]


class _ToyObjective(nn.Module):
    def __init__(self, task: int, f1_scale: float = 1.0) -> None:
        super().__init__()
        self.task = task
        self.f1_scale = f1_scale

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return toy_objectives(z[0], self.f1_scale)[self.task]


def _rotograd_scaling_only(encoder: nn.Module, heads: list[nn.Module], latent_dim: int):
    """RotoGrad's magnitude homogenisation with the rotations left at the identity: on a
    two-dimensional problem whose "representation" is the parameter vector itself, a rotation
    would change the problem being solved, so only the scaling half is meaningful here."""
    import warnings

    from mtl_lib.architectures.base import HardSharing
    from mtl_lib.architectures.rotograd import RotoGrad

    model = RotoGrad(HardSharing(encoder, heads, ["task 1", "task 2"]), latent_dim=latent_dim).double()
    model._warned_untrained = True  # rotations are deliberately not trained (see docstring)
    warnings.filterwarnings("ignore", message=".*rotation.*", category=UserWarning)
    return model


def rotograd_pair_geometry(
    gradients: torch.Tensor = GRADIENT_PAIR,
    *,
    epochs: int = 20,
    steps_per_epoch: int = 10,
    decay: Sequence[float] = (0.98, 0.9),
) -> PairGeometry:
    """:func:`pair_geometry` for RotoGrad's scaling: z = W receives Σ_k C·g_k/‖g_k‖."""
    pair = PairModel(gradients, [1.0, 1.0])
    encoder = _Theta(torch.zeros(gradients.shape[1], dtype=gradients.dtype))
    model = _rotograd_scaling_only(encoder, [_LinearLoss(pair, 0), _LinearLoss(pair, 1)], gradients.shape[1])
    model.register_buffer("levels", pair.levels)  # the schedule callback writes the levels here

    class Pin(_PinAndSchedule):
        def on_step_end(self, trainer: Trainer, step: int, losses: Any) -> None:
            with torch.no_grad():
                encoder.weight.zero_()

    trainer = Trainer(
        model,
        [Task(n, prediction_is_loss) for n in ("task 1", "task 2")],
        optimizer="adam",
        lr=0.05,
        device="cpu",
        progress=False,
        callbacks=[Pin(decay)],
    )
    trainer.fit(DataFreeSteps(steps_per_epoch), epochs=epochs)
    norms = model.last_gradient_norms
    rows = (
        None
        if norms is None
        else gradients / gradients.norm(dim=1, keepdim=True) * norms.unsqueeze(1).to(gradients.dtype)
    )
    return PairGeometry(gradients, encoder.weight.grad[0].detach().clone(), rows, pair.levels.clone())


def rotograd_toy_runs(profile: str) -> list:
    settings = toy_settings(profile)
    runs = []
    for start in settings["starts"]:
        encoder = _Theta(torch.tensor(list(start), dtype=torch.float64))
        model = _rotograd_scaling_only(encoder, [_ToyObjective(0), _ToyObjective(1)], 2)
        model.theta = encoder.weight  # what the trajectory recorder reads

        recorder = TrajectoryRecorder(settings["record_every"])
        trainer = Trainer(
            model,
            [Task(n, prediction_is_loss) for n in ("f1", "f2")],
            optimizer="adam",
            lr=settings["lr"],
            device="cpu",
            progress=False,
            callbacks=[recorder],
        )
        trainer.fit(DataFreeSteps(100), epochs=settings["steps"] // 100)
        thetas = torch.stack([t.reshape(-1) for t in recorder.thetas])
        runs.append(Trajectory(tuple(float(v) for v in start), thetas, toy_objectives(thetas)))
    return runs


def pair_geometry(
    key: str,
    gradients: torch.Tensor = GRADIENT_PAIR,
    *,
    epochs: int = 20,
    steps_per_epoch: int = 10,
    decay: Sequence[float] = (0.98, 0.9),
    lr: float = 0.05,
) -> PairGeometry:
    """Run a method for ``epochs`` × ``steps_per_epoch`` steps on :class:`PairModel` (task 1's
    loss decays by 2 % per epoch, task 2's by 10 %) and return what it did at the last step."""
    entry = method(key)
    model = PairModel(gradients, [1.0, 1.0])
    trainer = Trainer(
        model,
        [Task(name, prediction_is_loss) for name in model.task_names],
        optimizer="adam",
        lr=lr,
        device="cpu",
        progress=False,
        callbacks=[_PinAndSchedule(decay)],
        **entry.trainer_kwargs,
    )
    trainer.fit(DataFreeSteps(steps_per_epoch), epochs=epochs)
    aggregation = trainer.last_aggregation
    rows = None if aggregation is None else aggregation.task_gradients
    return PairGeometry(
        gradients=gradients,
        direction=model.weight.grad[0].detach().clone(),
        task_gradients=None if rows is None else rows.detach().clone(),
        final_losses=model.levels.clone(),
    )


def plot_pair_geometry(geometry: PairGeometry, title: str, ax: plt.Axes | None = None) -> plt.Axes:
    """Arrows: the two task gradients (grey), their sum (EW, dashed), the method's modified task
    gradients when it has them (thin), and its direction (thick)."""
    ax = ax or plt.gca()
    origin = (0.0, 0.0)
    g = geometry.gradients.numpy()
    for k, colour in enumerate(("tab:blue", "tab:orange")):
        ax.annotate(
            "", xy=g[k], xytext=origin, arrowprops={"arrowstyle": "->", "color": colour, "alpha": 0.45, "lw": 2}
        )
        ax.text(*(g[k] * 1.07), f"g{k + 1}", color=colour, fontsize=9)
    total = g.sum(0)
    ax.annotate("", xy=total, xytext=origin, arrowprops={"arrowstyle": "->", "color": "grey", "ls": "--"})
    if geometry.task_gradients is not None:
        for k, colour in enumerate(("tab:blue", "tab:orange")):
            ax.annotate(
                "",
                xy=geometry.task_gradients[k].numpy(),
                xytext=origin,
                arrowprops={"arrowstyle": "->", "color": colour, "lw": 1},
            )
    d = geometry.direction.numpy()
    ax.annotate("", xy=d, xytext=origin, arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 2.5})
    points = [g[0], g[1], total, d, (0, 0)]
    xs, ys = zip(*points)
    pad = 0.4
    ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    ax.set_aspect("equal")
    ax.axhline(0, color="lightgrey", lw=0.5)
    ax.axvline(0, color="lightgrey", lw=0.5)
    ax.set_title(title, fontsize=10)
    return ax


def direction_summary(geometry: PairGeometry) -> dict[str, float]:
    """Inner products of the direction with each task gradient (≥ 0: no task is hurt to first
    order) and its length relative to EW's."""
    g, d = geometry.gradients, geometry.direction
    ew = g.sum(0)
    return {
        "⟨d, g1⟩": float(d @ g[0]),
        "⟨d, g2⟩": float(d @ g[1]),
        "‖d‖ / ‖g1+g2‖": float(d.norm() / ew.norm()),
        "angle to EW (deg)": float(
            torch.rad2deg(torch.arccos(torch.clamp((d @ ew) / (d.norm() * ew.norm() + 1e-12), -1, 1)))
        ),
    }


# ------------------------------------------------------------------------- toy trajectories
TOY_SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {"steps": 300, "lr": 5e-2, "record_every": 10, "starts": CAGRAD_STARTS[:1]},
    # Adam moves about lr per step, so 800 steps at 5e-2 travel as far as 4,000 at 1e-2; the
    # trainer costs ~2-3 ms per toy step, and 25 methods x 3 starts at 2,000 steps took 575 s,
    # more than the 12-minute book build can give two survey pages on 2 cores
    "quick": {"steps": 800, "lr": 5e-2, "record_every": 10, "starts": CAGRAD_STARTS},
    "paper": {"steps": 50_000, "lr": 1e-3, "record_every": 250, "starts": CAGRAD_STARTS},
}


toy_settings = per_profile(TOY_SETTINGS)


def toy_runs(key: str, profile: str) -> list:
    """One trajectory per start point for a survey method."""
    settings = toy_settings(profile)
    entry = method(key)
    return [
        toy_trajectory(
            start,
            steps=settings["steps"],
            lr=settings["lr"],
            record_every=settings["record_every"],
            **{**entry.trainer_kwargs, **entry.toy_kwargs},
        )
        for start in settings["starts"]
    ]


def plot_toy(trajectories: list, title: str, axes: Sequence[plt.Axes] | None = None) -> Sequence[plt.Axes]:
    """Left: paths in parameter space over the contours of f1 + f2, Pareto set in red.
    Right: the same paths in objective space with the Pareto front."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    grid = torch.linspace(-10, 10, 201, dtype=torch.float64)
    xx, yy = torch.meshgrid(grid, grid, indexing="xy")
    values = toy_objectives(torch.stack([xx, yy], dim=-1)).sum(-1)
    axes[0].contour(xx.numpy(), yy.numpy(), values.numpy(), levels=20, cmap="Greys", linewidths=0.5)
    axes[0].plot([-7, 7], [PARETO_X2, PARETO_X2], color="red", lw=3, alpha=0.6, label="Pareto set")
    front = pareto_front()
    axes[1].plot(front[:, 0].numpy(), front[:, 1].numpy(), color="red", lw=3, alpha=0.6, label="Pareto front")
    for traj in trajectories:
        th, ob = traj.thetas.numpy(), traj.objectives.numpy()
        line = axes[0].plot(th[:, 0], th[:, 1], lw=1.5)[0]
        axes[0].scatter(*th[0], color=line.get_color(), marker="o", s=25)
        axes[0].scatter(*th[-1], color=line.get_color(), marker="*", s=90, edgecolor="black", zorder=5)
        axes[1].plot(ob[:, 0], ob[:, 1], lw=1.5, color=line.get_color())
        axes[1].scatter(*ob[-1], color=line.get_color(), marker="*", s=90, edgecolor="black", zorder=5)
    axes[0].set_xlabel("x1")
    axes[0].set_ylabel("x2")
    axes[0].set_title(f"{title}: parameters", fontsize=10)
    axes[1].set_xlabel("f1")
    axes[1].set_ylabel("f2")
    axes[1].set_title(f"{title}: objectives", fontsize=10)
    return axes


def distance_to_pareto_set(trajectories: list) -> list[float]:
    """Distance of each final point to the Pareto set (segment x2 = −8.3552, x1 ∈ [−7, 7])."""
    out = []
    for traj in trajectories:
        x1, x2 = (float(v) for v in traj.thetas[-1])
        dx = max(abs(x1) - 7.0, 0.0)
        out.append(math.hypot(dx, x2 - PARETO_X2))
    return out


# ------------------------------------------------------------------------- one method, one figure
@dataclass
class MethodReport:
    key: str
    label: str
    geometry: PairGeometry
    trajectories: list
    figure: plt.Figure

    def summary(self) -> dict[str, Any]:
        distances = distance_to_pareto_set(self.trajectories)
        return {
            "method": self.label,
            **{k: round(v, 3) for k, v in direction_summary(self.geometry).items()},
            "mean distance to Pareto set": round(sum(distances) / len(distances), 3),
        }


def show_method(key: str, profile: str) -> MethodReport:
    """Geometry on the shared gradient pair plus toy trajectories, in one row of three panels."""
    entry = method(key)
    if key == "rotograd":
        geometry, trajectories = rotograd_pair_geometry(), rotograd_toy_runs(profile)
    else:
        geometry, trajectories = pair_geometry(key), toy_runs(key, profile)
    # the text column's width, three panels (mtl_lib.studies._figures: labels stay ≥ 9 pt on the page)
    figure, axes = book_subplots(1, 3, height=3.0, gridspec_kw={"width_ratios": [1, 1.2, 1.2]})
    plot_pair_geometry(geometry, f"{entry.label}: gradient pair", axes[0])
    plot_toy(trajectories, entry.label, axes[1:])
    figure.tight_layout()
    fit_to_column(figure)
    plt.close(figure)
    return MethodReport(key, entry.label, geometry, trajectories, figure)


# ------------------------------------------------------------------------- the chapter's pages
#: Caption of every method's figure (MyST-NB puts it under the one output of the cell).
SHOW_METHOD_CAPTION = (
    "survey.show_method(",
    "Left: the method's update direction on the fixed gradient pair. Middle and right: toy runs "
    "from several starts in parameter space and in objective space, with the Pareto set / front in red.",
)

#: The survey's two method pages (no sweep: every run is a toy run made inside the page).
STUDIES = (
    Study(
        "survey_loss_balancing", "survey_loss_balancing",
        "Survey: every loss-balancing method on one gradient pair and the CAGrad toy problem",
        settings=toy_settings, estimated_s=55, captions=(SHOW_METHOD_CAPTION,),
        claims=survey_claims.LOSS_CLAIM_IDS,
    ),
    Study(
        "survey_gradient_balancing", "survey_gradient_balancing",
        "Survey: every gradient-balancing method on one gradient pair and the CAGrad toy problem",
        settings=toy_settings, estimated_s=250, captions=(SHOW_METHOD_CAPTION,),
        claims=survey_claims.DESCENT_CLAIM_IDS + survey_claims.GRADIENT_CLAIM_IDS,
    ),
)  # fmt: skip
