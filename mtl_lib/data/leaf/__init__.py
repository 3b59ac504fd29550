"""Leaf images of Chouhan et al. (2019): the real loader, a generated stand-in, and CV folds.

Modules: :mod:`.classes` (names and the class table), :mod:`.dataset` (:class:`LeafData`),
:mod:`.standin` and :mod:`.render` (the generated stand-in), :mod:`.listing` (reading and
checking a folder or .zip), :mod:`.decode` (letterboxing), :mod:`.cache`, :mod:`.loader`
(:func:`load_leaf`) and :mod:`.cli` (``python -m mtl_lib.data.leaf``); the folds live in
:mod:`mtl_lib.data.splits`.

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
(``torch.save`` of a dict: uint8 images (N, 3, S, S), species, health, relative paths, the
source label and a fingerprint of the source — every file's relative path, size and
modification time (CRC-32 in a zip) — plus the preprocessing version). A later
:func:`load_leaf` with the same source reuses it without decoding; with no source at all it
loads the cache as is. See :mod:`mtl_lib.data.leaf.cache` for where it lives and
:mod:`mtl_lib.data.leaf.listing` for the checks of the tree (missing, empty and unknown
folders are errors unless ``allow_subset=True``).

The stand-in (:func:`make_leaf_standin`): generated leaves with the same class structure and
counts, species told apart by leaf shape and disease by blemishes (see
:mod:`mtl_lib.data.leaf.render`). It is labelled ``source = "stand-in (generated)"``; results
on it say nothing about the real dataset.
"""

from mtl_lib.data.leaf.cache import CacheNotWritableError, cache_file, default_cache_dir
from mtl_lib.data.leaf.classes import (
    CLASS_TABLE,
    CLASS_TO_PREFIX,
    DATASET_URL,
    HEALTH_NAMES,
    NUM_CLASSES,
    NUM_SPECIES,
    PLANT_FOLDERS,
    PLANT_NAMES,
    PREFIX_TO_CLASS,
    REAL_SOURCE,
    STANDIN_SOURCE,
    class_index,
)
from mtl_lib.data.leaf.cli import main, save_grid
from mtl_lib.data.leaf.dataset import LeafData
from mtl_lib.data.leaf.decode import CorruptImageError, decode_letterboxed, letterbox, to_rgb
from mtl_lib.data.leaf.loader import load_leaf
from mtl_lib.data.leaf.render import Difficulty, render_leaves
from mtl_lib.data.leaf.standin import make_leaf_standin, standin_counts
from mtl_lib.data.splits import stratified_kfold

__all__ = [
    "CLASS_TABLE",
    "CLASS_TO_PREFIX",
    "DATASET_URL",
    "HEALTH_NAMES",
    "NUM_CLASSES",
    "NUM_SPECIES",
    "PLANT_FOLDERS",
    "PLANT_NAMES",
    "PREFIX_TO_CLASS",
    "REAL_SOURCE",
    "STANDIN_SOURCE",
    "CacheNotWritableError",
    "CorruptImageError",
    "Difficulty",
    "LeafData",
    "cache_file",
    "class_index",
    "decode_letterboxed",
    "default_cache_dir",
    "letterbox",
    "load_leaf",
    "main",
    "make_leaf_standin",
    "render_leaves",
    "save_grid",
    "standin_counts",
    "stratified_kfold",
    "to_rgb",
]
