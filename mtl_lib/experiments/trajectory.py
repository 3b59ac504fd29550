"""Optimisation trajectories on the CAGrad / Nash-MTL toy problem, through the real trainer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from mtl_lib.engine.trainer import Trainer
from mtl_lib.problems.toy import TOY_TASKS, DataFreeSteps, ToyModel, toy_objectives


@dataclass
class Trajectory:
    start: tuple[float, float]
    thetas: torch.Tensor  # (n_records, 2), first row is the start
    objectives: torch.Tensor  # (n_records, 2)


class TrajectoryRecorder:
    def __init__(self, every: int) -> None:
        self.every = every
        self.thetas: list[torch.Tensor] = []

    def on_train_start(self, trainer: Trainer) -> None:
        self.thetas.append(trainer.model.theta.detach().reshape(-1).clone())

    def on_step_end(self, trainer: Trainer, step: int, losses: Any) -> None:
        if step % self.every == 0:
            self.thetas.append(trainer.model.theta.detach().reshape(-1).clone())


def toy_trajectory(
    start: Sequence[float],
    *,
    weighting: Any = "ew",
    aggregator: Any = None,
    steps: int = 20_000,
    lr: float = 1e-3,
    f1_scale: float = 1.0,
    record_every: int = 50,
    steps_per_epoch: int = 100,
    jacobian_of: str = "parameters",
    weighting_kwargs: dict | None = None,
    aggregator_kwargs: dict | None = None,
) -> Trajectory:
    """Optimise θ from ``start`` with Adam and the given method; record θ every few steps.

    Epoch hooks (DWA, STCH warm-up) see one "epoch" per ``steps_per_epoch`` steps."""
    if steps % steps_per_epoch:
        raise ValueError(f"steps ({steps}) must be a multiple of steps_per_epoch ({steps_per_epoch})")
    model = ToyModel(start, f1_scale)
    recorder = TrajectoryRecorder(record_every)
    trainer = Trainer(
        model,
        TOY_TASKS,
        weighting=weighting,
        aggregator=aggregator,
        optimizer="adam",
        lr=lr,
        weighting_kwargs=weighting_kwargs,
        aggregator_kwargs=aggregator_kwargs,
        device="cpu",
        callbacks=[recorder],
        progress=False,
        jacobian_of=jacobian_of,
    )
    trainer.fit(DataFreeSteps(steps_per_epoch), epochs=steps // steps_per_epoch)
    thetas = torch.stack(recorder.thetas)
    return Trajectory(tuple(float(v) for v in start), thetas, toy_objectives(thetas, f1_scale))
