"""Architectures: multi-task models that split their parameters into shared and per-task.

Builders register themselves in :data:`ARCHITECTURES` (defined in ``base``); importing this
package imports every module in it (:func:`mtl_lib.core.import_submodules`).
"""

from mtl_lib.architectures.base import ARCHITECTURES, HardSharing
from mtl_lib.core.model import MultiTaskModel
from mtl_lib.core.plugins import import_submodules

import_submodules(__name__, __path__)

from mtl_lib.architectures.cnn import small_cnn  # noqa: E402
from mtl_lib.architectures.dense import dense_segnet  # noqa: E402
from mtl_lib.architectures.lass import LaSSSchedule, lass_phases, magnitude_mask  # noqa: E402
from mtl_lib.architectures.leaf_cnn import LeafCNN, MaskedLinear, TaskModulation  # noqa: E402
from mtl_lib.architectures.lenet import lenet  # noqa: E402
from mtl_lib.architectures.mlp import synthetic_mlp  # noqa: E402
from mtl_lib.architectures.rotograd import RotoGrad, RotoGradRotationStep, rotograd  # noqa: E402

__all__ = [
    "ARCHITECTURES",
    "HardSharing",
    "LaSSSchedule",
    "LeafCNN",
    "MaskedLinear",
    "MultiTaskModel",
    "RotoGrad",
    "RotoGradRotationStep",
    "TaskModulation",
    "dense_segnet",
    "lass_phases",
    "lenet",
    "magnitude_mask",
    "rotograd",
    "small_cnn",
    "synthetic_mlp",
]
