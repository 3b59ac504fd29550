"""Where the decoded leaf images are cached, and the fingerprint that says whether a cache is current."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from mtl_lib.data.leaf.classes import REAL_SOURCE
from mtl_lib.data.leaf.dataset import LeafData
from mtl_lib.data.leaf.decode import CorruptImageError
from mtl_lib.data.leaf.listing import _Entry

#: Bumped whenever decoding/resizing changes, so old caches are rebuilt rather than reused.
PREPROCESS_VERSION = "letterbox-centred-v1"
CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """``data/cache/`` at the repository root (the folder that contains ``mtl_lib``)."""
    return Path(__file__).resolve().parents[3] / "data" / "cache"


def cache_file(cache_dir: str | os.PathLike | None = None, image_size: int = 64) -> Path:
    return Path(cache_dir or default_cache_dir()) / f"leaf_chouhan2019_{image_size}px.pt"


def _fingerprint(entries: Sequence[_Entry], image_size: int) -> str:
    digest = hashlib.sha256(f"{PREPROCESS_VERSION}|{image_size}\n".encode())
    for e in entries:
        digest.update(f"{e.relpath}\t{e.size}\n".encode())
    return digest.hexdigest()


def _from_cache(payload: dict, skip_corrupt: bool, cache: Path) -> LeafData:
    skipped = list(payload.get("skipped", []))
    if skipped and not skip_corrupt:
        raise CorruptImageError(
            f"the cache {cache} was built with skip_corrupt=True and lacks {len(skipped)} "
            f"unreadable file(s): {skipped}; pass skip_corrupt=True to accept that",
            skipped,
        )
    if skipped:
        warnings.warn(
            f"{len(skipped)} unreadable leaf image(s) were skipped: {skipped}", stacklevel=3
        )
    return LeafData(
        payload["images"], payload["species"], payload["health"], list(payload["paths"]),
        REAL_SOURCE, skipped=skipped,
    )  # fmt: skip
