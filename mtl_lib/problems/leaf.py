"""The "leaf" problem: the leaf-combination study's two tasks (12 species, healthy/diseased) on
one fold of a stratified 5-fold split, with the study's CNN and its optional add-ons.

Options (``RunConfig.problem_kwargs``):

* ``data_dir`` — the Chouhan et al. (2019) images (folder or .zip) or ``"cache"`` for an already
  prepared cache; ``None`` (default) uses the generated **stand-in** (``scale`` shrinks it,
  ``standin_difficulty`` = (species level, health level) sets how hard it is, see
  :func:`mtl_lib.data.leaf.looks.difficulty_levels`);
* ``fold`` / ``n_folds`` / ``split_seed`` — which part of the stratified split is the test part;
* ``modulation`` / ``lass`` — the study's add-ons (PCGrad is the run's aggregator:
  ``"pcgrad_wrapper"`` reproduces the study's optimizer-wrapper semantics);
* ``lass_alpha`` (0.5), ``lass_finetune_epochs`` (1), ``lass_lr`` (5e-4, the study's rate).

Metrics per task on the fold's test part: accuracy and weighted F1.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mtl_lib import metrics
from mtl_lib.architectures.lass import LaSSSchedule, lass_phases
from mtl_lib.architectures.leaf_cnn import LeafCNN
from mtl_lib.core.tasks import Task
from mtl_lib.data.leaf import LeafData, load_leaf, make_leaf_standin
from mtl_lib.data.leaf.render import difficulty_levels
from mtl_lib.problems import PROBLEMS, ProblemInstance
from mtl_lib.problems.base import unknown_options_error


@functools.lru_cache(maxsize=2)
def leaf_data(
    data_dir: str | None = None,
    scale: float = 1.0,
    image_size: int = 64,
    standin_seed: int = 0,
    standin_difficulty: tuple[float, float] = (1.0, 1.0),
) -> LeafData:
    """The real images (``data_dir`` a folder/.zip, or ``"cache"``) or the generated stand-in
    (``standin_difficulty``: species and health levels of :func:`difficulty_levels`)."""
    if data_dir is None:
        difficulty = difficulty_levels(*standin_difficulty)
        return make_leaf_standin(scale=scale, image_size=image_size, seed=standin_seed, difficulty=difficulty)
    return load_leaf(None if data_dir == "cache" else data_dir, image_size=image_size)


def leaf_tasks() -> list[Task]:
    def f1(num_classes: int):
        return functools.partial(metrics.weighted_f1, num_classes=num_classes)

    return [
        Task("species", nn.functional.cross_entropy, {"acc": metrics.accuracy, "f1": f1(12)},
             {"acc": True, "f1": True}),
        Task("health", nn.functional.cross_entropy, {"acc": metrics.accuracy, "f1": f1(2)},
             {"acc": True, "f1": True}),
    ]  # fmt: skip


@PROBLEMS.register("leaf")
def leaf_problem(
    *,
    seed: int,
    batch_size: int,
    device: torch.device,
    data_dir: str | None = None,
    scale: float = 1.0,
    image_size: int = 64,
    standin_seed: int = 0,
    standin_difficulty: Sequence[float] = (1.0, 1.0),
    fold: int = 0,
    n_folds: int = 5,
    split_seed: int = 0,
    modulation: bool = False,
    lass: bool = False,
    lass_alpha: float = 0.5,
    lass_finetune_epochs: int = 1,
    lass_lr: float = 5e-4,
    channels: Sequence[int] = (32, 64, 128, 128),
    fc: Sequence[int] = (256, 128),
    **unknown: Any,
) -> ProblemInstance:
    if unknown:
        raise unknown_options_error("leaf", leaf_problem, unknown)
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in [0, {n_folds}), got {fold}")
    data = leaf_data(data_dir, scale, image_size, standin_seed, tuple(float(v) for v in standin_difficulty))
    train_idx, test_idx = data.stratified_kfold(n_folds, split_seed)[fold]
    model = LeafCNN(modulation=modulation, lass=lass, image_size=image_size, channels=tuple(channels), fc=tuple(fc))
    train = data.batches(train_idx, batch_size=batch_size, seed=seed).to(device)
    test = data.batches(test_idx, batch_size=256, shuffle=False).to(device)
    callbacks = (
        [LaSSSchedule(train, alpha=lass_alpha, finetune_epochs=lass_finetune_epochs, lr=lass_lr)] if lass else []
    )
    label = (
        "STAND-IN (generated leaves, not the real photographs)" if data.source.startswith("stand-in") else data.source
    )
    return ProblemInstance(
        model=model,
        tasks=leaf_tasks(),
        train_data=train,
        eval_data=test,
        description=f"leaf images: {label}; fold {fold + 1}/{n_folds}, {len(train_idx)} train / {len(test_idx)} test",
        callbacks=callbacks,
        phases=lass_phases if lass else None,
    )
