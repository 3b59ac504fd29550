"""Datasets: generated problems, real-data loaders and batching helpers.

Sub-packages per dataset: :mod:`mtl_lib.data.leaf` (Chouhan et al. 2019 leaf images and their
stand-in) and :mod:`mtl_lib.data.cityscapes` (MTAN's CityScapes and its stand-in); modules
:mod:`.synthetic` (AdaTask's regression), :mod:`.splits` (cross-validation folds) and
:mod:`.batches` (mini-batches over tensors).
"""

from mtl_lib.data.batches import TensorBatches
from mtl_lib.data.cityscapes import (
    CityscapesData,
    DenseSplit,
    MTANCityscapes,
    load_cityscapes,
    load_cityscapes_split,
    make_cityscapes_standin,
    render_street_scenes,
    resize_split,
)
from mtl_lib.data.leaf import (
    CorruptImageError,
    LeafData,
    decode_letterboxed,
    letterbox,
    load_leaf,
    make_leaf_standin,
    render_leaves,
    standin_counts,
)
from mtl_lib.data.splits import stratified_kfold
from mtl_lib.data.synthetic import SyntheticRegression, make_synthetic_regression

__all__ = [
    "CityscapesData",
    "CorruptImageError",
    "DenseSplit",
    "LeafData",
    "MTANCityscapes",
    "SyntheticRegression",
    "TensorBatches",
    "decode_letterboxed",
    "letterbox",
    "load_cityscapes",
    "load_cityscapes_split",
    "load_leaf",
    "make_cityscapes_standin",
    "make_leaf_standin",
    "make_synthetic_regression",
    "render_leaves",
    "render_street_scenes",
    "resize_split",
    "standin_counts",
    "stratified_kfold",
]
