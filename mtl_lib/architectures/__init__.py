"""Architectures: multi-task models that split their parameters into shared and per-task."""

from mtl_lib.architectures.base import HardSharing, MultiTaskModel, TaskConditionedSharing
from mtl_lib.architectures.cnn import small_cnn
from mtl_lib.architectures.mlp import synthetic_mlp
from mtl_lib.registry import Registry

ARCHITECTURES: Registry[MultiTaskModel] = Registry("architecture")
ARCHITECTURES.register("synthetic_mlp")(synthetic_mlp)
ARCHITECTURES.register("small_cnn")(small_cnn)

__all__ = [
    "ARCHITECTURES",
    "HardSharing",
    "MultiTaskModel",
    "TaskConditionedSharing",
    "small_cnn",
    "synthetic_mlp",
]
