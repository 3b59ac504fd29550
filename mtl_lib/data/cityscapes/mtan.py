"""The real CityScapes in MTAN's 128×256 ``.npy`` layout (see :mod:`mtl_lib.data.cityscapes`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mtl_lib.data.cityscapes.dataset import (
    IGNORE_INDEX,
    NUM_CLASSES,
    REAL_SOURCE,
    CityscapesData,
    DenseSplit,
)

MTAN_FOLDERS: tuple[str, ...] = ("image", "label_7", "depth")
MTAN_SIZE = (128, 256)

_LAYOUT_HELP = (
    "Expected CityScapes as preprocessed by MTAN (Liu, Johns & Davison, CVPR 2019):\n"
    "  <data_dir>/{train,val}/image/<i>.npy    (128, 256, 3) float RGB in [0, 1]\n"
    "  <data_dir>/{train,val}/label_7/<i>.npy  (128, 256) labels 0..6, -1 = ignored\n"
    "  <data_dir>/{train,val}/depth/<i>.npy    (128, 256, 1) float, 0 = invalid\n"
    "with i = 0..N-1. Download the 128x256 version ('cityscapes2.zip', ~651 MB) linked from "
    "the README of https://github.com/lorenmt/mtan, unzip it and pass the folder that contains "
    "train/ and val/ as data_dir (or pass data_dir=None to use the generated stand-in)."
)


def _missing(path: Path, what: str) -> FileNotFoundError:
    return FileNotFoundError(f"CityScapes {what} not found: {path}\n{_LAYOUT_HELP}")


def _count_split(root: Path, split: str) -> int:
    """Number of samples of ``split``; raises on a missing folder or disagreeing counts."""
    if not root.is_dir():
        raise _missing(root, "data folder")
    split_dir = root / split
    if not split_dir.is_dir():
        raise _missing(split_dir, f"'{split}' split folder")
    names: dict[str, set[str]] = {}
    for folder in MTAN_FOLDERS:
        path = split_dir / folder
        if not path.is_dir():
            raise _missing(path, "folder")
        names[folder] = {p.name for p in path.glob("*.npy")}
    counts = {folder: len(found) for folder, found in names.items()}
    if len(set(counts.values())) != 1:
        everything = set().union(*names.values())
        missing = [
            str(split_dir / folder / name) for folder, found in names.items() for name in sorted(everything - found)
        ]
        shown = "\n  ".join(missing[:20]) + (f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise ValueError(
            f"CityScapes folders under {split_dir} disagree on the number of .npy files: "
            f"{counts}; the download is incomplete or mixed. Missing:\n  {shown}\n{_LAYOUT_HELP}"
        )
    n = counts[MTAN_FOLDERS[0]]
    if n == 0:
        raise _missing(split_dir / MTAN_FOLDERS[0] / "0.npy", "sample")
    return n


class MTANCityscapes(Dataset):
    """CityScapes in MTAN's 128×256 ``.npy`` layout (see the module docstring).

    ``dataset[i]`` is ``(image (3, H, W) float32, seg (H, W) int64, depth (1, H, W) float32)``.
    Reading a sample checks shapes exactly as MTAN stores them (image ``(H, W, 3)``, labels
    ``(H, W)``, depth ``(H, W, 1)``, one size per sample; a label with a channel axis or a depth
    without one is refused with the one-line fix, a size that differs from the image's names both
    files) and values: images finite, float in [0, 1] or uint8; labels whole numbers in 0..6 or
    -1 (ignored); depth finite and >= 0. A file that cannot be
    read (truncated, empty, text, pickled objects: ``np.load`` runs with ``allow_pickle=False``)
    or fails a check raises :class:`CityscapesFileError` naming it.
    Construction checks that the three folders exist, hold the same number of files and that
    samples ``0 .. len-1`` are all present (the first missing path is named in the error).
    ``limit`` keeps the first ``limit`` samples.
    """

    def __init__(self, root: str | Path, split: str = "train", limit: int | None = None) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        self.root = Path(root).expanduser()
        self.split = split
        self.split_dir = self.root / split
        n = _count_split(self.root, split)
        if limit is not None:
            if limit < 1:
                raise ValueError(f"limit must be positive, got {limit}")
            n = min(n, limit)
        self.length = n
        for i in range(n):
            for folder in MTAN_FOLDERS:
                path = self._path(folder, i)
                if not path.is_file():
                    raise _missing(path, "sample file")
        self.source = REAL_SOURCE

    def _path(self, folder: str, index: int) -> Path:
        return self.split_dir / folder / f"{index}.npy"

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        image_path = self._path("image", index)
        image = _image(image_path)
        size = (int(image.shape[1]), int(image.shape[2]))
        labels = _labels(self._path("label_7", index), size, image_path)
        depth = _depth(self._path("depth", index), size, image_path)
        return torch.from_numpy(image), torch.from_numpy(labels), torch.from_numpy(depth)


# --------------------------------------------------------------------------- #
# reading and checking one file (every error names the file)
# --------------------------------------------------------------------------- #
class CityscapesFileError(ValueError):
    """A CityScapes ``.npy`` file that cannot be read or holds wrong values; ``path`` names it."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


#: Float images may overshoot [0, 1] by this much (rounding in a re-export); it is clipped.
_IMAGE_SLACK = 1e-3


def read_npy(path: Path) -> np.ndarray:
    """``np.load`` without pickles: a truncated, empty, text or pickled file raises
    :class:`CityscapesFileError` naming ``path``."""
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as error:  # ValueError, EOFError, OSError, UnpicklingError: all "unreadable"
        raise CityscapesFileError(
            path,
            f"cannot be read as a NumPy .npy array ({type(error).__name__}: {error}); "
            "the file is damaged or not part of MTAN's preprocessed CityScapes: re-extract it",
        ) from error
    if not isinstance(array, np.ndarray):  # an .npz archive gives an NpzFile
        raise CityscapesFileError(path, f"holds a {type(array).__name__}, not a single array")
    if array.dtype.kind not in "biuf":
        raise CityscapesFileError(path, f"holds {array.dtype} values, expected numbers")
    return array


def _image(path: Path) -> np.ndarray:
    """(3, H, W) float32 in [0, 1] from an (H, W, 3) float [0, 1] or uint8 array."""
    image = read_npy(path)
    if image.ndim != 3 or image.shape[-1] != 3 or 0 in image.shape:
        raise CityscapesFileError(path, f"expected an (H, W, 3) image, got shape {image.shape}")
    if image.dtype == np.uint8:  # MTAN stores floats in [0, 1]; accept 8-bit re-exports too
        image = image.astype(np.float32) / 255.0
    elif image.dtype.kind == "f":
        if not np.isfinite(image).all():
            bad = int((~np.isfinite(image)).sum())
            raise CityscapesFileError(path, f"{bad} image value(s) are NaN or infinite")
        low, high = float(image.min()), float(image.max())
        if low < -_IMAGE_SLACK or high > 1 + _IMAGE_SLACK:
            hint = " (8-bit values stored as floats? divide by 255)" if high <= 255 and low >= 0 else ""
            raise CityscapesFileError(path, f"image values lie in {low:g}..{high:g}, expected [0, 1]{hint}")
        image = np.clip(image, 0.0, 1.0)
    else:
        raise CityscapesFileError(path, f"image dtype {image.dtype}: expected float in [0, 1] (MTAN) or uint8")
    return np.ascontiguousarray(np.moveaxis(image, -1, 0), dtype=np.float32)


def _check_map_shape(path: Path, array: np.ndarray, what: str, expected: tuple[int, ...], image_path: Path) -> None:
    """``array`` (a label or depth map) must have exactly MTAN's shape ``expected``; the error
    says which axis is wrong and names the sample's image when the two sizes differ."""
    if array.shape == expected:
        return
    layout = "(H, W)" if len(expected) == 2 else "(H, W, 1)"
    got, size = array.shape, expected[:2]
    if got[:2] == size and len(got) == 3 and len(expected) == 2 and got[2] == 1:
        fix = "a trailing channel axis MTAN's label files do not have: drop it (np.save(path, np.load(path)[..., 0]))"
    elif got == size and len(expected) == 3:
        fix = (
            "no trailing channel axis, which MTAN's depth files have: add it (np.save(path, np.load(path)[..., None]))"
        )
    elif len(got) >= 2 and got[:2] != size:
        fix = (
            f"its size {got[:2]} differs from the size {size} of this sample's image {image_path}: one of "
            "the two was resized or belongs to another sample; every sample's image, label_7 and "
            "depth files must share one size"
        )
    else:
        fix = f"MTAN's {what} files have shape {layout}"
    raise CityscapesFileError(path, f"expected {what} of shape {expected} {layout}, got {got}: {fix}")


def _labels(path: Path, size: tuple[int, int], image_path: Path) -> np.ndarray:
    """(H, W) int64 in -1..6 from an integer or integral float array (MTAN stores floats)."""
    label = read_npy(path)
    _check_map_shape(path, label, "labels", size, image_path)
    if label.dtype.kind == "b":
        raise CityscapesFileError(path, "labels are booleans, expected integers -1..6")
    if label.dtype.kind == "f":
        if not np.isfinite(label).all():
            raise CityscapesFileError(path, "labels contain NaN or infinite values")
        if not np.array_equal(label, np.rint(label)):
            raise CityscapesFileError(
                path,
                "labels are not whole numbers (resized with interpolation instead of nearest?)",
            )
    labels = label.astype(np.int64)
    valid = (labels == IGNORE_INDEX) | ((labels >= 0) & (labels < NUM_CLASSES))
    if not valid.all():
        found = sorted(set(np.unique(labels[~valid]).tolist()))[:10]
        hint = " (255 is CityScapes' raw ignore value: map it to -1)" if 255 in found else ""
        hint = hint or " (is this label_2 or label_19?)"
        raise CityscapesFileError(
            path,
            f"labels must be 0..{NUM_CLASSES - 1} or {IGNORE_INDEX} (ignored), found {found}{hint}",
        )
    return np.ascontiguousarray(labels)


def _depth(path: Path, size: tuple[int, int], image_path: Path) -> np.ndarray:
    """(1, H, W) float32, finite and >= 0 (0 = no ground truth)."""
    depth = read_npy(path)
    _check_map_shape(path, depth, "depth", (*size, 1), image_path)
    if depth.dtype.kind == "b":
        raise CityscapesFileError(path, "depth is boolean, expected numbers >= 0")
    if not np.isfinite(depth).all():
        bad = int((~np.isfinite(depth)).sum())
        raise CityscapesFileError(path, f"{bad} depth value(s) are NaN or infinite (use 0 for 'no ground truth')")
    if depth.min() < 0:
        raise CityscapesFileError(path, f"depth must be >= 0 (0 = invalid), found minimum {float(depth.min()):g}")
    return np.ascontiguousarray(np.moveaxis(depth, -1, 0), dtype=np.float32)


def load_cityscapes_split(
    root: str | Path, split: str = "train", limit: int | None = None, progress: bool = False
) -> DenseSplit:
    """Read a whole split (or its first ``limit`` samples) into memory as tensors."""
    dataset = MTANCityscapes(root, split, limit)
    first = dataset[0]
    n = len(dataset)
    images = torch.empty((n, *first[0].shape), dtype=torch.float32)
    seg = torch.empty((n, *first[1].shape), dtype=torch.int64)
    depth = torch.empty((n, *first[2].shape), dtype=torch.float32)
    indices = range(n)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=f"CityScapes {split}", leave=False)
    for i in indices:
        sample = first if i == 0 else dataset[i]
        if sample[0].shape != images.shape[1:]:
            raise ValueError(
                f"{dataset._path('image', i)} has size {tuple(sample[0].shape[1:])}, but sample 0 "
                f"({dataset._path('image', 0)}) has {tuple(images.shape[2:])}; all samples of a split "
                "must have the same size: re-extract that sample, or resize its image, label_7 and "
                "depth files together (labels and depth by nearest neighbour)"
            )
        images[i], seg[i], depth[i] = sample
    return DenseSplit(images, seg, depth, REAL_SOURCE)


def resize_split(split: DenseSplit, height: int, width: int) -> DenseSplit:
    """Resize a split: images bilinearly (antialiased), labels and depth by nearest neighbour
    (so no label is invented and invalid depth, 0, is never blended into valid depth)."""
    if split.size == (height, width):
        return split
    images = F.interpolate(split.images, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    seg = F.interpolate(split.seg[:, None].float(), size=(height, width), mode="nearest")[:, 0].long()
    depth = F.interpolate(split.depth, size=(height, width), mode="nearest")
    return DenseSplit(images.clamp_(0.0, 1.0), seg, depth, split.source)


def load_cityscapes(
    data_dir: str | Path,
    n_train: int | None = None,
    n_val: int | None = None,
    height: int | None = None,
    width: int | None = None,
    progress: bool = False,
) -> CityscapesData:
    """Both splits of MTAN's CityScapes (optionally the first ``n_train`` / ``n_val`` samples,
    optionally resized to ``height × width``; both or neither must be given)."""
    if (height is None) != (width is None):
        raise ValueError("give both height and width, or neither")
    train = load_cityscapes_split(data_dir, "train", n_train, progress)
    val = load_cityscapes_split(data_dir, "val", n_val, progress)
    if height is not None:
        train, val = resize_split(train, height, width), resize_split(val, height, width)
    return CityscapesData(train, val, REAL_SOURCE)


def check_cityscapes_dir(data_dir: str | Path) -> None:
    """Check a CityScapes ``data_dir`` quickly, before any training: both splits laid out as
    MTAN's (folders, matching counts, every sample file present) and the first sample of each
    split readable with valid values. Raises the loader's own errors, which name the path."""
    for split in ("train", "val"):
        MTANCityscapes(data_dir, split)[0]
