"""AdaTask's synthetic two-task regression as a problem: data, the 4-layer ELU MLP, tasks.

Every run records, per task and at every evaluation, four task-normalized errors, so that a
table can be read under any of them without retraining (:data:`TASK_NORMALIZATIONS` maps each
definition to its record key ``"<task>/<key>"``):

==============  ==============  ==========================================================
definition      record key      formula (on the evaluation set; L = mean squared error)
==============  ==============  ==========================================================
``std``         ``nrmse``       RMSE(T) / std of the task's training targets
``rms``         ``nrmse_rms``   RMSE(T) / root mean square of the task's training targets
``loss_ratio``  ``loss_ratio``  L(T) / L(0)
``rmse_ratio``  ``rmse_ratio``  RMSE(T) / RMSE(0) = sqrt(L(T) / L(0))
==============  ==============  ==========================================================

AdaTask (Yang et al., AAAI 2023) reports "Task-Normalized RMSE, following GradNorm" without a
formula; the first two are readings of "RMSE normalized by the targets' scale", the last two
follow GradNorm itself (Chen et al., ICML 2018, arXiv 1711.02257, §4 "A Toy Example"), whose
task-normalized test-time loss is each task's loss relative to its value at initialisation.
Here ``L(0)`` is measured once per run, when the problem is built: the freshly initialised
network (seeded by the run's seed, before any step) on the whole test set. An architecture
wrapper added later by the run config (``RunConfig.architecture``) is not part of that forward
pass; RotoGrad's rotations start at the identity, so for it the two agree.

:data:`DEFAULT_TASK_NORMALIZATION` (``"std"``) is the definition the chapters have used; a
study switches with one parameter through :func:`task_normalized_key`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mtl_lib import metrics
from mtl_lib.architectures import synthetic_mlp
from mtl_lib.core.model import MultiTaskModel
from mtl_lib.core.options import OptionError, require_choice, require_integer
from mtl_lib.core.tasks import Task
from mtl_lib.data import TensorBatches, make_synthetic_regression
from mtl_lib.data.synthetic import INPUT_DISTS, SPREADS, TARGET_SCALINGS
from mtl_lib.metrics.scores import loss_ratio, rmse_ratio
from mtl_lib.problems.base import PROBLEMS, ProblemInstance, unknown_options_error

#: Definition of "task-normalized error" → the metric key every synthetic run records.
TASK_NORMALIZATIONS: dict[str, str] = {
    "std": "nrmse",
    "rms": "nrmse_rms",
    "loss_ratio": "loss_ratio",
    "rmse_ratio": "rmse_ratio",
}
#: Definition → how a figure's axis or a table's caption names it.
TASK_NORMALIZATION_LABELS: dict[str, str] = {
    "std": "RMSE / std of the targets",
    "rms": "RMSE / RMS of the targets",
    "loss_ratio": "loss ratio L(T) / L(0)",
    "rmse_ratio": "RMSE(T) / RMSE(0)",
}
#: The library's default definition when a caller names none (the AdaTask studies use the one
#: frozen by their calibration instead, :func:`mtl_lib.studies.adatask_regime.definition`).
DEFAULT_TASK_NORMALIZATION = "std"


def task_normalized_key(definition: str = DEFAULT_TASK_NORMALIZATION) -> str:
    """The record key (``"<task>/<key>"``) of a definition of task-normalized error (see the
    module docstring); an unknown definition lists the valid ones."""
    require_choice("synthetic_regression", "task normalization", definition, TASK_NORMALIZATIONS)
    return TASK_NORMALIZATIONS[definition]


#: Seed offset of the validation samples' generator (apart from the data's and the fresh
#: training samples' streams, 10_007 + run seed).
VALIDATION_STREAM = 2_000_003


@torch.no_grad()
def initial_test_losses(model: MultiTaskModel, x_test: torch.Tensor, y_test: Sequence[torch.Tensor]) -> list[float]:
    """Each task's mean squared error of ``model`` (as initialised) on the test set: ``L(0)``
    of GradNorm's loss ratio. Runs in evaluation mode in chunks with float64 sums, and leaves
    the model's mode and every random generator untouched."""
    was_training = model.training
    model.eval()
    sums = [0.0] * len(y_test)
    for start in range(0, len(x_test), 4096):
        outputs = model(x_test[start : start + 4096])
        for k, (prediction, target) in enumerate(zip(outputs, y_test)):
            sums[k] += float((prediction.double() - target[start : start + 4096].double()).square().sum())
    model.train(was_training)
    return [total / y.numel() for total, y in zip(sums, y_test)]


#: How training samples are used: "fixed" (one training set of ``n_train`` samples, reshuffled
#: every epoch) or "fresh" (new samples at every step, as GradNorm's toy port
#: brianlan/pytorch-grad-norm draws them; an epoch is then ``ceil(n_train / batch_size)`` steps).
SAMPLINGS = ("fixed", "fresh")


class FreshBatches:
    """Mini-batches of new samples at every step, drawn by ``draw(n, generator)`` from a
    generator seeded by the run's seed (so a run is reproducible and seeds differ); ``len`` is
    the number of steps per epoch."""

    def __init__(self, draw: Any, n_per_epoch: int, batch_size: int, seed: int, device: torch.device) -> None:
        self.draw, self.n_per_epoch, self.batch_size, self.device = draw, n_per_epoch, batch_size, device
        self.generator = torch.Generator().manual_seed(10_007 + seed)  # a stream apart from the model's

    def __len__(self) -> int:
        return -(-self.n_per_epoch // self.batch_size)

    def __iter__(self) -> Any:
        for step in range(len(self)):
            size = min(self.batch_size, self.n_per_epoch - step * self.batch_size)
            x, ys = self.draw(size, self.generator)
            yield (x.to(self.device), *(y.to(self.device) for y in ys))


@functools.lru_cache(maxsize=4)
def _cached_synthetic(n_train: int, n_test: int, data_seed: int, input_dist: str, spread: str, target_scaling: str,
                      noise_spread: str = "variance"):  # fmt: skip
    return make_synthetic_regression(
        n_train,
        n_test,
        data_seed=data_seed,
        input_dist=input_dist,
        spread=spread,
        target_scaling=target_scaling,
        noise_spread=noise_spread,
    )


def _check_options(n_train: Any, n_test: Any, data_seed: Any, input_dist: Any, spread: Any,
                   target_scaling: Any, hidden: Any, rotograd: Any, noise_spread: Any = "variance",
                   sampling: Any = "fixed") -> None:  # fmt: skip
    """Every option's type and range, before the data are generated (issue 25: an error names
    the option and what it takes)."""
    owner = "synthetic_regression problem"
    require_integer(owner, "n_train", n_train, minimum=1)
    require_integer(owner, "n_test", n_test, minimum=1)
    require_integer(owner, "data_seed", data_seed, minimum=0)
    require_choice(owner, "input_dist", input_dist, INPUT_DISTS)
    require_choice(owner, "spread", spread, SPREADS)
    require_choice(owner, "noise_spread", noise_spread, SPREADS)
    require_choice(owner, "sampling", sampling, SAMPLINGS)
    require_choice(owner, "target_scaling", target_scaling, TARGET_SCALINGS)
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence) or not hidden:
        raise OptionError(
            f"{owner}: option 'hidden' must be a non-empty sequence of layer widths, e.g. (100, 100, 100, 100), "
            f"got {hidden!r}"
        )
    for i, width in enumerate(hidden):
        require_integer(owner, f"hidden[{i}]", width, minimum=1)
    if not isinstance(rotograd, bool):
        raise OptionError(f"{owner}: option 'rotograd' must be True or False, got {rotograd!r}")


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
    noise_spread: str = "variance",
    sampling: str = "fixed",
    n_val: int = 0,
    eval_split: str = "test",
    **unknown: Any,
) -> ProblemInstance:
    """AdaTask's synthetic regression (see :mod:`mtl_lib.data.synthetic`), the 4-layer ELU MLP,
    MSE training loss; metrics per task: ``rmse`` and the four task-normalized errors of the
    module docstring (``nrmse``, ``nrmse_rms``, ``loss_ratio``, ``rmse_ratio``).
    ``rotograd=True`` wraps the model in RotoGrad (rotations trained by their own optimizer
    through a callback). ``spread``/``noise_spread``: N(m, s) read as variance or std for the
    matrices / the noise; ``sampling``: a fixed training set or fresh samples every step
    (:data:`SAMPLINGS`). ``eval_split="val"`` evaluates on ``n_val`` further samples of the same
    problem (for choosing settings without touching the test set): drawn from a generator of
    their own (:data:`VALIDATION_STREAM` + ``data_seed``), so the training and test data are the
    same with or without them, and the loss ratios are then relative to L(0) on that split."""
    if unknown:
        raise unknown_options_error("synthetic_regression", synthetic_regression_problem, unknown)
    _check_options(n_train, n_test, data_seed, input_dist, spread, target_scaling, hidden, rotograd, noise_spread,
                   sampling)  # fmt: skip
    require_integer("synthetic_regression problem", "n_val", n_val, minimum=0)
    require_choice("synthetic_regression problem", "eval_split", eval_split, ("test", "val"))
    if eval_split == "val" and n_val < 1:
        raise OptionError("synthetic_regression problem: eval_split='val' needs n_val >= 1 validation samples")
    data = _cached_synthetic(n_train, n_test, data_seed, input_dist, spread, target_scaling, noise_spread)
    x_eval, y_eval = data.x_test, data.y_test
    if eval_split == "val":
        x_eval, y_eval = data.draw(n_val, torch.Generator().manual_seed(VALIDATION_STREAM + data_seed))
    model = synthetic_mlp(hidden=tuple(hidden), task_names=data.task_names)
    callbacks: list[Any] = []
    if rotograd:
        from mtl_lib.architectures.rotograd import RotoGrad, RotoGradRotationStep

        model = RotoGrad(model)
        callbacks.append(RotoGradRotationStep())
    initial = initial_test_losses(model, x_eval, y_eval)
    tasks = []
    for name, scale, rms, l0 in zip(data.task_names, data.target_scale, data.target_rms, initial):
        scores = {
            "rmse": metrics.rmse,
            "nrmse": functools.partial(metrics.task_normalized_rmse, scale=scale),
            # the same error over the targets' root mean square (mean included)
            "nrmse_rms": functools.partial(metrics.task_normalized_rmse, scale=rms),
            # GradNorm's normalisation: relative to this run's initialised network
            "loss_ratio": functools.partial(loss_ratio, initial_loss=l0),
            "rmse_ratio": functools.partial(rmse_ratio, initial_loss=l0),
        }
        tasks.append(Task(name=name, loss=nn.functional.mse_loss, metrics=scores,
                          higher_is_better=dict.fromkeys(scores, False)))  # fmt: skip
    if sampling == "fresh":
        train: Any = FreshBatches(data.draw, n_train, batch_size, seed, device)
    else:
        train = TensorBatches(data.x_train, *data.y_train, batch_size=batch_size, seed=seed).to(device)
    test = TensorBatches(x_eval, *y_eval, batch_size=1024, shuffle=False).to(device)
    return ProblemInstance(
        model,
        tasks,
        train,
        test,
        f"synthetic regression, {n_train} {'fresh samples per epoch' if sampling == 'fresh' else 'train'} / "
        + (f"{n_test} test samples" if eval_split == "test" else f"evaluated on {n_val} validation samples"),
        callbacks=callbacks,
    )
