"""The "multidigits" problem: two (or three) classification tasks on composites of REAL
handwritten digits (:mod:`mtl_lib.data.multidigits`), with the LeNet-style hard-sharing network
(:func:`mtl_lib.architectures.lenet.lenet`).

Options (``RunConfig.problem_kwargs``):

* ``n_train`` / ``n_val`` / ``n_test`` (2000 / 500 / 1000 composites), ``canvas`` (12),
  ``max_shift`` (1), ``data_seed`` (0): the data (see the data module);
* ``third_task`` (False): add ``parity`` = (left + right) mod 2, for K = 3;
* ``loss_scales`` (None): one multiplier per task for its training loss, e.g. ``(1, 10)`` to
  make the right digit's loss ten times larger (an imbalance made on purpose; metrics are
  unaffected);
* ``eval_split`` ("test"): which split the run evaluates on; "val" is for choosing settings
  (the tuned-EW grid), "test" for reporting;
* ``upsample`` (1): integer factor of nearest-neighbour upsampling, for models that need larger
  inputs;
* ``rotograd`` (False): wrap the network in RotoGrad (rotations trained by their own optimizer);
* ``rotation_lr`` (None): the learning rate of RotoGrad's rotations (None: the library's default,
  0.05, from the authors' toy example; their advice for real problems is a rate below the
  model's, and the MultiDigits chapter uses a tenth of it);
* ``channels`` ((8, 16)), ``hidden`` (50), ``head_hidden`` (50): the network.

Metrics per task: accuracy.

Every option is checked before the data are built: a wrong type (``n_train="64"``, ``64.0``)
or value (``data_seed=-1``, a negative or zero loss scale, ``upsample=1.5``) raises
:class:`~mtl_lib.core.options.OptionError` naming the option and its valid range.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mtl_lib import metrics
from mtl_lib.architectures.lenet import lenet
from mtl_lib.core.options import OptionError, require_choice, require_integer, require_positive
from mtl_lib.core.tasks import Task
from mtl_lib.data.batches import TensorBatches
from mtl_lib.data.multidigits import MultiDigits, check_multidigits_settings, make_multidigits
from mtl_lib.problems.base import PROBLEMS, ProblemInstance, unknown_options_error

_OWNER = "multidigits problem"


@functools.lru_cache(maxsize=4)
def multidigits_data(
    n_train: int = 2000, n_val: int = 500, n_test: int = 1000, canvas: int = 12, max_shift: int = 1,
    third_task: bool = False, data_seed: int = 0,
) -> MultiDigits:  # fmt: skip
    """The composites, cached per setting (every run of a sweep shares them)."""
    return make_multidigits(
        n_train,
        n_val,
        n_test,
        canvas=canvas,
        max_shift=max_shift,
        third_task=third_task,
        data_seed=data_seed,
    )


def scaled_cross_entropy(prediction: torch.Tensor, target: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    return scale * nn.functional.cross_entropy(prediction, target)


def check_loss_scales(loss_scales: Any, task_names: Sequence[str]) -> list[float]:
    """One finite, positive multiplier per task (``None``: all 1); the error names the option,
    the tasks and the valid range. A negative scale would train that task to *raise* its loss,
    a zero one not at all, so both are refused."""
    names = list(task_names)
    if loss_scales is None:
        return [1.0] * len(names)
    if isinstance(loss_scales, (str, bytes)) or not isinstance(loss_scales, Sequence):
        raise OptionError(
            f"{_OWNER}: option 'loss_scales' must be a sequence of one positive number per task "
            f"{names}, e.g. {tuple([1] * (len(names) - 1) + [10])}, got {loss_scales!r}"
        )
    if len(loss_scales) != len(names):
        raise OptionError(
            f"{_OWNER}: option 'loss_scales' has {len(loss_scales)} entries for the {len(names)} "
            f"tasks {names}: give one positive number per task"
        )
    return [
        require_positive(_OWNER, f"loss_scales[{i}] (task {n!r})", s)
        for i, (n, s) in enumerate(zip(names, loss_scales))
    ]


def check_network(channels: Any, hidden: Any, head_hidden: Any) -> None:
    """``channels`` a non-empty sequence of positive integers, ``hidden`` >= 1, ``head_hidden``
    >= 0 (0: each head is one linear layer)."""
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence) or not channels:
        raise OptionError(
            f"{_OWNER}: option 'channels' must be a non-empty sequence of positive integers "
            f"(one conv block each), e.g. (8, 16), got {channels!r}"
        )
    for i, c in enumerate(channels):
        require_integer(_OWNER, f"channels[{i}]", c, minimum=1)
    require_integer(_OWNER, "hidden", hidden, minimum=1)
    require_integer(_OWNER, "head_hidden", head_hidden, minimum=0)


def multidigits_tasks(task_names: Sequence[str], loss_scales: Sequence[float] | None = None) -> list[Task]:
    scales = check_loss_scales(loss_scales, task_names)
    tasks = []
    for name, scale in zip(task_names, scales):
        loss = nn.functional.cross_entropy if scale == 1.0 else functools.partial(scaled_cross_entropy, scale=scale)
        tasks.append(Task(name, loss, {"acc": metrics.accuracy}, {"acc": True}))
    return tasks


@PROBLEMS.register("multidigits")
def multidigits_problem(
    *,
    seed: int,
    batch_size: int,
    device: torch.device,
    n_train: int = 2000,
    n_val: int = 500,
    n_test: int = 1000,
    canvas: int = 12,
    max_shift: int = 1,
    data_seed: int = 0,
    third_task: bool = False,
    loss_scales: Sequence[float] | None = None,
    eval_split: str = "test",
    upsample: int = 1,
    rotograd: bool = False,
    rotation_lr: float | None = None,
    channels: Sequence[int] = (8, 16),
    hidden: int = 50,
    head_hidden: int = 50,
    **unknown: Any,
) -> ProblemInstance:
    if unknown:
        raise unknown_options_error("multidigits", multidigits_problem, unknown)
    check_multidigits_settings(
        _OWNER, n_train=n_train, n_val=n_val, n_test=n_test, canvas=canvas, max_shift=max_shift,
        third_task=third_task, data_seed=data_seed,
    )  # fmt: skip
    require_choice(_OWNER, "eval_split", eval_split, ("val", "test"))
    require_integer(_OWNER, "upsample", upsample, minimum=1)
    if not isinstance(rotograd, bool):
        raise OptionError(f"{_OWNER}: option 'rotograd' must be True or False, got {rotograd!r}")
    if rotation_lr is not None:
        require_positive(_OWNER, "rotation_lr", rotation_lr)
    check_network(channels, hidden, head_hidden)
    check_loss_scales(loss_scales, ["left", "right"] + (["parity"] if third_task else []))
    data = multidigits_data(n_train, n_val, n_test, canvas, max_shift, third_task, data_seed)

    def tensors(split: str) -> list[torch.Tensor]:
        part = data.splits[split]
        x = part.images
        if upsample > 1:
            x = nn.functional.interpolate(x, scale_factor=upsample, mode="nearest")
        return [x, *(part.labels[t] for t in data.task_names)]

    model = lenet(
        num_classes=data.num_classes, task_names=data.task_names, image_size=canvas * upsample,
        channels=tuple(channels), hidden=hidden, head_hidden=head_hidden,
    )  # fmt: skip
    callbacks: list[Any] = []
    if rotograd:
        from mtl_lib.architectures.rotograd import RotoGrad, RotoGradRotationStep

        model = RotoGrad(model, latent_dim=hidden)
        callbacks.append(RotoGradRotationStep() if rotation_lr is None else RotoGradRotationStep(lr=rotation_lr))
    train = TensorBatches(*tensors("train"), batch_size=batch_size, seed=seed).to(device)
    evaluation = TensorBatches(*tensors(eval_split), batch_size=1024, shuffle=False).to(device)
    scales = "" if loss_scales is None else f"; training-loss scales {list(loss_scales)}"
    return ProblemInstance(
        model=model,
        tasks=multidigits_tasks(data.task_names, loss_scales),
        train_data=train,
        eval_data=evaluation,
        description=(
            f"multidigits ({data.source}): {canvas}×{canvas} canvas, tasks {data.task_names}, "
            f"{n_train} train composites, evaluated on the {eval_split} split ({len(evaluation.tensors[0])}){scales}"
        ),
        callbacks=callbacks,
    )
