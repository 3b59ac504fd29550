"""The generated leaf stand-in: the real class structure and counts, rendered leaves."""

from __future__ import annotations

import math

import torch

from mtl_lib.data.leaf.classes import (
    CLASS_TABLE,
    HEALTH_NAMES,
    NUM_CLASSES,
    PLANT_FOLDERS,
    STANDIN_SOURCE,
)
from mtl_lib.data.leaf.dataset import LeafData
from mtl_lib.data.leaf.render import Difficulty, render_leaves


def standin_counts(n_total: int | None = None, scale: float = 1.0) -> list[tuple[int, int, str, int]]:
    """:data:`CLASS_TABLE` with every count multiplied by ``scale`` (``n_total`` given: by
    ``n_total / 4502``), rounded half up, at least 2 per class."""
    full = sum(c for *_, c in CLASS_TABLE)
    if n_total is not None:
        if scale != 1.0:
            raise ValueError("give n_total or scale, not both")
        if n_total < 2 * NUM_CLASSES:
            raise ValueError(f"n_total must be at least {2 * NUM_CLASSES} (2 per class), got {n_total}")
        scale = n_total / full
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return [(s, h, p, max(2, math.floor(c * scale + 0.5))) for s, h, p, c in CLASS_TABLE]


def make_leaf_standin(n_total: int | None = None, image_size: int = 64, seed: int = 0,
                      scale: float = 1.0, *, difficulty: Difficulty | None = None) -> LeafData:  # fmt: skip
    """A generated leaf dataset with the real class structure (see :mod:`mtl_lib.data.leaf.render`).

    At ``scale=1`` it has exactly the per-class counts of :data:`CLASS_TABLE` (4,502 images;
    the paper's 4,503 includes one more healthy leaf); ``scale < 1`` (or ``n_total``) shrinks
    every class proportionally, keeping at least 2 per class, for smoke/quick profiles.
    Images are ordered by class prefix; like the real preprocessing they are letterboxed
    (a 3:2 scene centred in the square, zero rows above and below). Deterministic in ``seed``.
    """
    counts = standin_counts(n_total, scale)
    species = torch.tensor([s for s, _, _, c in counts for _ in range(c)], dtype=torch.long)
    health = torch.tensor([h for _, h, _, c in counts for _ in range(c)], dtype=torch.long)
    paths = [
        f"stand-in/{PLANT_FOLDERS[s]}/{HEALTH_NAMES[h]}/{p}_{i + 1:04d}"
        for s, h, p, c in counts for i in range(c)
    ]  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    images = render_leaves(species, health, image_size=image_size, generator=gen, difficulty=difficulty)
    return LeafData(images, species, health, paths, STANDIN_SOURCE)
