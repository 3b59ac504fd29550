"""The generated CityScapes stand-in: rendered street scenes in fixed-size chunks."""

from __future__ import annotations

import numpy as np
import torch

from mtl_lib.data.cityscapes.dataset import STANDIN_SOURCE, CityscapesData, DenseSplit
from mtl_lib.data.cityscapes.render import RENDER_CHUNK, render_street_scenes


def _chunk_generator(seed: int, split: int, chunk: int) -> torch.Generator:
    state = np.random.SeedSequence([seed, split, chunk]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & ((1 << 63) - 1))


def _standin_split(n: int, height: int, width: int, seed: int, split: int) -> DenseSplit:
    images, seg, depth = [], [], []
    for chunk in range(-(-n // RENDER_CHUNK)):
        # Always render whole chunks so that image i does not depend on n.
        x, y, d = render_street_scenes(
            RENDER_CHUNK, height, width, _chunk_generator(seed, split, chunk)
        )
        keep = min(RENDER_CHUNK, n - chunk * RENDER_CHUNK)
        images.append(x[:keep])
        seg.append(y[:keep])
        depth.append(d[:keep])
    return DenseSplit(torch.cat(images), torch.cat(seg), torch.cat(depth), STANDIN_SOURCE)


def make_cityscapes_standin(
    n_train: int, n_val: int, height: int = 64, width: int = 128, seed: int = 0
) -> CityscapesData:
    """A generated stand-in for MTAN's CityScapes with the same tensors and conventions (7
    classes, ``-1`` ignored, depth ``0`` invalid); see :func:`render_street_scenes`.

    Deterministic: a function of ``(seed, height, width)`` and the index; the splits use
    separate random streams, and a stand-in with fewer images is a prefix of one with more.
    """
    if n_train < 1 or n_val < 1:
        raise ValueError(f"n_train and n_val must be positive, got {n_train}, {n_val}")
    if height < 16 or width < 16:
        raise ValueError(f"height and width must be at least 16, got {height}x{width}")
    train = _standin_split(n_train, height, width, seed, 0)
    val = _standin_split(n_val, height, width, seed, 1)
    return CityscapesData(train, val, STANDIN_SOURCE)
