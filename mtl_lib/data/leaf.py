"""Leaf images of Chouhan et al. (2019): the real loader, a generated stand-in, and CV folds.

The dataset
    S. S. Chouhan, U. P. Singh, A. Kaul, S. Jain, "A data repository of leaf images: Practice
    towards plant conservation with plant pathology", ISCON 2019. Mendeley Data record
    hb74ynkjcn (https://data.mendeley.com/datasets/hb74ynkjcn/1), CC BY 4.0.
    12 plants P0..P11 × {healthy, diseased} = 22 classes (Bael (P4) has only diseased
    leaves, Basil (P8) only healthy ones), 6000×4000 JPEG photographs laid out as
    ``<Plant> (P<k>)/{healthy,diseased}/<NNNN>_<MMMM>.JPG`` with the dataset's own spelling
    ("Gauva (P3)", spaces in folder names, upper-case ``.JPG``). The prefix NNNN names the class
    (0001–0011 healthy, 0012–0022 diseased; :data:`CLASS_TABLE`); MMMM counts from 0001 with gaps.

Labels: ``species`` = k of ``P<k>`` (0..11), ``health`` = 0 healthy / 1 diseased from the folder;
the 22-way class of a leaf is ``int(prefix) - 1`` (the TFDS ``plant_leaves`` encoding).

Counts: :data:`CLASS_TABLE` holds the per-class file counts of the public release (from the TFDS
``plant_leaves`` builder's file list); they sum to **4,502** (2,277 healthy + 2,225 diseased),
while the paper and the leaf-combination study say 4,503 (2,278 healthy). The stand-in follows
the release, one healthy image fewer than the paper.

Preprocessing (as the leaf-combination study describes it): each photograph is resized so that
its longer side is ``image_size`` (64) pixels, keeping the aspect ratio, and zero-padded to a
square with the image **centred**: the padding is split evenly, and when it is odd the extra
row/column goes to the bottom/right. A 6000×4000 photo becomes 64×43 pixels in rows 10..52.
Before that, the EXIF orientation is applied (the image as a viewer shows it), and JPEGs are
decoded at a reduced DCT scale that is still at least 4× the target size (Pillow's
``Image.draft``), which makes decoding a 24-megapixel photo ~20× faster with no visible effect
after the down-scaling.

Cache: the decoded images are stored once as ``<cache_dir>/leaf_chouhan2019_<S>px.pt``
(``torch.save`` of a dict: uint8 images (N, 3, S, S), species, health, relative paths, and a
fingerprint of the source listing — relative paths and file sizes — plus the preprocessing
version). A later :func:`load_leaf` with the same source reuses it without decoding; with no
source at all it loads the cache as is.

The stand-in (:func:`make_leaf_standin`): generated leaves with the same class structure and
counts, species told apart by leaf shape and disease by blemishes (see
:mod:`mtl_lib.data.leaf_render`). It is labelled ``source = "stand-in (generated)"``; results
on it say nothing about the real dataset.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import re
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mtl_lib.data.batches import TensorBatches
from mtl_lib.data.leaf_render import Difficulty, render_leaves

REAL_SOURCE = "Chouhan et al. 2019"
STANDIN_SOURCE = "stand-in (generated)"
DATASET_URL = "https://data.mendeley.com/datasets/hb74ynkjcn/1"

PLANT_NAMES: tuple[str, ...] = (
    "Mango", "Arjun", "Alstonia Scholaris", "Gauva", "Bael", "Jamun",
    "Jatropha", "Pongamia Pinnata", "Basil", "Pomegranate", "Lemon", "Chinar",
)  # fmt: skip
#: The dataset's folder names, including its spelling "Gauva".
PLANT_FOLDERS: tuple[str, ...] = tuple(f"{name} (P{k})" for k, name in enumerate(PLANT_NAMES))
HEALTH_NAMES: tuple[str, ...] = ("healthy", "diseased")

#: (species, health, file prefix, number of files in the public release), ordered by prefix.
CLASS_TABLE: tuple[tuple[int, int, str, int], ...] = (
    (0, 0, "0001", 170),  # Mango (P0) healthy
    (1, 0, "0002", 220),  # Arjun (P1) healthy
    (2, 0, "0003", 179),  # Alstonia Scholaris (P2) healthy
    (3, 0, "0004", 277),  # Gauva (P3) healthy
    (5, 0, "0005", 279),  # Jamun (P5) healthy
    (6, 0, "0006", 133),  # Jatropha (P6) healthy
    (7, 0, "0007", 322),  # Pongamia Pinnata (P7) healthy
    (8, 0, "0008", 148),  # Basil (P8) healthy
    (9, 0, "0009", 287),  # Pomegranate (P9) healthy
    (10, 0, "0010", 159),  # Lemon (P10) healthy
    (11, 0, "0011", 103),  # Chinar (P11) healthy
    (0, 1, "0012", 265),  # Mango (P0) diseased
    (1, 1, "0013", 232),  # Arjun (P1) diseased
    (2, 1, "0014", 254),  # Alstonia Scholaris (P2) diseased
    (3, 1, "0015", 142),  # Gauva (P3) diseased
    (4, 1, "0016", 118),  # Bael (P4) diseased
    (5, 1, "0017", 345),  # Jamun (P5) diseased
    (6, 1, "0018", 124),  # Jatropha (P6) diseased
    (7, 1, "0019", 276),  # Pongamia Pinnata (P7) diseased
    (9, 1, "0020", 272),  # Pomegranate (P9) diseased
    (10, 1, "0021", 77),  # Lemon (P10) diseased
    (11, 1, "0022", 120),  # Chinar (P11) diseased
)
PREFIX_TO_CLASS: dict[str, tuple[int, int]] = {prefix: (s, h) for s, h, prefix, _ in CLASS_TABLE}
CLASS_TO_PREFIX: dict[tuple[int, int], str] = {(s, h): prefix for s, h, prefix, _ in CLASS_TABLE}
NUM_SPECIES = len(PLANT_NAMES)
NUM_CLASSES = len(CLASS_TABLE)

#: Bumped whenever decoding/resizing changes, so old caches are rebuilt rather than reused.
PREPROCESS_VERSION = "letterbox-centred-v1"
CACHE_FORMAT = 1
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

_PLANT_RE = re.compile(r"^(?P<name>.*?)\s*\(P(?P<k>\d+)\)$")
_FILE_RE = re.compile(r"^(?P<prefix>\d{4})_(?P<index>\d+)\.(?:jpe?g|png)$", re.IGNORECASE)


def class_index(species: torch.Tensor, health: torch.Tensor) -> torch.Tensor:
    """The 22-way class ``int(prefix) - 1`` of each (species, health) pair; -1 where the pair
    does not exist in the dataset (Bael healthy, Basil diseased)."""
    table = torch.full((NUM_SPECIES, 2), -1, dtype=torch.long)
    for s, h, prefix, _ in CLASS_TABLE:
        table[s, h] = int(prefix) - 1
    return table[species.long(), health.long()]


# =============================================================================== folds
def stratified_kfold(labels: torch.Tensor | Sequence[int], n_splits: int = 5,
                     seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
    """``n_splits`` (train, test) index pairs whose test parts partition ``range(N)``, each
    class spread over the folds as evenly as possible; a function of ``labels`` and ``seed``.

    Within each class (in increasing label order) the members are shuffled and dealt to the
    folds round-robin; the dealing continues where the previous class stopped, so the fold
    sizes differ by at most one overall, and a class's count differs by at most one between
    folds. A class with fewer than ``n_splits`` members cannot appear in every fold: that is
    warned about. Indices are returned sorted, as int64 tensors.
    """
    labels = torch.as_tensor(labels).long().reshape(-1)
    n = labels.numel()
    if n_splits < 2:
        raise ValueError(f"n_splits must be at least 2, got {n_splits}")
    if n < n_splits:
        raise ValueError(f"cannot split {n} samples into {n_splits} folds")
    gen = torch.Generator().manual_seed(seed)
    fold_of = torch.empty(n, dtype=torch.long)
    offset = 0
    small = []
    for c in torch.unique(labels).tolist():
        members = (labels == c).nonzero().squeeze(1)
        if members.numel() < n_splits:
            small.append((c, members.numel()))
        members = members[torch.randperm(members.numel(), generator=gen)]
        fold_of[members] = (torch.arange(members.numel()) + offset) % n_splits
        offset = (offset + members.numel()) % n_splits
    if small:
        warnings.warn(
            f"classes with fewer members than n_splits={n_splits} (label, count): {small}; "
            "some test folds will lack them",
            stacklevel=2,
        )
    everything = torch.arange(n)
    return [(everything[fold_of != f], everything[fold_of == f]) for f in range(n_splits)]


# =============================================================================== container
@dataclass
class LeafData:
    """Leaf images and their two labels, Dataset-like (``len``, ``[i]`` → (image, species,
    health) with the image as float in [0, 1]).

    ``images`` are uint8 ``(N, 3, S, S)``; ``species`` (0..11) and ``health`` (0 healthy,
    1 diseased) are int64 ``(N,)``; ``paths`` are relative paths (real data) or synthetic
    names (stand-in); ``source`` says which of the two this is.
    """

    images: torch.Tensor
    species: torch.Tensor
    health: torch.Tensor
    paths: list[str]
    source: str
    species_names: tuple[str, ...] = PLANT_FOLDERS
    health_names: tuple[str, ...] = HEALTH_NAMES
    #: Files that could not be decoded and were skipped (``skip_corrupt=True``).
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.dim() != 4 or self.images.shape[1] != 3 or self.images.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 (N, 3, S, S), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.species.shape != (n,) or self.health.shape != (n,) or len(self.paths) != n:
            raise ValueError(
                f"{n} images but {tuple(self.species.shape)} species, {tuple(self.health.shape)} "
                f"health labels and {len(self.paths)} paths"
            )

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.images[index].float() / 255, self.species[index], self.health[index]

    def __repr__(self) -> str:
        return (
            f"LeafData({len(self)} images {self.image_size}×{self.image_size}, "
            f"source={self.source!r})"
        )

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def classes(self) -> torch.Tensor:
        """The 22-way class of every image (``int(prefix) - 1``), used for stratification."""
        return class_index(self.species, self.health)

    def class_counts(self) -> dict[tuple[int, int], int]:
        """``{(species, health): count}`` over the classes present."""
        pairs = torch.stack([self.species, self.health], 1)
        uniq, counts = torch.unique(pairs, dim=0, return_counts=True)
        return {(int(s), int(h)): int(c) for (s, h), c in zip(uniq.tolist(), counts.tolist())}

    def subset(self, indices: torch.Tensor | Sequence[int]) -> LeafData:
        idx = torch.as_tensor(indices).long()
        return LeafData(
            self.images[idx], self.species[idx], self.health[idx],
            [self.paths[i] for i in idx.tolist()], self.source,
            self.species_names, self.health_names, list(self.skipped),
        )  # fmt: skip

    def stratified_kfold(self, n_splits: int = 5, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Folds stratified on the 22 (species, health) classes; see :func:`stratified_kfold`."""
        return stratified_kfold(self.classes, n_splits, seed)

    def tensors(self, indices: torch.Tensor | Sequence[int] | None = None,
                dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        """``(images as dtype in [0, 1], species, health)``, optionally for ``indices`` only."""
        idx = slice(None) if indices is None else torch.as_tensor(indices).long()
        return self.images[idx].to(dtype) / 255, self.species[idx], self.health[idx]

    def batches(self, indices: torch.Tensor | Sequence[int] | None = None, *, batch_size: int = 32,
                shuffle: bool = True, seed: int = 0) -> TensorBatches:  # fmt: skip
        """Mini-batches ``(x, species, health)`` for :class:`mtl_lib.engine.Trainer`."""
        return TensorBatches(*self.tensors(indices), batch_size=batch_size, shuffle=shuffle, seed=seed)


# =============================================================================== stand-in
def standin_counts(n_total: int | None = None, scale: float = 1.0) -> list[tuple[int, int, str, int]]:
    """:data:`CLASS_TABLE` with every count multiplied by ``scale`` (``n_total`` given: by
    ``n_total / 4502``), rounded half up, at least 2 per class."""
    full = sum(c for *_, c in CLASS_TABLE)
    if n_total is not None:
        if scale != 1.0:
            raise ValueError("give n_total or scale, not both")
        if n_total < 2 * NUM_CLASSES:
            raise ValueError(f"n_total must be at least {2 * NUM_CLASSES} (2 per class), got {n_total}")
        scale = n_total / full
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return [(s, h, p, max(2, math.floor(c * scale + 0.5))) for s, h, p, c in CLASS_TABLE]


def make_leaf_standin(n_total: int | None = None, image_size: int = 64, seed: int = 0,
                      scale: float = 1.0, *, difficulty: Difficulty | None = None) -> LeafData:  # fmt: skip
    """A generated leaf dataset with the real class structure (see :mod:`mtl_lib.data.leaf_render`).

    At ``scale=1`` it has exactly the per-class counts of :data:`CLASS_TABLE` (4,502 images;
    the paper's 4,503 includes one more healthy leaf); ``scale < 1`` (or ``n_total``) shrinks
    every class proportionally, keeping at least 2 per class, for smoke/quick profiles.
    Images are ordered by class prefix; like the real preprocessing they are letterboxed
    (a 3:2 scene centred in the square, zero rows above and below). Deterministic in ``seed``.
    """
    counts = standin_counts(n_total, scale)
    species = torch.tensor([s for s, _, _, c in counts for _ in range(c)], dtype=torch.long)
    health = torch.tensor([h for _, h, _, c in counts for _ in range(c)], dtype=torch.long)
    paths = [
        f"stand-in/{PLANT_FOLDERS[s]}/{HEALTH_NAMES[h]}/{p}_{i + 1:04d}"
        for s, h, p, c in counts for i in range(c)
    ]  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    images = render_leaves(species, health, image_size=image_size, generator=gen, difficulty=difficulty)
    return LeafData(images, species, health, paths, STANDIN_SOURCE)


# =============================================================================== real data
def default_cache_dir() -> Path:
    """``data/cache/`` at the repository root (the folder that contains ``mtl_lib``)."""
    return Path(__file__).resolve().parents[2] / "data" / "cache"


def cache_file(cache_dir: str | os.PathLike | None = None, image_size: int = 64) -> Path:
    return Path(cache_dir or default_cache_dir()) / f"leaf_chouhan2019_{image_size}px.pt"


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


@dataclass(frozen=True)
class _Entry:
    relpath: str  # "<Plant> (P<k>)/<health>/<file>", the dataset's own spelling
    species: int
    health: int
    size: int
    locator: str  # file path (folder) or member name (zip)


class CorruptImageError(ValueError):
    """One or more image files could not be decoded; ``paths`` lists them."""

    def __init__(self, message: str, paths: Sequence[str]) -> None:
        super().__init__(message)
        self.paths = list(paths)


def _classify(parts: Sequence[str]) -> tuple[int, int] | None:
    """(species, health) if ``parts`` end in ``<Plant> (P<k>)/<health>/<file>``, else None."""
    if len(parts) < 3:
        return None
    plant = _PLANT_RE.match(parts[-3].strip())
    health = parts[-2].strip().lower()
    if plant is None or health not in HEALTH_NAMES:
        return None
    return int(plant["k"]), HEALTH_NAMES.index(health)


def _list_entries(items: Iterator[tuple[Sequence[str], int, str]], where: str) -> list[_Entry]:
    """Turn ``(path parts, size, locator)`` of every file into dataset entries, checking each
    name against the folder it is in; all problems are collected and raised together."""
    entries: list[_Entry] = []
    problems: list[str] = []
    ignored: list[str] = []
    for parts, size, locator in items:
        if any(p.startswith(".") or p == "__MACOSX" for p in parts):
            continue  # hidden files and macOS resource forks that zips of a Mac folder carry
        if not parts[-1].lower().endswith(IMAGE_SUFFIXES):
            continue
        labels = _classify(parts)
        if labels is None:
            ignored.append("/".join(parts))
            continue
        species, health = labels
        relpath = "/".join(parts[-3:])
        folder_class = f"{parts[-3]} {HEALTH_NAMES[health]}"
        name = _FILE_RE.match(parts[-1])
        if not 0 <= species < NUM_SPECIES:
            problems.append(f"{relpath!r}: plant label P{species} is not one of P0..P{NUM_SPECIES - 1}")
        elif name is None:
            problems.append(f"{relpath!r}: the file name is not <NNNN>_<MMMM>.JPG, so its class prefix cannot be checked")
        elif (species, health) not in CLASS_TO_PREFIX:
            problems.append(f"{relpath!r}: the dataset has no class {folder_class} (Bael has no healthy, Basil no diseased leaves)")
        elif PREFIX_TO_CLASS.get(name["prefix"]) != (species, health):
            prefix = name["prefix"]
            if prefix in PREFIX_TO_CLASS:
                s, h = PREFIX_TO_CLASS[prefix]
                meaning = f"{PLANT_FOLDERS[s]} {HEALTH_NAMES[h]}"
            else:
                meaning = "no class (prefixes run 0001..0022)"
            problems.append(
                f"{relpath!r}: its prefix {prefix} means {meaning}, its folder says {folder_class} "
                f"(prefix {CLASS_TO_PREFIX[(species, health)]})"
            )
        else:
            entries.append(_Entry(relpath, species, health, size, locator))
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise ValueError(f"{len(problems)} leaf image(s) in {where} disagree with the class table:\n  {shown}{more}")
    if ignored:
        warnings.warn(
            f"ignored {len(ignored)} image file(s) in {where} outside the "
            f"'<Plant> (P<k>)/{{healthy,diseased}}/' layout, e.g. {ignored[:3]}",
            stacklevel=3,
        )
    seen: dict[str, str] = {}
    for e in entries:
        if e.relpath in seen:
            raise ValueError(f"{where} holds {e.relpath!r} twice ({seen[e.relpath]!r} and {e.locator!r}); give one copy of the dataset")
        seen[e.relpath] = e.locator
    return sorted(entries, key=lambda e: e.relpath)


def _list_folder(root: Path) -> list[_Entry]:
    def items() -> Iterator[tuple[Sequence[str], int, str]]:
        for dirpath, _, files in os.walk(root):
            rel = Path(dirpath).relative_to(root).parts
            for name in files:
                path = Path(dirpath) / name
                yield (*rel, name), path.stat().st_size, str(path)

    return _list_entries(items(), str(root))


def _list_zip(archive: zipfile.ZipFile, where: str) -> list[_Entry]:
    infos = [i for i in archive.infolist() if not i.is_dir()]
    entries = _list_entries(((i.filename.split("/"), i.file_size, i.filename) for i in infos), where)
    if not entries:
        nested = [i.filename for i in infos if i.filename.lower().endswith(".zip")]
        if nested:
            raise ValueError(
                f"{where} holds no leaf images but the archive(s) {nested[:5]}: unpack {where} "
                "and give the inner archive (or its unpacked folder) instead"
            )
    return entries


def _fingerprint(entries: Sequence[_Entry], image_size: int) -> str:
    digest = hashlib.sha256(f"{PREPROCESS_VERSION}|{image_size}\n".encode())
    for e in entries:
        digest.update(f"{e.relpath}\t{e.size}\n".encode())
    return digest.hexdigest()


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
        with tqdm(total=len(entries), desc="decoding leaf images", unit="img", disable=not progress) as bar:
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


def _from_cache(payload: dict, skip_corrupt: bool, cache: Path) -> LeafData:
    skipped = list(payload.get("skipped", []))
    if skipped and not skip_corrupt:
        raise CorruptImageError(
            f"the cache {cache} was built with skip_corrupt=True and lacks {len(skipped)} "
            f"unreadable file(s): {skipped}; pass skip_corrupt=True to accept that", skipped
        )
    if skipped:
        warnings.warn(f"{len(skipped)} unreadable leaf image(s) were skipped: {skipped}", stacklevel=3)
    return LeafData(
        payload["images"], payload["species"], payload["health"], list(payload["paths"]),
        REAL_SOURCE, skipped=skipped,
    )  # fmt: skip


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
        raise FileNotFoundError(_instructions(f"No leaf-image source given and no cache at {cache}.", cache))
    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(_instructions(f"Leaf images not found: {source} does not exist.", cache))

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
            warnings.warn(f"the cache {cache} was built from a different source listing; rebuilding it", stacklevel=2)

        images, failed = _decode_all(entries, read, image_size, num_workers, progress)
    finally:
        if archive is not None:
            archive.close()

    bad_paths = [entries[i].relpath for i in sorted(failed)]
    if failed and not skip_corrupt:
        listing = "\n  ".join(f"{entries[i].locator}: {failed[i]}" for i in sorted(failed))
        raise CorruptImageError(
            f"{len(failed)} leaf image(s) in {source} could not be decoded:\n  {listing}\n"
            "Re-download them, or pass skip_corrupt=True to leave them out.", bad_paths
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
    data = LeafData(payload["images"], payload["species"], payload["health"], payload["paths"], REAL_SOURCE, skipped=bad_paths)
    return data


# =============================================================================== pictures
def save_grid(data: LeafData, path: str | os.PathLike, rows: int = 8, cols: int = 8,
              indices: Sequence[int] | None = None, upscale: int = 2, seed: int = 0) -> Path:  # fmt: skip
    """Save a ``rows × cols`` PNG grid of images (random ones unless ``indices`` are given),
    with a 2-pixel gutter; a red/green bar under each tile marks diseased/healthy."""
    from PIL import Image

    n = rows * cols
    if indices is None:
        gen = torch.Generator().manual_seed(seed)
        indices = torch.randperm(len(data), generator=gen)[:n].tolist()
    s, gap, bar = data.image_size, 2, 3
    grid = np.full((rows * (s + gap + bar), cols * (s + gap), 3), 255, dtype=np.uint8)
    for slot, i in enumerate(list(indices)[:n]):
        r, c = divmod(slot, cols)
        y, x = r * (s + gap + bar), c * (s + gap)
        grid[y : y + s, x : x + s] = data.images[i].permute(1, 2, 0).numpy()
        grid[y + s : y + s + bar, x : x + s] = (200, 30, 30) if int(data.health[i]) else (30, 160, 30)
    image = Image.fromarray(grid)
    if upscale > 1:
        image = image.resize((image.width * upscale, image.height * upscale), Image.Resampling.NEAREST)
    out = Path(path)
    image.save(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtl_lib.data.leaf", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="decode the real images into the cache")
    prep.add_argument("source", help="the downloaded .zip or the unpacked folder")
    prep.add_argument("--cache-dir", default=None)
    prep.add_argument("--image-size", type=int, default=64)
    prep.add_argument("--workers", type=int, default=0)
    prep.add_argument("--skip-corrupt", action="store_true")
    prep.add_argument("--refresh", action="store_true")
    grid = sub.add_parser("grid", help="save a sample grid of the stand-in (or of the cached real data)")
    grid.add_argument("out")
    grid.add_argument("--real", action="store_true", help="use the cached real images")
    grid.add_argument("--seed", type=int, default=0)
    grid.add_argument("--scale", type=float, default=0.05)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        data = load_leaf(args.source, cache_dir=args.cache_dir, image_size=args.image_size,
                         skip_corrupt=args.skip_corrupt, refresh=args.refresh, num_workers=args.workers)  # fmt: skip
        print(f"{data}: {len(data)} images cached in {cache_file(args.cache_dir, args.image_size)}")
    else:
        data = load_leaf() if args.real else make_leaf_standin(seed=args.seed, scale=args.scale)
        print(save_grid(data, args.out, seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
