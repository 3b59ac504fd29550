"""Decode leaf photographs and letterbox them to a small square (see :mod:`mtl_lib.data.leaf`).

Any image Pillow reads is converted to 8-bit RGB with its full range kept: 16-bit greyscale
(``I;16``, and ``I`` with values in 0..65535) is scaled by 255/65535 rather than clipped at 255;
32-bit float (``F``) must hold values in [0, 1]; palette, bilevel, CMYK and YCbCr images go
through Pillow's own conversion. An image that cannot be represented faithfully raises, and the
loader reports it by file name.

Transparency (RGBA, LA, palette or greyscale with a transparent colour) is composited onto
**black**, :data:`BACKGROUND`, the colour of the letterbox padding: a pixel of colour ``c`` and
opacity ``a`` in [0, 1] becomes ``a·c`` (so (30, 200, 30) at half opacity gives (15, 100, 15) and
a fully transparent pixel is black whatever its colour). Black is chosen so that transparent
regions look like the padding around every photograph rather than like a leaf. The real
photographs are JPEGs without transparency; :func:`~mtl_lib.data.leaf.load_leaf` therefore
warns once per load, naming the files with transparent pixels, so that a tree mixed with cut-out
images does not pass unnoticed (flatten them onto another background first if black is wrong).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from mtl_lib.data.leaf.listing import _Entry

#: The colour transparent pixels are composited onto: black, like the letterbox padding.
BACKGROUND = (0, 0, 0)

#: ``on_transparency(fraction)``: called with the share of pixels that are not fully opaque.
TransparencyReport = Callable[[float], None]


class CorruptImageError(ValueError):
    """One or more image files could not be decoded; ``paths`` lists them."""

    def __init__(self, message: str, paths: Sequence[str]) -> None:
        super().__init__(message)
        self.paths = list(paths)


def to_rgb(image, on_transparency: TransparencyReport | None = None):  # PIL.Image -> PIL.Image "RGB"
    """The image as 8-bit RGB with the scaling of its mode kept (see the module docstring).

    Transparent pixels are composited onto :data:`BACKGROUND`; when some pixel is not fully
    opaque, ``on_transparency`` (if given) is called with the share of such pixels."""
    from PIL import Image

    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(image).astype(np.float64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ValueError(f"{mode} image with values {values.min():g}..{values.max():g} outside 0..65535")
        grey = np.rint(values * (255.0 / 65535.0)).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if values.size and not (np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1):
            raise ValueError(
                "32-bit float image must hold finite values in [0, 1], found "
                f"{np.nanmin(values):g}..{np.nanmax(values):g}"
            )
        return Image.fromarray(np.rint(values * 255).astype(np.uint8)).convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"))
        see_through = float((alpha < 255).mean()) if alpha.size else 0.0
        if see_through > 0 and on_transparency is not None:
            on_transparency(see_through)
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def letterbox(image, image_size: int = 64, on_transparency: TransparencyReport | None = None) -> np.ndarray:
    """Resize a PIL image so its longer side is ``image_size`` (aspect ratio kept) and centre it
    on a black square; returns uint8 ``(3, S, S)``. Odd padding puts the extra row/column at
    the bottom/right. Transparency: see :func:`to_rgb`."""
    from PIL import Image

    width, height = image.size
    factor = image_size / max(width, height)
    new_w = min(image_size, max(1, round(width * factor)))
    new_h = min(image_size, max(1, round(height * factor)))
    resized = to_rgb(image, on_transparency).resize((new_w, new_h), Image.Resampling.BILINEAR)
    canvas = np.zeros((image_size, image_size, 3), dtype=np.uint8)
    top, left = (image_size - new_h) // 2, (image_size - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = np.asarray(resized, dtype=np.uint8)
    return canvas.transpose(2, 0, 1)


def decode_letterboxed(
    data: bytes, image_size: int = 64, on_transparency: TransparencyReport | None = None
) -> np.ndarray:
    """Decode image bytes (any format Pillow reads) into a letterboxed uint8 ``(3, S, S)`` array
    (transparency composited onto :data:`BACKGROUND` and reported, see :func:`to_rgb`)."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as image:
        # JPEG only: decode at the smallest DCT scale that keeps ≥ 4× the target resolution.
        image.draft("RGB", (4 * image_size, 4 * image_size))
        image.load()
        upright = ImageOps.exif_transpose(image)
        return letterbox(upright, image_size, on_transparency)


def _decode_all(entries: Sequence[_Entry], read: Callable[[_Entry], bytes], image_size: int,
                num_workers: int, progress: bool,
                transparent: dict[int, float] | None = None) -> tuple[np.ndarray, dict[int, str]]:  # fmt: skip
    """Decode every entry; returns the images and ``{index: error}`` for those that failed.
    ``transparent``, when given, receives ``{index: share of non-opaque pixels}``."""
    images = np.zeros((len(entries), 3, image_size, image_size), dtype=np.uint8)
    failed: dict[int, str] = {}

    def read_safely(entry: _Entry) -> bytes | str:
        try:
            return read(entry)
        except Exception as error:  # unreadable (I/O error, bad zip member CRC): reported below
            return f"{type(error).__name__}: {error}"

    def decode(item: tuple[int, bytes | str]) -> np.ndarray | str:
        index, data = item
        if isinstance(data, str):
            return data

        def report(share: float) -> None:
            if transparent is not None:
                transparent[index] = share  # one key per thread's own index: no lock needed

        try:
            # Looked up at call time so that tests (and users) can swap the decoder.
            return decode_letterboxed(data, image_size, on_transparency=report)
        except Exception as error:  # any decoding failure is reported per file below
            return f"{type(error).__name__}: {error}"

    # Read and decode in chunks: full-size photos are several MB each, so never hold them all.
    # Reading stays in this thread (one zip handle is not shared across threads); only the
    # decoding, which Pillow runs without the GIL, goes to the worker threads.
    chunk = max(16, 4 * num_workers)
    pool = ThreadPoolExecutor(num_workers) if num_workers > 0 else None
    try:
        with tqdm(total=len(entries), desc="decoding leaf images", unit="img", disable=not progress) as bar:
            for start in range(0, len(entries), chunk):
                blobs = [(start + i, read_safely(e)) for i, e in enumerate(entries[start : start + chunk])]
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
