"""Datasets: generated problems, real-data loaders and batching helpers.

Sub-packages per dataset: :mod:`mtl_lib.data.leaf` (Chouhan et al. 2019 leaf images and their
stand-in) and :mod:`mtl_lib.data.cityscapes` (MTAN's CityScapes and its stand-in); modules
:mod:`.synthetic` (AdaTask's regression), :mod:`.splits` (cross-validation folds) and
:mod:`.batches` (mini-batches over tensors) and :mod:`.checks` (a notebook's parameters,
checked before it trains).
"""

from mtl_lib.data.batches import TensorBatches
from mtl_lib.data.checks import NotebookParameterError, check_data_dir, check_notebook_parameters
from mtl_lib.data.cityscapes import (
    CityscapesData,
    CityscapesFileError,
    DenseSplit,
    MTANCityscapes,
    check_cityscapes_dir,
    load_cityscapes,
    load_cityscapes_split,
    make_cityscapes_standin,
    render_street_scenes,
    resize_split,
)
from mtl_lib.data.leaf import (
    CacheNotWritableError,
    CorruptImageError,
    LeafData,
    decode_letterboxed,
    letterbox,
    load_leaf,
    make_leaf_standin,
    render_leaves,
    standin_counts,
    to_rgb,
)
from mtl_lib.data.splits import stratified_kfold
from mtl_lib.data.synthetic import SyntheticRegression, make_synthetic_regression

__all__ = [
    "CacheNotWritableError",
    "CityscapesData",
    "CityscapesFileError",
    "CorruptImageError",
    "DenseSplit",
    "LeafData",
    "MTANCityscapes",
    "NotebookParameterError",
    "SyntheticRegression",
    "TensorBatches",
    "check_cityscapes_dir",
    "check_data_dir",
    "check_notebook_parameters",
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
    "to_rgb",
]
