"""Decode leaf photographs and letterbox them to a small square (see :mod:`mtl_lib.data.leaf`)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from mtl_lib.data.leaf.listing import _Entry


class CorruptImageError(ValueError):
    """One or more image files could not be decoded; ``paths`` lists them."""

    def __init__(self, message: str, paths: Sequence[str]) -> None:
        super().__init__(message)
        self.paths = list(paths)


def letterbox(image, image_size: int = 64) -> np.ndarray:  # image: PIL.Image.Image
    """Resize a PIL image so its longer side is ``image_size`` (aspect ratio kept) and centre it
    on a black square; returns uint8 ``(3, S, S)``. Odd padding puts the extra row/column at
    the bottom/right."""
    from PIL import Image

    width, height = image.size
    factor = image_size / max(width, height)
    new_w = min(image_size, max(1, round(width * factor)))
    new_h = min(image_size, max(1, round(height * factor)))
    resized = image.convert("RGB").resize((new_w, new_h), Image.Resampling.BILINEAR)
    canvas = np.zeros((image_size, image_size, 3), dtype=np.uint8)
    top, left = (image_size - new_h) // 2, (image_size - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = np.asarray(resized, dtype=np.uint8)
    return canvas.transpose(2, 0, 1)


def decode_letterboxed(data: bytes, image_size: int = 64) -> np.ndarray:
    """Decode image bytes (JPEG/PNG) into a letterboxed uint8 ``(3, S, S)`` array."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as image:
        # JPEG only: decode at the smallest DCT scale that keeps ≥ 4× the target resolution.
        image.draft("RGB", (4 * image_size, 4 * image_size))
        image.load()
        upright = ImageOps.exif_transpose(image)
        return letterbox(upright, image_size)


def _decode_all(entries: Sequence[_Entry], read: Callable[[_Entry], bytes], image_size: int,
                num_workers: int, progress: bool) -> tuple[np.ndarray, dict[int, str]]:  # fmt: skip
    """Decode every entry; returns the images and ``{index: error}`` for those that failed."""
    images = np.zeros((len(entries), 3, image_size, image_size), dtype=np.uint8)
    failed: dict[int, str] = {}

    def read_safely(entry: _Entry) -> bytes | str:
        try:
            return read(entry)
        except Exception as error:  # unreadable (I/O error, bad zip member CRC): reported below
            return f"{type(error).__name__}: {error}"

    def decode(data: bytes | str) -> np.ndarray | str:
        if isinstance(data, str):
            return data
        try:
            # Looked up at call time so that tests (and users) can swap the decoder.
            return decode_letterboxed(data, image_size)
        except Exception as error:  # any decoding failure is reported per file below
            return f"{type(error).__name__}: {error}"

    # Read and decode in chunks: full-size photos are several MB each, so never hold them all.
    # Reading stays in this thread (one zip handle is not shared across threads); only the
    # decoding, which Pillow runs without the GIL, goes to the worker threads.
    chunk = max(16, 4 * num_workers)
    pool = ThreadPoolExecutor(num_workers) if num_workers > 0 else None
    try:
        with tqdm(
            total=len(entries), desc="decoding leaf images", unit="img", disable=not progress
        ) as bar:
            for start in range(0, len(entries), chunk):
                blobs = [read_safely(e) for e in entries[start : start + chunk]]
                results = pool.map(decode, blobs) if pool else map(decode, blobs)
                for offset, result in enumerate(results):
                    if isinstance(result, str):
                        failed[start + offset] = result
                    else:
                        images[start + offset] = result
                    bar.update(1)
    finally:
        if pool is not None:
            pool.shutdown()
    return images, failed
