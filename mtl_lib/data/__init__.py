"""Datasets: generated problems, real-data loaders and batching helpers."""

from mtl_lib.data.batches import TensorBatches
from mtl_lib.data.leaf import LeafData, load_leaf, make_leaf_standin, stratified_kfold
from mtl_lib.data.multidigits import MultiDigits, make_multidigits
from mtl_lib.data.synthetic import SyntheticRegression, make_synthetic_regression

__all__ = [
    "LeafData",
    "MultiDigits",
    "SyntheticRegression",
    "TensorBatches",
    "load_leaf",
    "make_leaf_standin",
    "make_multidigits",
    "make_synthetic_regression",
    "stratified_kfold",
]
