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
    _data,
    _fingerprint,
    _from_cache,
    cache_file,
    check_writable,
    read_cache,
    write_cache,
)
from mtl_lib.data.leaf.classes import DATASET_URL, PLANT_FOLDERS, REAL_SOURCE
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


def _warn_transparent(entries: list[_Entry], transparent: dict[int, float]) -> None:
    """One warning per load naming the images whose transparency was composited onto black."""
    shown = ", ".join(f"{entries[i].relpath} ({100 * transparent[i]:.0f} % of pixels)" for i in sorted(transparent)[:5])
    more = f" and {len(transparent) - 5} more" if len(transparent) > 5 else ""
    warnings.warn(
        f"{len(transparent)} leaf image(s) have transparent pixels: {shown}{more}. They were composited "
        "onto black, the colour of the letterbox padding (a pixel of colour c and opacity a becomes a·c). "
        "The dataset's photographs have no transparency; flatten these files onto the background you "
        "want before loading if black is wrong for them.",
        stacklevel=4,
    )


def _decoded_payload(entries: list[_Entry], images: np.ndarray, failed: dict[int, str],
                     transparent: dict[int, float], *, source: Path, skip_corrupt: bool, image_size: int,
                     fingerprint: str, label: str, subset: str) -> dict:  # fmt: skip
    """The cache payload of a decoded tree; undecodable images raise (or are left out and
    warned about with ``skip_corrupt``), transparent ones are warned about once."""
    bad_paths = [entries[i].relpath for i in sorted(failed)]
    if failed and not skip_corrupt:
        listing_text = "\n  ".join(f"{entries[i].locator}: {failed[i]}" for i in sorted(failed))
        raise CorruptImageError(
            f"{len(failed)} leaf image(s) in {source} could not be decoded:\n  {listing_text}\n"
            "Re-download them, or pass skip_corrupt=True to leave them out.",
            bad_paths,
        )
    if transparent:
        _warn_transparent(entries, transparent)
    keep = np.ones(len(entries), dtype=bool)
    keep[sorted(failed)] = False
    if failed:
        warnings.warn(f"skipping {len(failed)} unreadable leaf image(s): {bad_paths}", stacklevel=3)
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
        "source": label,
        "subset": subset,
    }
    return payload


def _current_cache(cache: Path, fingerprint: str) -> dict | None:
    """The cache's payload when it was built from exactly these files; else None, with a
    warning saying why when a cache file exists (it is then rebuilt)."""
    payload, why = read_cache(cache)
    if payload is not None and payload["fingerprint"] == fingerprint:
        return payload
    if payload is not None:
        why = "it was built from different files (names, sizes or modification times)"
    if cache.exists():
        warnings.warn(f"the leaf cache {cache} is not used: {why}; rebuilding it", stacklevel=3)
    return None


def load_leaf(source: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None,
              image_size: int = 64, skip_corrupt: bool = False, allow_subset: bool = False,
              refresh: bool = False, num_workers: int = 0, progress: bool = True) -> LeafData:  # fmt: skip
    """Load the Chouhan et al. (2019) leaf images from a folder or the downloaded .zip.

    ``source`` is the unpacked folder or the .zip (the ``<Plant> (P<k>)`` folders may sit
    below extra top-level folders; symlinked folders are followed). The tree is checked
    against the class table first (:mod:`mtl_lib.data.leaf.listing`): a missing plant, a
    missing or empty class folder or an unknown plant folder is an error unless
    ``allow_subset=True``, which warns and records what is missing in ``data.source``.

    The decoded, letterboxed images are cached in ``cache_dir`` (default
    :func:`~mtl_lib.data.leaf.cache.default_cache_dir`) and reused while every file's path,
    size and modification time (CRC in a zip) are unchanged; ``refresh=True`` rebuilds, and so
    does a damaged cache (with a warning). ``source=None`` loads the existing cache. An
    unwritable cache folder is reported before decoding starts. Unreadable images are all
    collected and reported by path in one :class:`CorruptImageError`; ``skip_corrupt=True``
    warns and leaves them out instead. ``num_workers`` > 0 decodes in that many threads
    (Pillow releases the GIL while decoding).

    Images with transparent pixels (the real photographs have none) are composited onto black,
    the letterbox padding colour (:data:`~mtl_lib.data.leaf.decode.BACKGROUND`); one warning
    per load names them.
    """
    cache = cache_file(cache_dir, image_size)
    if source is None:
        payload, why = (None, "refresh=True was given") if refresh else read_cache(cache)
        if payload is not None:
            return _from_cache(payload, skip_corrupt, allow_subset, cache)
        problem = f"No leaf-image source given and no usable cache at {cache}: {why}."
        raise FileNotFoundError(_instructions(problem, cache))
    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(_instructions(f"Leaf images not found: {source} does not exist.", cache))

    archive = None
    if source.is_file():
        try:
            archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as error:
            raise ValueError(
                f"{source} is a file but not a readable .zip archive ({error}); give the "
                "downloaded .zip or the unpacked folder"
            ) from error
    try:
        if archive is not None:
            listing = _list_zip(archive, str(source), allow_subset)

            def read(entry: _Entry) -> bytes:
                return archive.read(entry.locator)
        else:
            listing = _list_folder(source, allow_subset)

            def read(entry: _Entry) -> bytes:
                return Path(entry.locator).read_bytes()

        entries = listing.entries
        if not entries:
            unknown = (
                f" The plant folders {listing.unknown} are not the dataset's {list(PLANT_FOLDERS)}."
                if listing.unknown
                else ""
            )
            raise FileNotFoundError(_instructions(
                f"No leaf images in {source}: expected files '<Plant> (P<k>)/{{healthy,diseased}}/<NNNN>_<MMMM>.JPG'.{unknown}",
                cache,
            ))  # fmt: skip
        fingerprint = _fingerprint(entries, image_size)
        label = REAL_SOURCE
        if listing.is_subset:
            label = f"{REAL_SOURCE} ({listing.subset_note()})"
        current = None if refresh else _current_cache(cache, fingerprint)
        if current is not None:
            return _from_cache(current, skip_corrupt, allow_subset, cache)
        check_writable(cache.parent)  # before the long decoding, not after it
        transparent: dict[int, float] = {}
        images, failed = _decode_all(entries, read, image_size, num_workers, progress, transparent)
    finally:
        if archive is not None:
            archive.close()

    payload = _decoded_payload(
        entries, images, failed, transparent, source=source, skip_corrupt=skip_corrupt,
        image_size=image_size, fingerprint=fingerprint, label=label,
        subset=listing.subset_note() if listing.is_subset else "",
    )  # fmt: skip
    write_cache(payload, cache)
    return _data(payload)
