"""Load the real leaf images (folder or .zip) into a :class:`LeafData`, through the cache."""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from mtl_lib.data.leaf.cache import (
    CACHE_FORMAT,
    PREPROCESS_VERSION,
    _fingerprint,
    _from_cache,
    cache_file,
)
from mtl_lib.data.leaf.classes import DATASET_URL, REAL_SOURCE
from mtl_lib.data.leaf.dataset import LeafData
from mtl_lib.data.leaf.decode import CorruptImageError, _decode_all
from mtl_lib.data.leaf.listing import _Entry, _list_folder, _list_zip


def _instructions(problem: str, cache: Path) -> str:
    return (
        f"{problem}\n"
        "Get the leaf images of Chouhan et al. (2019) from Mendeley Data, record hb74ynkjcn "
        f"({DATASET_URL}, CC BY 4.0): 'Download All' gives a .zip with the folders "
        "'<Plant> (P<k>)/{healthy,diseased}/*.JPG'. Then prepare the cache once with\n"
        f"    python -m mtl_lib.data.leaf prepare /path/to/hb74ynkjcn-1.zip --cache-dir {cache.parent}\n"
        "or, in Python,\n"
        f"    from mtl_lib.data.leaf import load_leaf; load_leaf('/path/to/hb74ynkjcn-1.zip', cache_dir={str(cache.parent)!r})\n"
        "(an unpacked folder works too). Afterwards load_leaf() without a source reads "
        f"{cache}. Without the real data, make_leaf_standin() generates a stand-in."
    )


def load_leaf(source: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None,
              image_size: int = 64, skip_corrupt: bool = False, refresh: bool = False,
              num_workers: int = 0, progress: bool = True) -> LeafData:  # fmt: skip
    """Load the Chouhan et al. (2019) leaf images from a folder or the downloaded .zip.

    ``source`` is the unpacked folder or the .zip (the ``<Plant> (P<k>)`` folders may sit
    below extra top-level folders). The decoded, letterboxed images are cached in
    ``cache_dir`` (default :func:`default_cache_dir`) and reused while the source listing
    (relative paths and sizes) is unchanged; ``refresh=True`` rebuilds. ``source=None`` loads
    the existing cache. Unreadable images are all collected and reported in one
    :class:`CorruptImageError`; ``skip_corrupt=True`` warns and leaves them out instead.
    ``num_workers`` > 0 decodes in that many threads (Pillow releases the GIL while decoding).
    """
    cache = cache_file(cache_dir, image_size)
    if source is None:
        if cache.exists() and not refresh:
            return _from_cache(torch.load(cache, weights_only=True), skip_corrupt, cache)
        raise FileNotFoundError(
            _instructions(f"No leaf-image source given and no cache at {cache}.", cache)
        )
    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(
            _instructions(f"Leaf images not found: {source} does not exist.", cache)
        )

    archive = zipfile.ZipFile(source) if source.is_file() else None
    try:
        if archive is not None:
            entries = _list_zip(archive, str(source))

            def read(entry: _Entry) -> bytes:
                return archive.read(entry.locator)
        else:
            entries = _list_folder(source)

            def read(entry: _Entry) -> bytes:
                return Path(entry.locator).read_bytes()

        if not entries:
            raise FileNotFoundError(_instructions(
                f"No leaf images in {source}: expected files '<Plant> (P<k>)/{{healthy,diseased}}/<NNNN>_<MMMM>.JPG'.",
                cache,
            ))  # fmt: skip
        fingerprint = _fingerprint(entries, image_size)
        if cache.exists() and not refresh:
            payload = torch.load(cache, weights_only=True)
            if payload.get("fingerprint") == fingerprint and payload.get("format") == CACHE_FORMAT:
                return _from_cache(payload, skip_corrupt, cache)
            warnings.warn(
                f"the cache {cache} was built from a different source listing; rebuilding it",
                stacklevel=2,
            )

        images, failed = _decode_all(entries, read, image_size, num_workers, progress)
    finally:
        if archive is not None:
            archive.close()

    bad_paths = [entries[i].relpath for i in sorted(failed)]
    if failed and not skip_corrupt:
        listing = "\n  ".join(f"{entries[i].locator}: {failed[i]}" for i in sorted(failed))
        raise CorruptImageError(
            f"{len(failed)} leaf image(s) in {source} could not be decoded:\n  {listing}\n"
            "Re-download them, or pass skip_corrupt=True to leave them out.",
            bad_paths,
        )
    keep = np.ones(len(entries), dtype=bool)
    keep[sorted(failed)] = False
    if failed:
        warnings.warn(f"skipping {len(failed)} unreadable leaf image(s): {bad_paths}", stacklevel=2)
    kept = [e for e, k in zip(entries, keep) if k]
    payload = {
        "format": CACHE_FORMAT,
        "preprocess": PREPROCESS_VERSION,
        "image_size": image_size,
        "fingerprint": fingerprint,
        "images": torch.from_numpy(images[keep]),
        "species": torch.tensor([e.species for e in kept], dtype=torch.long),
        "health": torch.tensor([e.health for e in kept], dtype=torch.long),
        "paths": [e.relpath for e in kept],
        "skipped": bad_paths,
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(cache.name + f".partial-{os.getpid()}")
    torch.save(payload, partial)
    os.replace(partial, cache)  # atomic: a killed run never leaves a half-written cache
    data = LeafData(
        payload["images"],
        payload["species"],
        payload["health"],
        payload["paths"],
        REAL_SOURCE,
        skipped=bad_paths,
    )
    return data
