"""MultiDigits: a MultiMNIST-style two-digit benchmark built from **real** handwritten digits.

Source (real data): the 1,797 8×8 images of scikit-learn's ``load_digits``, a copy of the test
set of the UCI "Optical Recognition of Handwritten Digits" data (E. Alpaydin and C. Kaynak,
1998; 43 writers' NIST forms, 32×32 bitmaps reduced to 8×8 counts of "on" pixels in 0..16).
The data ship inside the scikit-learn wheel (BSD-3-Clause), so no download is needed. The UCI
Machine Learning Repository distributes the data set under CC BY 4.0 (dataset 80,
doi:10.24432/C50P49); the description bundled with scikit-learn names no licence of its own.

The composition is **ours**, in the spirit of MultiMNIST (Sabour et al. 2017, as used for
multi-task learning by Sener & Koltun 2018): each composite puts one digit in the top-left
corner and one in the bottom-right corner of a small square canvas (default 12×12), each
shifted by 0..``max_shift`` (default 1) pixels towards the centre, and combines them by the
pixel-wise maximum (intensities scaled to [0, 1]). With the defaults the two 8×8 digits overlap
by 4 to 6 pixels on each axis, so the strokes of one digit cross the other's. Tasks: ``left`` (the top-left digit, 10 classes) and ``right`` (the
bottom-right digit, 10 classes); optionally ``parity`` = (left + right) mod 2 (2 classes),
a third task that needs both digits.

Splits: the source images are first split, stratified by digit class, into train /
validation / test **pools** (default 60 / 20 / 20 %); every composite of a split uses two
different source images of that split's pool only, so no source image appears in two splits.
Everything is a function of ``data_seed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from mtl_lib.core.options import OptionError, require_finite_values, require_integer

SOURCE = (
    "REAL handwritten digits: UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak "
    "1998; CC BY 4.0 on the UCI repository) via scikit-learn's load_digits; the two-digit "
    "composition is ours"
)
SPLITS = ("train", "val", "test")
DIGIT = 8  # the source images are 8×8


@dataclass
class MultiDigitsSplit:
    """One split: images ``(n, 1, canvas, canvas)`` in [0, 1], labels per task, and for each
    composite the indices (into ``load_digits``) of its source images and their placements."""

    images: torch.Tensor
    labels: dict[str, torch.Tensor]
    sources: torch.Tensor  # (n, 2) indices into the scikit-learn images: left, right
    offsets: torch.Tensor  # (n, 2, 2) (row, col) of each digit's top-left corner


@dataclass
class MultiDigits:
    splits: dict[str, MultiDigitsSplit]
    pools: dict[str, np.ndarray]  # source-image indices of each split
    task_names: list[str]
    num_classes: list[int]
    canvas: int
    source: str = SOURCE
    settings: dict[str, object] = field(default_factory=dict)

    def class_balance(self) -> pd.DataFrame:
        """Rows (split, task), columns class → number of composites with that label."""
        rows = {}
        for split, data in self.splits.items():
            for task, n_classes in zip(self.task_names, self.num_classes):
                counts = torch.bincount(data.labels[task], minlength=n_classes).tolist()
                rows[(split, task)] = dict(enumerate(counts))
        frame = pd.DataFrame.from_dict(rows, orient="index").fillna(0).astype(int)
        frame.index = pd.MultiIndex.from_tuples(frame.index, names=["split", "task"])
        return frame


def load_source_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits: images ``(1797, 8, 8)`` float32 in [0, 1] and labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the multidigits benchmark needs scikit-learn (its digits ship inside the wheel): "
            "`.venv/bin/pip install scikit-learn` or reinstall the project (`pip install -e .`)"
        ) from error
    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int64)


def _check_fractions(owner: str, fractions: Sequence[float]) -> None:
    require_finite_values(owner, "fractions", fractions)
    values = list(fractions)
    if len(values) != 3 or any(f <= 0 for f in values) or abs(sum(values) - 1) > 1e-9:
        raise OptionError(
            f"{owner}: option 'fractions' must be three positive numbers (train, val, test) summing "
            f"to 1, e.g. (0.6, 0.2, 0.2), got {fractions!r}"
        )


def check_multidigits_settings(
    owner: str = "make_multidigits", *, n_train: object = 1, n_val: object = 1, n_test: object = 1,
    canvas: object = 12, max_shift: object = 0, third_task: object = False, data_seed: object = 0,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
) -> None:  # fmt: skip
    """Check the data settings, each error naming the option and its valid range (``owner``
    names the caller in the message). Integers must be ``int`` (not ``"64"``, ``64.0`` or a
    bool): sizes >= 1, ``data_seed`` >= 0 (NumPy's seeds), ``canvas`` >= 8,
    ``max_shift`` in [0, canvas - 8]; ``third_task`` a bool."""
    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        require_integer(owner, name, value, minimum=1)
    require_integer(owner, "data_seed", data_seed, minimum=0)
    require_integer(owner, "canvas", canvas, minimum=DIGIT)
    require_integer(owner, "max_shift", max_shift)
    if not 0 <= max_shift <= canvas - DIGIT:  # type: ignore[operator]
        raise OptionError(
            f"{owner}: option 'max_shift' must be in [0, canvas - {DIGIT}] = [0, {canvas - DIGIT}] "  # type: ignore[operator]
            f"for canvas={canvas}, got {max_shift!r}"
        )
    if not isinstance(third_task, bool):
        raise OptionError(f"{owner}: option 'third_task' must be True or False, got {third_task!r}")
    _check_fractions(owner, fractions)


def split_pools(labels: np.ndarray, fractions: Sequence[float], seed: int) -> dict[str, np.ndarray]:
    """Stratified split of the source indices into disjoint train/val/test pools."""
    _check_fractions("split_pools", fractions)
    require_integer("split_pools", "seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    pools: dict[str, list[int]] = {s: [] for s in SPLITS}
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_train = round(fractions[0] * len(members))
        n_val = round(fractions[1] * len(members))
        pools["train"] += members[:n_train].tolist()
        pools["val"] += members[n_train : n_train + n_val].tolist()
        pools["test"] += members[n_train + n_val :].tolist()
    return {s: np.sort(np.asarray(p, dtype=np.int64)) for s, p in pools.items()}


def compose(
    left: np.ndarray,
    right: np.ndarray,
    canvas: int,
    left_offset: tuple[int, int],
    right_offset: tuple[int, int],
) -> np.ndarray:
    """Place two 8×8 digits at the given (row, col) offsets on a ``canvas``×``canvas`` image and
    combine them by the pixel-wise maximum."""
    image = np.zeros((canvas, canvas), dtype=np.float32)
    for digit, (r, c) in ((left, left_offset), (right, right_offset)):
        if not (0 <= r <= canvas - DIGIT and 0 <= c <= canvas - DIGIT):
            raise ValueError(f"offset {(r, c)} puts an 8×8 digit outside a {canvas}×{canvas} canvas")
        np.maximum(image[r : r + DIGIT, c : c + DIGIT], digit, out=image[r : r + DIGIT, c : c + DIGIT])
    return image


def _pairs(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` (left, right) pairs of distinct pool members; each side cycles through shuffled
    copies of the pool, so every source image is used about equally often."""

    def stream() -> np.ndarray:
        reps = -(-n // len(pool))
        return np.concatenate([rng.permutation(pool) for _ in range(reps)])[:n]

    left, right = stream(), stream()
    clash = np.flatnonzero(left == right)
    while clash.size:  # re-draw the right digit where both sides picked the same image
        right[clash] = rng.choice(pool, size=clash.size)
        clash = clash[left[clash] == right[clash]]
    return np.stack([left, right], axis=1)


def make_multidigits(
    n_train: int = 2000,
    n_val: int = 500,
    n_test: int = 1000,
    *,
    canvas: int = 12,
    max_shift: int = 1,
    third_task: bool = False,
    data_seed: int = 0,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
) -> MultiDigits:
    """Build the benchmark (see the module docstring). ``max_shift``: each digit moves by
    0..max_shift pixels (rows and columns independently) from its corner towards the centre.
    Every setting is checked first (:func:`check_multidigits_settings`): a wrong one raises
    :class:`~mtl_lib.core.options.OptionError` naming it and its valid range."""
    check_multidigits_settings(
        n_train=n_train, n_val=n_val, n_test=n_test, canvas=canvas, max_shift=max_shift,
        third_task=third_task, data_seed=data_seed, fractions=fractions,
    )  # fmt: skip
    images, labels = load_source_digits()
    pools = split_pools(labels, fractions, data_seed)
    far = canvas - DIGIT
    task_names = ["left", "right"] + (["parity"] if third_task else [])
    splits = {}
    for index, (split, n) in enumerate(zip(SPLITS, (n_train, n_val, n_test))):
        rng = np.random.default_rng([data_seed, index])
        pairs = _pairs(pools[split], n, rng)
        shifts = rng.integers(0, max_shift + 1, size=(n, 2, 2))
        offsets = np.stack([shifts[:, 0], far - shifts[:, 1]], axis=1)  # left near (0,0), right near (far, far)
        composite = np.stack([
            compose(images[a], images[b], canvas, tuple(o[0]), tuple(o[1]))
            for (a, b), o in zip(pairs, offsets)
        ])  # fmt: skip
        y = {"left": labels[pairs[:, 0]], "right": labels[pairs[:, 1]]}
        if third_task:
            y["parity"] = (y["left"] + y["right"]) % 2
        splits[split] = MultiDigitsSplit(
            images=torch.from_numpy(composite).unsqueeze(1),
            labels={k: torch.from_numpy(v) for k, v in y.items()},
            sources=torch.from_numpy(pairs),
            offsets=torch.from_numpy(offsets),
        )
    settings = {
        "canvas": canvas,
        "max_shift": max_shift,
        "data_seed": data_seed,
        "fractions": tuple(fractions),
    }
    return MultiDigits(
        splits=splits, pools=pools, task_names=task_names,
        num_classes=[10, 10] + ([2] if third_task else []), canvas=canvas, settings=settings,
    )  # fmt: skip
