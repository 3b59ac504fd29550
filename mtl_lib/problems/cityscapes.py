"""The CityScapes problem (AdaTask's Table 1; MTAN / CAGrad protocol): semantic segmentation
(7 classes) and depth estimation from one image, with a hard-sharing SegNet-like model.

Tasks, losses and metrics (MTAN, Liu, Johns & Davison, CVPR 2019; reused by CAGrad and AdaTask):

- ``segmentation``: pixel-wise cross-entropy over the 7 classes, ignoring label -1; metrics
  ``miou`` (mean IoU over classes present in prediction or target, pixels pooled over the
  evaluation set) and ``pix_acc`` (pixel accuracy over non-ignored pixels); higher is better.
- ``depth``: L1 loss on pixels with ground truth (target != 0), averaged over those pixels, as
  MTAN's ``model_fit``; metrics ``abs_err`` and ``rel_err`` (mean |pred - target| and mean
  |pred - target| / target over valid pixels); lower is better.

Batches are ``(image, seg, depth)``. Options: ``data_dir`` (None → the generated stand-in of
:func:`mtl_lib.data.cityscapes.make_cityscapes_standin`, and the description says so; else the
folder holding MTAN's ``train/`` and ``val/``), ``n_train`` / ``n_val`` (stand-in defaults 256 /
64; real data defaults to the whole splits, 2,975 / 500), ``height`` / ``width`` (stand-in
default 64×128; real data default is its own 128×256, other sizes are resized), ``model_width``
(base width of :func:`mtl_lib.architectures.dense.dense_segnet`, default 16), ``skip`` (U-Net
skips in the model, default False), ``data_seed`` (stand-in only, default 0) and
``eval_batch_size`` (default 32).

Memory: the trainer's ``evaluate()`` keeps every prediction of the evaluation set before it
computes the metrics. At stand-in size (64 images, 64×128) that is ~15 MB of logits; at full
CityScapes size (500 val images, 7×128×256 float32 logits) it is ~0.46 GB (plus ~65 MB of depth),
which is acceptable on a GPU box (and in CPU RAM) but not something to multiply by many
concurrent runs. The training split is held in memory too (~2.3 GB for the real one).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mtl_lib import metrics
from mtl_lib.architectures.dense import dense_segnet
from mtl_lib.core.tasks import Task
from mtl_lib.data import TensorBatches
from mtl_lib.data.cityscapes import (
    CITYSCAPES_CLASSES,
    IGNORE_INDEX,
    REAL_SOURCE,
    CityscapesData,
    load_cityscapes,
    make_cityscapes_standin,
)
from mtl_lib.problems import PROBLEMS, ProblemInstance
from mtl_lib.problems.base import unknown_options_error

NUM_CLASSES = len(CITYSCAPES_CLASSES)
STANDIN_DEFAULTS = {"n_train": 256, "n_val": 64, "height": 64, "width": 128}


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over non-ignored pixels (label -1 ignored)."""
    return nn.functional.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)


def depth_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 over pixels with ground truth (target != 0), averaged over those pixels (MTAN).
    A batch without any valid pixel contributes 0 (not NaN)."""
    valid = (target != 0).to(pred.dtype)
    return ((pred - target).abs() * valid).sum() / valid.sum().clamp_min(1.0)


def _abs_err(pred: torch.Tensor, target: torch.Tensor) -> float:
    return metrics.depth_errors(pred, target)[0]


def _rel_err(pred: torch.Tensor, target: torch.Tensor) -> float:
    return metrics.depth_errors(pred, target)[1]


def cityscapes_tasks() -> list[Task]:
    """The two tasks with the metric names used in AdaTask's Table 1."""
    return [
        Task(
            name="segmentation",
            loss=segmentation_loss,
            metrics={
                "miou": functools.partial(metrics.miou, num_classes=NUM_CLASSES, ignore_index=IGNORE_INDEX),
                "pix_acc": functools.partial(metrics.pixel_accuracy, ignore_index=IGNORE_INDEX),
            },
            higher_is_better={"miou": True, "pix_acc": True},
        ),
        Task(
            name="depth",
            loss=depth_loss,
            metrics={"abs_err": _abs_err, "rel_err": _rel_err},
            higher_is_better={"abs_err": False, "rel_err": False},
        ),
    ]


@functools.lru_cache(maxsize=2)
def _cached_standin(n_train: int, n_val: int, height: int, width: int, seed: int) -> CityscapesData:
    return make_cityscapes_standin(n_train, n_val, height, width, seed)


@functools.lru_cache(maxsize=1)
def _cached_real(
    data_dir: str, n_train: int | None, n_val: int | None, height: int | None, width: int | None
) -> CityscapesData:
    return load_cityscapes(data_dir, n_train, n_val, height, width, progress=True)


@PROBLEMS.register("cityscapes")
def cityscapes_problem(
    *,
    seed: int,
    batch_size: int,
    device: torch.device,
    data_dir: str | Path | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    height: int | None = None,
    width: int | None = None,
    model_width: int = 16,
    skip: bool = False,
    data_seed: int = 0,
    eval_batch_size: int = 32,
    **unknown: Any,
) -> ProblemInstance:
    """CityScapes segmentation + depth (see the module docstring); stand-in when ``data_dir``
    is None."""
    if unknown:
        raise unknown_options_error("cityscapes", cityscapes_problem, unknown)
    if data_dir is None:
        size = (
            STANDIN_DEFAULTS["n_train"] if n_train is None else n_train,
            STANDIN_DEFAULTS["n_val"] if n_val is None else n_val,
            STANDIN_DEFAULTS["height"] if height is None else height,
            STANDIN_DEFAULTS["width"] if width is None else width,
        )
        data = _cached_standin(*size, data_seed)
    else:
        data = _cached_real(str(Path(data_dir).expanduser().resolve()), n_train, n_val, height, width)
    h, w = data.train.size
    if h % 8 or w % 8:
        raise ValueError(f"image size {h}x{w} must be a multiple of 8 for the 3-stage encoder–decoder")

    # The model is initialised from the global RNG, which the runner seeds with the run's seed.
    model = dense_segnet(
        width=model_width, out_channels=(NUM_CLASSES, 1), task_names=("segmentation", "depth"), skip=skip
    )
    train = TensorBatches(*data.train.tensors(), batch_size=batch_size, seed=seed).to(device)
    val = TensorBatches(*data.val.tensors(), batch_size=eval_batch_size, shuffle=False).to(device)
    label = data.source if data.source == REAL_SOURCE else "STAND-IN (generated street scenes, not CityScapes)"
    description = (
        f"{label}: segmentation (7 classes) + depth, {len(data.train)} train / {len(data.val)} val "
        f"images at {h}x{w}, dense_segnet width {model_width}{' with skips' if skip else ''}"
    )
    return ProblemInstance(model, cityscapes_tasks(), train, val, description)
