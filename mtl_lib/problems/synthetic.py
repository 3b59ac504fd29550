"""AdaTask's synthetic two-task regression as a problem: data, the 4-layer ELU MLP, tasks."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mtl_lib import metrics
from mtl_lib.architectures import synthetic_mlp
from mtl_lib.core.tasks import Task
from mtl_lib.data import TensorBatches, make_synthetic_regression
from mtl_lib.problems.base import PROBLEMS, ProblemInstance


@functools.lru_cache(maxsize=4)
def _cached_synthetic(n_train: int, n_test: int, data_seed: int, input_dist: str, spread: str, target_scaling: str):
    return make_synthetic_regression(
        n_train,
        n_test,
        data_seed=data_seed,
        input_dist=input_dist,
        spread=spread,
        target_scaling=target_scaling,
    )


@PROBLEMS.register("synthetic_regression")
def synthetic_regression_problem(
    *,
    seed: int,
    batch_size: int,
    device: torch.device,
    n_train: int = 10_000,
    n_test: int = 2_000,
    data_seed: int = 0,
    input_dist: str = "uniform",
    spread: str = "variance",
    target_scaling: str = "pooled",
    hidden: Sequence[int] = (100, 100, 100, 100),
    rotograd: bool = False,
    **unknown: Any,
) -> ProblemInstance:
    """AdaTask's synthetic regression (see :mod:`mtl_lib.data.synthetic`), the 4-layer ELU MLP,
    MSE training loss; metrics: RMSE, task-normalized RMSE (RMSE / std of the task's
    training targets) and ``nrmse_rms`` (RMSE / root mean square of the training targets). ``rotograd=True`` wraps the model in RotoGrad (rotations trained by
    their own optimizer through a callback)."""
    if unknown:
        raise TypeError(f"unknown synthetic_regression options {sorted(unknown)}")
    data = _cached_synthetic(n_train, n_test, data_seed, input_dist, spread, target_scaling)
    model = synthetic_mlp(hidden=tuple(hidden), task_names=data.task_names)
    callbacks: list[Any] = []
    if rotograd:
        from mtl_lib.architectures.rotograd import RotoGrad, RotoGradRotationStep

        model = RotoGrad(model)
        callbacks.append(RotoGradRotationStep())
    tasks = []
    for name, scale, rms in zip(data.task_names, data.target_scale, data.target_rms):
        tasks.append(
            Task(
                name=name,
                loss=nn.functional.mse_loss,
                metrics={
                    "rmse": metrics.rmse,
                    "nrmse": functools.partial(metrics.task_normalized_rmse, scale=scale),
                    # the same error over the targets' root mean square (mean included): the
                    # other reading of "task-normalized" the calibration considers
                    "nrmse_rms": functools.partial(metrics.task_normalized_rmse, scale=rms),
                },
                higher_is_better={"rmse": False, "nrmse": False, "nrmse_rms": False},
            )
        )
    train = TensorBatches(data.x_train, *data.y_train, batch_size=batch_size, seed=seed).to(device)
    test = TensorBatches(data.x_test, *data.y_test, batch_size=1024, shuffle=False).to(device)
    return ProblemInstance(
        model,
        tasks,
        train,
        test,
        f"synthetic regression, {n_train} train / {n_test} test samples",
        callbacks=callbacks,
    )
