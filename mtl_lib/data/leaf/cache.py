"""Where the decoded leaf images are cached, and when a cache may be reused.

Location (:func:`default_cache_dir`): ``data/cache/`` in a source checkout (the folder that
holds ``pyproject.toml`` next to ``mtl_lib``), otherwise the user's cache directory,
``$XDG_CACHE_HOME/mtl-book`` or ``~/.cache/mtl-book`` — never inside ``site-packages``.

Validity: a cache records a fingerprint of its source — every image's relative path, size
and modification time (folder) or CRC-32 (zip member) — and the preprocessing version; it is
reused only while all of them are unchanged. A cache file that cannot be read (truncated,
empty, not a cache) is rebuilt with a warning when the source is at hand.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from mtl_lib.data.leaf.dataset import LeafData
from mtl_lib.data.leaf.decode import CorruptImageError
from mtl_lib.data.leaf.listing import _Entry

#: Bumped whenever decoding/resizing changes, so old caches are rebuilt rather than reused.
PREPROCESS_VERSION = "letterbox-centred-v2"  # v2: 16-bit/alpha/palette conversion
#: Bumped when the payload changes (2: source label, content stamps in the fingerprint).
CACHE_FORMAT = 2
_KEYS = ("format", "fingerprint", "images", "species", "health", "paths", "skipped", "source")


class CacheNotWritableError(OSError):
    """The cache folder cannot be created or written to (raised before any decoding)."""


def _package_root() -> Path:
    """The folder that contains the ``mtl_lib`` package."""
    return Path(__file__).resolve().parents[3]


def _is_source_checkout(root: Path) -> bool:
    installed = any(part in ("site-packages", "dist-packages") for part in root.parts)
    return not installed and (root / "pyproject.toml").is_file() and (root / "mtl_lib").is_dir()


def default_cache_dir() -> Path:
    """``data/cache/`` in a source checkout, else ``$XDG_CACHE_HOME/mtl-book`` (an absolute
    XDG_CACHE_HOME only, as the XDG spec says) or ``~/.cache/mtl-book``."""
    root = _package_root()
    if _is_source_checkout(root):
        return root / "data" / "cache"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "mtl-book"


def cache_file(cache_dir: str | os.PathLike | None = None, image_size: int = 64) -> Path:
    return (
        Path(cache_dir or default_cache_dir()).expanduser() / f"leaf_chouhan2019_{image_size}px.pt"
    )


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and write a probe file into it; raise
    :class:`CacheNotWritableError` naming the folder and the fix if that fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-"):
            pass
    except OSError as error:
        raise CacheNotWritableError(
            f"the leaf cache folder {folder} cannot be written ({type(error).__name__}: "
            f"{error.strerror or error}); give a writable folder with cache_dir=... "
            "(--cache-dir on the command line) or set XDG_CACHE_HOME"
        ) from error


def _fingerprint(entries: Sequence[_Entry], image_size: int) -> str:
    digest = hashlib.sha256(f"{PREPROCESS_VERSION}|{image_size}\n".encode())
    for e in entries:
        digest.update(f"{e.relpath}\t{e.size}\t{e.stamp}\n".encode())
    return digest.hexdigest()


def read_cache(cache: Path) -> tuple[dict | None, str]:
    """``(payload, "")`` for a readable cache of the current format, else ``(None, why)``."""
    if not cache.exists():
        return None, "it does not exist"
    try:
        payload = torch.load(cache, weights_only=True)
    except Exception as error:  # truncated, empty or foreign file: all mean "rebuild"
        return None, f"it cannot be read ({type(error).__name__}: {error})"
    if not isinstance(payload, dict) or any(key not in payload for key in _KEYS):
        return None, "it is not a leaf cache of this version (keys missing)"
    if payload["format"] != CACHE_FORMAT:
        return None, f"it has format {payload['format']!r}, this version writes {CACHE_FORMAT}"
    try:
        _data(payload)
    except (ValueError, TypeError, AttributeError) as error:
        return None, f"its contents are inconsistent ({error})"
    return payload, ""


def _data(payload: dict) -> LeafData:
    return LeafData(
        payload["images"], payload["species"], payload["health"], list(payload["paths"]),
        payload["source"], skipped=list(payload["skipped"]),
    )  # fmt: skip


def _from_cache(payload: dict, skip_corrupt: bool, allow_subset: bool, cache: Path) -> LeafData:
    skipped = list(payload.get("skipped", []))
    if skipped and not skip_corrupt:
        raise CorruptImageError(
            f"the cache {cache} was built with skip_corrupt=True and lacks {len(skipped)} "
            f"unreadable file(s): {skipped}; pass skip_corrupt=True to accept that",
            skipped,
        )
    note = payload.get("subset", "")
    if note and not allow_subset:
        raise ValueError(
            f"the cache {cache} holds a subset of the leaf dataset ({note}); pass "
            "allow_subset=True to use it, or rebuild it from the complete dataset"
        )
    if skipped:
        warnings.warn(
            f"{len(skipped)} unreadable leaf image(s) were skipped: {skipped}", stacklevel=3
        )
    return _data(payload)


def write_cache(payload: dict, cache: Path) -> None:
    """Write atomically: a killed run never leaves a half-written cache behind."""
    partial = cache.with_name(cache.name + f".partial-{os.getpid()}")
    try:
        torch.save(payload, partial)
        os.replace(partial, cache)
    finally:
        partial.unlink(missing_ok=True)
