"""Fault injection for the leaf loader (issue 9, item 4): every case is a row of a table.

Each row damages a complete, tiny copy of the dataset tree (22 class folders, one small image
each, the real folder names and prefixes of :data:`CLASS_TABLE`) and states the outcome: the
correct data (checked), or an error/warning whose message names the offending path or folder.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mtl_lib.data.leaf import (
    CLASS_TABLE,
    HEALTH_NAMES,
    PLANT_FOLDERS,
    REAL_SOURCE,
    CacheNotWritableError,
    CorruptImageError,
    LeafData,
    load_leaf,
)
from mtl_lib.data.leaf import cache as cache_module
from mtl_lib.data.leaf import decode as decode_module

Image = pytest.importorskip("PIL.Image")

SIZE = 8  # letterboxed size: tiny, so that each case decodes in milliseconds
W, H = 12, 8  # source images: 3:2 like the real photographs
CACHE_NAME = f"leaf_chouhan2019_{SIZE}px.pt"
MANGO_H = "Mango (P0)/healthy"
FIRST = f"{MANGO_H}/0001_0001.png"  # the file that format cases replace


def colour(i: int) -> tuple[int, int, int]:
    return (10 * i + 5, 100, 200 - 7 * i)


def encode(image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The complete tree, built once: class i holds one PNG filled with colour(i)."""
    root = tmp_path_factory.mktemp("template") / "leaves"
    for i, (species, health, prefix, _) in enumerate(CLASS_TABLE):
        folder = root / PLANT_FOLDERS[species] / HEALTH_NAMES[health]
        folder.mkdir(parents=True)
        (folder / f"{prefix}_0001.png").write_bytes(encode(Image.new("RGB", (W, H), colour(i)), "PNG"))
    return root


@pytest.fixture
def tree(template, tmp_path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "leaves"))


def centre(data: LeafData, relpath: str) -> tuple[int, ...]:
    return tuple(data.images[data.paths.index(relpath), :, SIZE // 2, SIZE // 2].tolist())


def zip_tree(root: Path, archive: Path, top: str = "Plant leaves") -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(root.rglob("*")):
            arcname = f"{top}/{path.relative_to(root).as_posix()}"
            if path.is_dir():
                zf.writestr(arcname + "/", b"")
            else:
                zf.write(path, arcname)
    return archive


# ------------------------------------------------------------------------------ outcomes
@dataclass
class Ok:
    """Loads; ``check(data, ctx)`` asserts the result (images, labels, source)."""

    check: Callable[[LeafData, dict], None] = lambda data, ctx: None
    n: int = len(CLASS_TABLE)
    warns: str | None = None  # a warning that must be raised (regex)


@dataclass
class Err:
    """Raises ``error`` with every string of ``names`` in its message."""

    error: type[BaseException]
    names: list[str] = field(default_factory=list)


@dataclass
class Case:
    id: str
    damage: Callable[[Path, Path, Any], dict]  # (tree, tmp_path, monkeypatch) -> load kwargs
    expect: Ok | Err


def _rm(rel: str) -> Callable[[Path, Path, Any], dict]:
    def damage(tree: Path, tmp: Path, mp) -> dict:
        shutil.rmtree(tree / rel)
        return {}

    return damage


def _empty(rel: str, keep: str | None = None) -> Callable[[Path, Path, Any], dict]:
    def damage(tree: Path, tmp: Path, mp) -> dict:
        for p in (tree / rel).iterdir():
            p.unlink()
        if keep:
            (tree / rel / keep).write_text("not an image")
        return {}

    return damage


def _rename(old: str, new: str, **kwargs) -> Callable[[Path, Path, Any], dict]:
    def damage(tree: Path, tmp: Path, mp) -> dict:
        (tree / old).rename(tree / new)
        return dict(kwargs)

    return damage


def _add(rel: str, data: bytes | Callable[[], bytes], **kwargs) -> Callable[[Path, Path, Any], dict]:
    def damage(tree: Path, tmp: Path, mp) -> dict:
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data() if callable(data) else data)
        return dict(kwargs)

    return damage


def _png(rgb=(1, 2, 3)) -> Callable[[], bytes]:
    return lambda: encode(Image.new("RGB", (W, H), rgb), "PNG")


def _replace_first(make: Callable[[], tuple[str, bytes]]) -> Callable[[Path, Path, Any], dict]:
    """Replace Mango healthy's image by another format (the new file name is returned in ctx)."""

    def damage(tree: Path, tmp: Path, mp) -> dict:
        (tree / FIRST).unlink()
        name, data = make()
        (tree / MANGO_H / name).write_bytes(data)
        return {"_rel": f"{MANGO_H}/{name}"}

    return damage


def _fmt(name: str, image_fn: Callable[[], Any], fmt: str, **options) -> Callable[[], tuple[str, bytes]]:
    return lambda: (name, encode(image_fn(), fmt, **options))


def _pixel_is(expected: tuple[int, int, int], tol: int = 0) -> Callable[[LeafData, dict], None]:
    def check(data: LeafData, ctx: dict) -> None:
        got = centre(data, ctx["_rel"])
        assert all(abs(g - e) <= tol for g, e in zip(got, expected)), (got, expected)

    return check


def _grey16(value: int):
    return lambda: Image.fromarray(np.full((H, W), value, dtype=np.uint16))


def _float_image(value: float):
    return lambda: Image.fromarray(np.full((H, W), value, dtype=np.float32), mode="F")


def _int32_image(value: int):
    return lambda: Image.fromarray(np.full((H, W), value, dtype=np.int32), mode="I")


def _rgba(alpha: int):
    return lambda: Image.new("RGBA", (W, H), (200, 100, 50, alpha))


def _cut_out_leaf():
    """An RGBA cut-out as a user might drop into the tree (saved as PNG, named .JPG): a fully
    transparent red background and a half-opaque green leaf in the middle."""
    image = Image.new("RGBA", (W, H), (255, 0, 0, 0))
    image.paste((30, 200, 30, 128), (2, 2, W - 2, H - 1))  # large enough to survive the 8-px resize
    return image


def _composited_on_black(data: LeafData, ctx: dict) -> None:
    k = data.paths.index(ctx["_rel"])
    assert centre(data, ctx["_rel"]) == (15, 100, 15)  # a·c with a = 128/255, ±1 rounding
    image = data.images[k]
    letterbox_rows = [r for r in range(SIZE) if image[:, r].any()]
    top = letterbox_rows[0]
    assert tuple(image[:, top, 0].tolist()) == (0, 0, 0)  # the transparent red: black, not red


def _palette_transparent():
    image = Image.new("P", (W, H), 1)
    image.putpalette([0, 0, 0, 200, 100, 50] + [0] * (254 * 3))
    image.info["transparency"] = 1
    return image


def _palette_opaque():
    image = Image.new("P", (W, H), 1)
    image.putpalette([0, 0, 0, 200, 100, 50] + [0] * (254 * 3))
    return image


def _complete_source(data: LeafData, ctx: dict) -> None:
    assert data.source == REAL_SOURCE
    for i, (species, health, prefix, _) in enumerate(CLASS_TABLE):
        rel = f"{PLANT_FOLDERS[species]}/{HEALTH_NAMES[health]}/{prefix}_0001.png"
        assert centre(data, rel) == colour(i), rel
        k = data.paths.index(rel)
        assert (int(data.species[k]), int(data.health[k])) == (species, health)


def _label_has(*parts: str) -> Callable[[LeafData, dict], None]:
    def check(data: LeafData, ctx: dict) -> None:
        assert data.source.startswith(REAL_SOURCE + " (subset:"), data.source
        for part in parts:
            assert part in data.source, (part, data.source)

    return check


# ------------------------------------------------------------------------------ symlinks
def _symlink_plant(tree: Path, tmp: Path, mp) -> dict:
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    shutil.move(str(tree / "Mango (P0)"), elsewhere / "Mango (P0)")
    (tree / "Mango (P0)").symlink_to(elsewhere / "Mango (P0)", target_is_directory=True)
    return {}


def _symlink_class(tree: Path, tmp: Path, mp) -> dict:
    shutil.move(str(tree / MANGO_H), tmp / "mango-healthy")
    (tree / MANGO_H).symlink_to(tmp / "mango-healthy", target_is_directory=True)
    return {}


def _symlink_root(tree: Path, tmp: Path, mp) -> dict:
    link = tmp / "link-to-leaves"
    link.symlink_to(tree, target_is_directory=True)
    return {"_source": link}


def _symlink_loop(tree: Path, tmp: Path, mp) -> dict:
    (tree / MANGO_H / "loop").symlink_to(tree, target_is_directory=True)
    return {}


def _symlink_file(tree: Path, tmp: Path, mp) -> dict:
    target = tmp / "outside.png"
    target.write_bytes(encode(Image.new("RGB", (W, H), (9, 9, 9)), "PNG"))
    (tree / MANGO_H / "0001_0002.png").symlink_to(target)
    return {"_rel": f"{MANGO_H}/0001_0002.png"}


def _dangling(tree: Path, tmp: Path, mp) -> dict:
    (tree / MANGO_H / "0001_0002.JPG").symlink_to(tmp / "gone.JPG")
    return {}


# ------------------------------------------------------------------------------ zips
def _as_zip(tree: Path, tmp: Path, mp) -> dict:
    return {"_source": zip_tree(tree, tmp / "hb74ynkjcn-1.zip")}


def _zip_without(rel: str) -> Callable[[Path, Path, Any], dict]:
    def damage(tree: Path, tmp: Path, mp) -> dict:
        shutil.rmtree(tree / rel)
        return {"_source": zip_tree(tree, tmp / "partial.zip")}

    return damage


def _not_a_zip(tree: Path, tmp: Path, mp) -> dict:
    bogus = tmp / "leaves.tar.gz"
    bogus.write_bytes(b"\x1f\x8b not really")
    return {"_source": bogus}


def _two_copies(tree: Path, tmp: Path, mp) -> dict:
    both = tmp / "both"
    shutil.copytree(tree, both / "copy-a")
    shutil.copytree(tree, both / "copy-b")
    return {"_source": both}


# ------------------------------------------------------------------------------ cache
def _load(source, cache_dir, **kwargs) -> LeafData:
    return load_leaf(source, cache_dir=cache_dir, image_size=SIZE, progress=False, **kwargs)


def _forbid_decoding(mp) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("decoded although the cache is current")

    mp.setattr(decode_module, "decode_letterboxed", fail)


def _cached_then(
    after: Callable[[Path, Path, Path, Any], dict],
) -> Callable[[Path, Path, Any], dict]:
    """Load once (filling the cache), then apply ``after(tree, tmp, cache_dir, mp)``."""

    def damage(tree: Path, tmp: Path, mp) -> dict:
        _load(tree, tmp / "cache")
        return {**after(tree, tmp, tmp / "cache", mp), "cache_dir": tmp / "cache"}

    return damage


def _reuse(tree, tmp, cache, mp) -> dict:
    _forbid_decoding(mp)
    return {}


def _reuse_without_source(tree, tmp, cache, mp) -> dict:
    _forbid_decoding(mp)
    return {"_source": None}


def _same_size_new_content(tree: Path, tmp: Path, mp) -> dict:
    """Same path, same size, other pixels, newer mtime (PNG ignores trailing bytes)."""
    path = tree / FIRST

    def write(rgb) -> None:
        data = encode(Image.new("RGB", (W, H), rgb), "PNG")
        path.write_bytes(data + b"\0" * (300 - len(data)))

    write(colour(0))
    _load(tree, tmp / "cache")
    size = path.stat().st_size
    write((250, 250, 250))
    stat = path.stat()
    assert stat.st_size == size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    return {"cache_dir": tmp / "cache", "_rel": FIRST}


def _zip_cached_then_changed(tree: Path, tmp: Path, mp) -> dict:
    archive = zip_tree(tree, tmp / "a.zip")
    _load(archive, tmp / "cache")
    path = tree / FIRST
    path.write_bytes(encode(Image.new("RGB", (W, H), (250, 250, 250)), "PNG"))
    archive.unlink()
    zip_tree(tree, archive)
    return {"_source": archive, "cache_dir": tmp / "cache", "_rel": FIRST}


def _truncate(keep: int | None) -> Callable:
    def after(tree, tmp, cache, mp) -> dict:
        path = cache / CACHE_NAME
        path.write_bytes(path.read_bytes()[:keep] if keep else b"")
        return {}

    return after


def _garbage_cache(tree, tmp, cache, mp) -> dict:
    (cache / CACHE_NAME).write_text("this is not a torch file")
    return {}


def _foreign_cache(tree, tmp, cache, mp) -> dict:
    torch.save({"images": torch.zeros(1)}, cache / CACHE_NAME)
    return {}


def _damaged_no_source(tree, tmp, cache, mp) -> dict:
    path = cache / CACHE_NAME
    path.write_bytes(path.read_bytes()[:100])
    return {"_source": None}


def _unwritable(kind: str) -> Callable[[Path, Path, Any], dict]:
    def damage(tree: Path, tmp: Path, mp) -> dict:
        _forbid_decoding(mp)  # the folder must be found unwritable before any decoding
        blocker = tmp / "a-file"
        blocker.write_text("x")
        if kind == "is-a-file":
            return {"cache_dir": blocker}
        if kind == "under-a-file":
            return {"cache_dir": blocker / "cache"}
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        folder = tmp / "read-only"
        folder.mkdir(mode=0o500)
        return {"cache_dir": folder}

    return damage


def _subset_cache_strict(tree: Path, tmp: Path, mp) -> dict:
    shutil.rmtree(tree / "Bael (P4)")
    with pytest.warns(UserWarning, match="Bael"):
        _load(tree, tmp / "cache", allow_subset=True)
    return {"_source": None, "cache_dir": tmp / "cache"}


def _GIF() -> tuple[str, bytes]:
    return "0001_0001.gif", encode(Image.new("RGB", (W, H), (200, 100, 50)).convert("P"), "GIF")


CASES: list[Case] = [
    # --- the complete tree, and harmless variations of it
    Case("complete-tree", lambda t, tmp, mp: {}, Ok(_complete_source)),
    Case("health-folder-capitalised", _rename(MANGO_H, "Mango (P0)/Healthy"), Ok(_complete_source)),
    Case("plant-folder-upper-case", _rename("Gauva (P3)", "GAUVA (P3)"), Ok(_complete_source)),
    Case("readme-in-class-folder", _add(f"{MANGO_H}/README.txt", b"notes"), Ok(_complete_source)),
    Case("hidden-and-macosx-files", _add("__MACOSX/._0001_0001.png", b"junk"), Ok(_complete_source)),
    Case("stray-preview-image-warns", _add("preview.png", _png()), Ok(_complete_source, warns="preview.png")),
    Case("file-index-gap", _add(f"{MANGO_H}/0001_0332.png", _png()), Ok(n=23)),
    # --- missing or empty parts: errors that list them
    Case("missing-plant-bael", _rm("Bael (P4)"), Err(ValueError, ["Bael (P4)", "allow_subset"])),
    Case("missing-plant-basil", _rm("Basil (P8)"), Err(ValueError, ["Basil (P8)"])),
    Case("missing-two-plants", lambda t, tmp, mp: {**_rm("Mango (P0)")(t, tmp, mp), **_rm("Chinar (P11)")(t, tmp, mp)},
         Err(ValueError, ["Mango (P0)", "Chinar (P11)"])),  # fmt: skip
    Case("missing-class-folder", _rm("Mango (P0)/diseased"), Err(ValueError, ["Mango (P0)/diseased"])),
    Case("empty-class-folder", _empty("Lemon (P10)/healthy"), Err(ValueError, ["Lemon (P10)/healthy", "without images"])),
    Case("class-folder-only-readme", _empty("Lemon (P10)/diseased", keep="README.txt"), Err(ValueError, ["Lemon (P10)/diseased"])),
    Case("no-images-at-all", lambda t, tmp, mp: {"_source": (tmp / "void").mkdir() or tmp / "void"},
         Err(FileNotFoundError, ["void", "hb74ynkjcn"])),  # fmt: skip
    Case("source-does-not-exist", lambda t, tmp, mp: {"_source": tmp / "nowhere"}, Err(FileNotFoundError, ["nowhere", "Mendeley"])),
    # --- unknown plant folders
    Case("plant-spelled-guava", _rename("Gauva (P3)", "Guava (P3)"), Err(ValueError, ["Guava (P3)", "Gauva (P3)"])),
    Case("extra-plant-p12", _add("Tulsi (P12)/healthy/0023_0001.png", _png()), Err(ValueError, ["Tulsi (P12)"])),
    Case("plant-without-p-label", _rename("Jamun (P5)", "Jamun"), Err(ValueError, ["'Jamun'", "Jamun (P5)"])),
    Case("plant-with-wrong-p-number", _rename("Lemon (P10)", "Lemon (P9)"), Err(ValueError, ["Lemon (P9)"])),
    Case("unknown-plant-empty-folder", _add("Neem (P12)/diseased/.keep", b""), Err(ValueError, ["Neem (P12)"])),
    Case("everything-misspelled", lambda t, tmp, mp: _two_renames(t), Err(FileNotFoundError, ["Guava [P3)", "Gauva (P3)"])),
    # --- explicit subsets: warned and recorded in the source label
    Case("subset-missing-plant", _rename("Bael (P4)", "../Bael-moved", allow_subset=True),
         Ok(_label_has("21 of 22", "Bael (P4)"), n=21, warns="Bael \\(P4\\)")),  # fmt: skip
    Case("subset-empty-class", lambda t, tmp, mp: {**_empty("Lemon (P10)/healthy")(t, tmp, mp), "allow_subset": True},
         Ok(_label_has("Lemon (P10)/healthy"), n=21, warns="Lemon")),  # fmt: skip
    Case("subset-unknown-plant-ignored", _add("Tulsi (P12)/healthy/0023_0001.png", _png(), allow_subset=True),
         Ok(_label_has("Tulsi (P12)", "22 of 22"), n=22, warns="Tulsi")),  # fmt: skip
    Case("subset-does-not-excuse-bad-prefix", _add(f"{MANGO_H}/0012_0009.png", _png(), allow_subset=True),
         Err(ValueError, [f"{MANGO_H}/0012_0009.png"])),  # fmt: skip
    # --- names that disagree with the table
    Case("prefix-of-other-class", _add(f"{MANGO_H}/0012_0002.png", _png()), Err(ValueError, [f"{MANGO_H}/0012_0002.png", "Mango (P0) diseased"])),
    Case("prefix-beyond-table", _add(f"{MANGO_H}/0099_0001.png", _png()), Err(ValueError, ["0099_0001.png", "0001..0022"])),
    Case("class-that-does-not-exist", _add("Bael (P4)/healthy/0016_0001.png", _png()), Err(ValueError, ["Bael (P4)/healthy/0016_0001.png"])),
    Case("camera-file-name", _add(f"{MANGO_H}/IMG_1234.JPG", _png()), Err(ValueError, [f"{MANGO_H}/IMG_1234.JPG"])),
    Case("dataset-name-outside-layout", _add("Mango (P0)/0001_0002.png", _png()), Err(ValueError, ["Mango (P0)/0001_0002.png", "outside"])),
    Case("unsupported-format-heic", _add(f"{MANGO_H}/0001_0002.heic", b"heic"), Err(ValueError, ["0001_0002.heic", "format"])),
    Case("two-copies-of-the-dataset", _two_copies, Err(ValueError, ["twice", "copy-a", "copy-b"])),
    # --- files that cannot be decoded: all named
    Case("zero-byte-image", _add(f"{MANGO_H}/0001_0002.JPG", b""), Err(CorruptImageError, ["0001_0002.JPG"])),
    Case("text-saved-as-jpg", _add(f"{MANGO_H}/0001_0003.JPG", b"hello"), Err(CorruptImageError, ["0001_0003.JPG"])),
    Case("truncated-png", _add(f"{MANGO_H}/0001_0004.png", lambda: _png()()[:40]), Err(CorruptImageError, ["0001_0004.png"])),
    Case("float-image-out-of-range", _replace_first(_fmt("0001_0001.tif", _float_image(2.0), "TIFF")),
         Err(CorruptImageError, ["0001_0001.tif", "[0, 1]"])),  # fmt: skip
    Case("int32-image-out-of-range", _replace_first(_fmt("0001_0001.tif", _int32_image(70000), "TIFF")),
         Err(CorruptImageError, ["0001_0001.tif", "65535"])),  # fmt: skip
    # --- every format Pillow reads decodes with the right values
    Case("format-jpeg-upper-case", _replace_first(_fmt("0001_0001.JPG", lambda: Image.new("RGB", (W, H), (200, 100, 50)), "JPEG", quality=100)),
         Ok(_pixel_is((200, 100, 50), tol=3))),  # fmt: skip
    Case("format-jpeg-extension", _replace_first(_fmt("0001_0001.jpeg", lambda: Image.new("RGB", (W, H), (200, 100, 50)), "JPEG", quality=100)),
         Ok(_pixel_is((200, 100, 50), tol=3))),  # fmt: skip
    Case("format-bmp", _replace_first(_fmt("0001_0001.bmp", lambda: Image.new("RGB", (W, H), (200, 100, 50)), "BMP")), Ok(_pixel_is((200, 100, 50)))),
    Case("format-tiff", _replace_first(_fmt("0001_0001.tiff", lambda: Image.new("RGB", (W, H), (200, 100, 50)), "TIFF")), Ok(_pixel_is((200, 100, 50)))),
    Case("format-webp-lossless", _replace_first(_fmt("0001_0001.webp", lambda: Image.new("RGB", (W, H), (200, 100, 50)), "WEBP", lossless=True)),
         Ok(_pixel_is((200, 100, 50)))),  # fmt: skip
    Case("format-gif-palette", _replace_first(_GIF), Ok(_pixel_is((200, 100, 50), tol=8))),
    Case("format-palette-png", _replace_first(_fmt("0001_0001.png", _palette_opaque, "PNG")), Ok(_pixel_is((200, 100, 50)))),
    Case("format-palette-transparent", _replace_first(_fmt("0001_0001.png", _palette_transparent, "PNG")), Ok(_pixel_is((0, 0, 0)), warns=r"1 leaf image\(s\) have transparent pixels.*0001_0001.*composited onto black")),
    Case("format-greyscale-8bit", _replace_first(_fmt("0001_0001.png", lambda: Image.new("L", (W, H), 77), "PNG")), Ok(_pixel_is((77, 77, 77)))),
    Case("format-bilevel", _replace_first(_fmt("0001_0001.png", lambda: Image.new("1", (W, H), 1), "PNG")), Ok(_pixel_is((255, 255, 255)))),
    Case("format-16bit-grey-png-mid", _replace_first(_fmt("0001_0001.png", _grey16(32768), "PNG")), Ok(_pixel_is((128, 128, 128)))),
    Case("format-16bit-grey-png-low", _replace_first(_fmt("0001_0001.png", _grey16(1000), "PNG")), Ok(_pixel_is((4, 4, 4)))),
    Case("format-16bit-grey-tiff-max", _replace_first(_fmt("0001_0001.tif", _grey16(65535), "TIFF")), Ok(_pixel_is((255, 255, 255)))),
    Case("format-float-tiff", _replace_first(_fmt("0001_0001.tif", _float_image(0.5), "TIFF")), Ok(_pixel_is((128, 128, 128)))),
    Case("format-rgba-opaque", _replace_first(_fmt("0001_0001.png", _rgba(255), "PNG")), Ok(_pixel_is((200, 100, 50)))),
    Case("format-rgba-transparent", _replace_first(_fmt("0001_0001.png", _rgba(0), "PNG")), Ok(_pixel_is((0, 0, 0)), warns=r"1 leaf image\(s\) have transparent pixels.*0001_0001.*composited onto black")),
    Case("format-rgba-half", _replace_first(_fmt("0001_0001.png", _rgba(128), "PNG")), Ok(_pixel_is((100, 50, 25), tol=1), warns=r"1 leaf image\(s\) have transparent pixels.*0001_0001.*composited onto black")),
    Case("format-rgba-png-named-jpg", _replace_first(_fmt("0001_0001.JPG", _cut_out_leaf, "PNG")),
         Ok(_composited_on_black, warns=r"1 leaf image\(s\) have transparent pixels: Mango \(P0\)/healthy/0001_0001.JPG \(100 % of pixels\)")),  # fmt: skip
    Case("format-cmyk-jpeg", _replace_first(_fmt("0001_0001.jpg", lambda: Image.new("CMYK", (W, H), (0, 0, 0, 0)), "JPEG", quality=100)),
         Ok(_pixel_is((255, 255, 255), tol=3))),  # fmt: skip
    # --- symlinks are followed
    Case("symlinked-plant-folder", _symlink_plant, Ok(_complete_source)),
    Case("symlinked-class-folder", _symlink_class, Ok(_complete_source)),
    Case("symlinked-root", _symlink_root, Ok(_complete_source)),
    Case("symlink-loop-visited-once", _symlink_loop, Ok(_complete_source)),
    Case("symlinked-file", _symlink_file, Ok(_pixel_is((9, 9, 9)), n=23)),
    Case("dangling-symlink", _dangling, Err(ValueError, ["0001_0002.JPG", "dangling"])),
    # --- zips
    Case("zip-of-complete-tree", _as_zip, Ok(_complete_source)),
    Case("zip-missing-class", _zip_without("Chinar (P11)/healthy"), Err(ValueError, ["Chinar (P11)/healthy"])),
    Case("not-a-zip-file", _not_a_zip, Err(ValueError, ["leaves.tar.gz", "not a readable .zip"])),
    # --- the cache
    Case("cache-reused-without-decoding", _cached_then(_reuse), Ok(_complete_source)),
    Case("cache-loaded-without-source", _cached_then(_reuse_without_source), Ok(_complete_source)),
    Case("cache-stale-same-size-new-mtime", _same_size_new_content,
         Ok(_pixel_is((250, 250, 250)), warns="built from different files")),  # fmt: skip
    Case("cache-stale-zip-member-crc", _zip_cached_then_changed, Ok(_pixel_is((250, 250, 250)), warns="different files")),
    Case("cache-truncated-rebuilt", _cached_then(_truncate(200)), Ok(_complete_source, warns="cannot be read")),
    Case("cache-empty-rebuilt", _cached_then(_truncate(None)), Ok(_complete_source, warns="cannot be read")),
    Case("cache-not-a-torch-file", _cached_then(_garbage_cache), Ok(_complete_source, warns="cannot be read")),
    Case("cache-foreign-dict", _cached_then(_foreign_cache), Ok(_complete_source, warns="keys missing")),
    Case("cache-damaged-no-source", _cached_then(_damaged_no_source), Err(FileNotFoundError, [CACHE_NAME, "cannot be read"])),
    Case("cache-subset-refused-when-strict", _subset_cache_strict, Err(ValueError, [CACHE_NAME, "allow_subset", "Bael (P4)"])),
    Case("cache-dir-is-a-file", _unwritable("is-a-file"), Err(CacheNotWritableError, ["a-file", "cache_dir="])),
    Case("cache-dir-under-a-file", _unwritable("under-a-file"), Err(CacheNotWritableError, ["a-file/cache"])),
    Case("cache-dir-read-only", _unwritable("read-only"), Err(CacheNotWritableError, ["read-only"])),
]  # fmt: skip


def _two_renames(tree: Path) -> dict:
    for folder in list(tree.iterdir()):
        folder.rename(tree / folder.name.replace("Gauva", "Guava").replace("(P", "[P"))
    return {}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_leaf_loader_fault(case: Case, tree: Path, tmp_path: Path, monkeypatch) -> None:
    kwargs = case.damage(tree, tmp_path, monkeypatch)
    source = kwargs.pop("_source", tree)
    ctx = {"_rel": kwargs.pop("_rel", None)}
    kwargs.setdefault("cache_dir", tmp_path / "fresh-cache")
    if isinstance(case.expect, Err):
        with pytest.raises(case.expect.error) as info:
            _load(source, **kwargs)
        message = str(info.value)
        for name in case.expect.names:
            assert name in message, f"{name!r} not in:\n{message}"
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = _load(source, **kwargs)
    texts = [str(w.message) for w in caught]
    if case.expect.warns is None:
        assert not [t for t in texts if "leaf" in t or "ignored" in t], texts
    else:
        assert any(re.search(case.expect.warns, t) for t in texts), texts
    assert len(data) == case.expect.n
    assert data.images.shape == (case.expect.n, 3, SIZE, SIZE)
    case.expect.check(data, ctx)


def test_default_cache_dir_in_a_checkout_is_data_cache() -> None:
    root = cache_module._package_root()
    assert (root / "pyproject.toml").is_file()
    assert cache_module.default_cache_dir() == root / "data" / "cache"


@pytest.mark.parametrize(
    "xdg, expected",
    [
        ("{tmp}/xdg", "{tmp}/xdg/mtl-book"),
        ("", "{home}/.cache/mtl-book"),
        ("relative/xdg", "{home}/.cache/mtl-book"),
    ],
    ids=["xdg-cache-home", "no-xdg", "relative-xdg-ignored"],
)
def test_default_cache_dir_when_installed_is_the_user_cache(tmp_path, monkeypatch, xdg, expected) -> None:
    installed = tmp_path / "venv" / "lib" / "python3.12" / "site-packages"
    (installed / "mtl_lib").mkdir(parents=True)
    (installed / "pyproject.toml").write_text("")  # even then: never inside site-packages
    monkeypatch.setattr(cache_module, "_package_root", lambda: installed)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", xdg.format(tmp=tmp_path))
    got = cache_module.default_cache_dir()
    assert got == Path(expected.format(tmp=tmp_path, home=tmp_path / "home"))
    assert "site-packages" not in got.parts
