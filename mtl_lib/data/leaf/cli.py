"""``python -m mtl_lib.data.leaf``: prepare the cache, or save a grid of sample images."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mtl_lib.data.leaf.cache import cache_file
from mtl_lib.data.leaf.dataset import LeafData
from mtl_lib.data.leaf.loader import load_leaf
from mtl_lib.data.leaf.standin import make_leaf_standin


def save_grid(data: LeafData, path: str | os.PathLike, rows: int = 8, cols: int = 8,
              indices: Sequence[int] | None = None, upscale: int = 2, seed: int = 0) -> Path:  # fmt: skip
    """Save a ``rows × cols`` PNG grid of images (random ones unless ``indices`` are given),
    with a 2-pixel gutter; a red/green bar under each tile marks diseased/healthy."""
    from PIL import Image

    n = rows * cols
    if indices is None:
        gen = torch.Generator().manual_seed(seed)
        indices = torch.randperm(len(data), generator=gen)[:n].tolist()
    s, gap, bar = data.image_size, 2, 3
    grid = np.full((rows * (s + gap + bar), cols * (s + gap), 3), 255, dtype=np.uint8)
    for slot, i in enumerate(list(indices)[:n]):
        r, c = divmod(slot, cols)
        y, x = r * (s + gap + bar), c * (s + gap)
        grid[y : y + s, x : x + s] = data.images[i].permute(1, 2, 0).numpy()
        grid[y + s : y + s + bar, x : x + s] = (
            (200, 30, 30) if int(data.health[i]) else (30, 160, 30)
        )
    image = Image.fromarray(grid)
    if upscale > 1:
        image = image.resize(
            (image.width * upscale, image.height * upscale), Image.Resampling.NEAREST
        )
    out = Path(path)
    image.save(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mtl_lib.data.leaf", description="Leaf images of Chouhan et al. (2019)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="decode the real images into the cache")
    prep.add_argument("source", help="the downloaded .zip or the unpacked folder")
    prep.add_argument("--cache-dir", default=None)
    prep.add_argument("--image-size", type=int, default=64)
    prep.add_argument("--workers", type=int, default=0)
    prep.add_argument("--skip-corrupt", action="store_true")
    prep.add_argument("--refresh", action="store_true")
    prep.add_argument(
        "--allow-subset",
        action="store_true",
        help="accept missing plants/classes (warns, labels the data)",
    )
    grid = sub.add_parser(
        "grid", help="save a sample grid of the stand-in (or of the cached real data)"
    )
    grid.add_argument("out")
    grid.add_argument("--real", action="store_true", help="use the cached real images")
    grid.add_argument("--seed", type=int, default=0)
    grid.add_argument("--scale", type=float, default=0.05)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        data = load_leaf(args.source, cache_dir=args.cache_dir, image_size=args.image_size,
                         skip_corrupt=args.skip_corrupt, allow_subset=args.allow_subset,
                         refresh=args.refresh, num_workers=args.workers)  # fmt: skip
        print(f"{data}: {len(data)} images cached in {cache_file(args.cache_dir, args.image_size)}")
    else:
        data = load_leaf() if args.real else make_leaf_standin(seed=args.seed, scale=args.scale)
        print(save_grid(data, args.out, seed=args.seed))
    return 0
