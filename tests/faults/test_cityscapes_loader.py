"""Fault injection for the CityScapes (MTAN .npy layout) loader (issue 9, item 5).

Each row of the table damages one file (or folder) of a tiny valid tree and states the
outcome: the correct tensors, or an error whose message names the damaged file.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from mtl_lib.data.cityscapes import (
    IGNORE_INDEX,
    CityscapesFileError,
    load_cityscapes,
)

H, W = 4, 8
N = {"train": 2, "val": 1}


def sample(i: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(i)
    return {
        "image": rng.random((H, W, 3)).astype(np.float32),
        "label_7": rng.integers(-1, 7, size=(H, W)).astype(np.float32),  # MTAN stores floats
        "depth": (rng.random((H, W, 1)) + 0.1).astype(np.float32),
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "cityscapes"
    for split, n in N.items():
        for i in range(n):
            for folder, array in sample(i).items():
                (base / split / folder).mkdir(parents=True, exist_ok=True)
                np.save(base / split / folder / f"{i}.npy", array)
    return base


TARGET = "train/{folder}/1.npy"  # the sample every damage is applied to


@dataclass
class Case:
    id: str
    folder: str  # which of image / label_7 / depth is damaged ("" = the tree)
    damage: Callable[[Path], None]  # gets the path of the damaged file (or the root)
    error: type[BaseException] | None  # None: loads, and ``check`` holds
    names: tuple[str, ...] = ()  # substrings of the message besides the file's path
    check: Callable[[object], None] | None = None


def _array(a) -> Callable[[Path], None]:
    return lambda path: np.save(path, a() if callable(a) else a)


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:60])


def _pickled_objects(path: Path) -> None:
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)


def _plain_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps(np.zeros((H, W, 3))))


def _npz(path: Path) -> None:
    with path.open("wb") as f:
        np.savez(f, image=np.zeros((H, W, 3)))


def _text(path: Path) -> None:
    np.savetxt(path, np.zeros((H, W)))


def _image_with(value: float, dtype=np.float32) -> Callable[[], np.ndarray]:
    def make() -> np.ndarray:
        a = sample(1)["image"].astype(dtype)
        a[1, 2, 0] = value
        return a

    return make


def _labels_with(value: float, dtype=np.float32) -> Callable[[], np.ndarray]:
    def make() -> np.ndarray:
        a = sample(1)["label_7"].astype(dtype)
        a[0, 3] = value
        return a

    return make


def _depth_with(value: float) -> Callable[[], np.ndarray]:
    def make() -> np.ndarray:
        a = sample(1)["depth"].copy()
        a[2, 1, 0] = value
        return a

    return make


def _seg_value(expected: int) -> Callable[[object], None]:
    def check(data) -> None:
        assert int(data.train.seg[1, 0, 3]) == expected

    return check


def _image_value(expected: float) -> Callable[[object], None]:
    def check(data) -> None:
        assert abs(float(data.train.images[1, 0, 1, 2]) - expected) < 1e-6

    return check


def _intact(data) -> None:
    ref = sample(1)
    torch.testing.assert_close(data.train.images[1], torch.from_numpy(ref["image"]).permute(2, 0, 1))
    assert torch.equal(data.train.seg[1], torch.from_numpy(ref["label_7"]).long())
    torch.testing.assert_close(data.train.depth[1], torch.from_numpy(ref["depth"]).permute(2, 0, 1))


CASES = [
    # --- valid files, including the variants the loader accepts
    Case("valid-tree", "image", lambda p: None, None, check=_intact),
    Case("uint8-image-scaled", "image", _array(lambda: np.full((H, W, 3), 255, np.uint8)), None, check=_image_value(1.0)),
    Case("float64-image", "image", _array(lambda: sample(1)["image"].astype(np.float64)), None, check=_intact),
    Case("image-rounding-overshoot-clipped", "image", _array(_image_with(1.0 + 1e-5)), None, check=_image_value(1.0)),
    Case("int-labels", "label_7", _array(lambda: sample(1)["label_7"].astype(np.int64)), None, check=_intact),
    Case("ignore-label-kept", "label_7", _array(_labels_with(-1)), None, check=_seg_value(IGNORE_INDEX)),
    Case("label-six", "label_7", _array(_labels_with(6)), None, check=_seg_value(6)),
    Case("depth-zero-is-invalid-not-error", "depth", _array(_depth_with(0.0)), None),
    # --- unreadable files
    Case("truncated-image", "image", _truncate, CityscapesFileError, ("cannot be read",)),
    Case("truncated-depth", "depth", _truncate, CityscapesFileError, ("cannot be read",)),
    Case("empty-label-file", "label_7", _bytes(b""), CityscapesFileError, ("cannot be read",)),
    Case("empty-image-file", "image", _bytes(b""), CityscapesFileError, ("cannot be read",)),
    Case("pickled-object-array", "image", _pickled_objects, CityscapesFileError, ("cannot be read",)),
    Case("plain-pickle", "depth", _plain_pickle, CityscapesFileError, ("cannot be read",)),
    Case("text-file", "label_7", _text, CityscapesFileError, ("cannot be read",)),
    Case("html-error-page", "image", _bytes(b"<html>403 Forbidden</html>"), CityscapesFileError, ("cannot be read",)),
    Case("npz-archive", "image", _npz, CityscapesFileError, ("NpzFile",)),
    Case("string-array", "depth", _array(np.array(["a", "b"])), CityscapesFileError, ("expected numbers",)),
    Case("complex-image", "image", _array(lambda: sample(1)["image"].astype(np.complex64)), CityscapesFileError, ("complex",)),
    # --- images: values, dtype, shape
    Case("image-nan", "image", _array(_image_with(np.nan)), CityscapesFileError, ("NaN",)),
    Case("image-inf", "image", _array(_image_with(np.inf)), CityscapesFileError, ("infinite",)),
    Case("image-0-255-as-float", "image", _array(lambda: sample(1)["image"] * 255), CityscapesFileError, ("expected [0, 1]", "255")),
    Case("image-negative", "image", _array(_image_with(-0.5)), CityscapesFileError, ("-0.5",)),
    Case("image-int16", "image", _array(lambda: np.zeros((H, W, 3), np.int16)), CityscapesFileError, ("int16",)),
    Case("image-bool", "image", _array(lambda: np.zeros((H, W, 3), bool)), CityscapesFileError, ("bool",)),
    Case("image-channels-first", "image", _array(lambda: np.zeros((3, H, W), np.float32)), CityscapesFileError, ("(H, W, 3)",)),
    Case("image-greyscale", "image", _array(lambda: np.zeros((H, W), np.float32)), CityscapesFileError, ("(H, W, 3)",)),
    # --- labels
    Case("label-seven", "label_7", _array(_labels_with(7)), CityscapesFileError, ("0..6", "[7]")),
    Case("label-255-raw-ignore", "label_7", _array(_labels_with(255)), CityscapesFileError, ("255", "-1")),
    Case("label-minus-two", "label_7", _array(_labels_with(-2)), CityscapesFileError, ("[-2]",)),
    Case("label-fraction", "label_7", _array(_labels_with(2.5)), CityscapesFileError, ("whole numbers",)),
    Case("label-nan", "label_7", _array(_labels_with(np.nan)), CityscapesFileError, ("NaN",)),
    Case("label-19-classes", "label_7", _array(_labels_with(18, np.int64)), CityscapesFileError, ("label_19",)),
    Case("label-wrong-shape", "label_7", _array(lambda: np.zeros((H + 1, W), np.float32)), CityscapesFileError, ("shape",)),
    Case("labels-with-channel-axis", "label_7", _array(lambda: sample(1)["label_7"][..., None]), CityscapesFileError, ("(4, 8, 1)", "[..., 0]")),
    Case("label-bool", "label_7", _array(lambda: np.zeros((H, W), bool)), CityscapesFileError, ("booleans",)),
    # --- depth
    Case("depth-nan", "depth", _array(_depth_with(np.nan)), CityscapesFileError, ("NaN",)),
    Case("depth-inf", "depth", _array(_depth_with(np.inf)), CityscapesFileError, ("infinite",)),
    Case("depth-negative", "depth", _array(_depth_with(-1.0)), CityscapesFileError, (">= 0", "-1")),
    Case("depth-wrong-shape", "depth", _array(lambda: np.zeros((H, W, 2), np.float32)), CityscapesFileError, ("shape",)),
    Case("depth-without-channel-axis", "depth", _array(lambda: sample(1)["depth"][..., 0]), CityscapesFileError, ("(4, 8)", "[..., None]")),
    # --- layout
    Case("missing-sample-file", "depth", lambda p: p.unlink(), ValueError, ("disagree",)),
    Case("sample-is-a-folder", "image", lambda p: (p.unlink(), p.mkdir()), FileNotFoundError, ()),
    Case("missing-val-split", "", lambda root: __import__("shutil").rmtree(root / "val"), FileNotFoundError, ("val", "lorenmt/mtan")),
    Case("missing-label-folder", "", lambda root: __import__("shutil").rmtree(root / "train" / "label_7"), FileNotFoundError, ("label_7",)),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cityscapes_loader_fault(case: Case, root: Path) -> None:
    path = root / TARGET.format(folder=case.folder) if case.folder else root
    case.damage(path)
    if case.error is None:
        data = load_cityscapes(root)
        assert len(data.train) == N["train"] and len(data.val) == N["val"]
        assert torch.isfinite(data.train.images).all() and data.train.images.min() >= 0 and data.train.images.max() <= 1
        assert ((data.train.seg >= -1) & (data.train.seg <= 6)).all()
        assert (data.train.depth >= 0).all()
        if case.check is not None:
            case.check(data)
        return
    with pytest.raises(case.error) as info:
        load_cityscapes(root)
    message = str(info.value)
    named = str(root / case.folder if not case.folder else path)
    if case.id in ("missing-val-split", "missing-label-folder"):
        named = str(root)
    assert named in message, f"{named} not in:\n{message}"
    for name in case.names:
        assert name in message, f"{name!r} not in:\n{message}"
    if isinstance(info.value, CityscapesFileError):
        assert info.value.path == path
