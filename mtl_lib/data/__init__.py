"""Datasets: generated problems, real-data loaders and batching helpers."""

from mtl_lib.data.batches import TensorBatches
from mtl_lib.data.synthetic import SyntheticRegression, make_synthetic_regression

__all__ = ["SyntheticRegression", "TensorBatches", "make_synthetic_regression"]
