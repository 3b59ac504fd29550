"""Architectures: multi-task models that split their parameters into shared and per-task.

Builders register themselves in :data:`ARCHITECTURES` (defined in ``base``); importing this
package imports every module in it.
"""

import importlib
import pkgutil

from mtl_lib.architectures.base import (
    ARCHITECTURES,
    HardSharing,
    MultiTaskModel,
    TaskConditionedSharing,
)

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

from mtl_lib.architectures.cnn import small_cnn  # noqa: E402
from mtl_lib.architectures.mlp import synthetic_mlp  # noqa: E402

__all__ = [
    "ARCHITECTURES",
    "HardSharing",
    "MultiTaskModel",
    "TaskConditionedSharing",
    "small_cnn",
    "synthetic_mlp",
]
