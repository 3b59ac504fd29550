"""Gradient aggregators, registered by name in :data:`AGGREGATORS`.

Each method lives in its own module and registers itself with ``@AGGREGATORS.register(name)``;
importing this package imports every module in it (:func:`mtl_lib.core.import_submodules`), so a
new method needs no edit here beyond exporting its class.
"""

from mtl_lib.aggregators.base import (
    AGGREGATORS,
    Aggregation,
    Aggregator,
    ConvergenceWarning,
    GramianWeightedAggregator,
    Sum,
    gram_matrix,
)
from mtl_lib.core.plugins import import_submodules

import_submodules(__name__, __path__)

from mtl_lib.aggregators.aligned_mtl import AlignedMTL  # noqa: E402
from mtl_lib.aggregators.cagrad import CAGrad  # noqa: E402
from mtl_lib.aggregators.graddrop import GradDrop  # noqa: E402
from mtl_lib.aggregators.gradvac import GradVac  # noqa: E402
from mtl_lib.aggregators.imtl_g import IMTLG  # noqa: E402
from mtl_lib.aggregators.mgda import MGDA  # noqa: E402
from mtl_lib.aggregators.moco import MoCo  # noqa: E402
from mtl_lib.aggregators.nash_mtl import NashMTL  # noqa: E402
from mtl_lib.aggregators.pcgrad import PCGrad  # noqa: E402
from mtl_lib.aggregators.pcgrad_wrapper import PCGradWrapper  # noqa: E402

__all__ = [
    "AGGREGATORS",
    "IMTLG",
    "MGDA",
    "Aggregation",
    "Aggregator",
    "AlignedMTL",
    "CAGrad",
    "ConvergenceWarning",
    "GradDrop",
    "GradVac",
    "GramianWeightedAggregator",
    "MoCo",
    "NashMTL",
    "PCGrad",
    "PCGradWrapper",
    "Sum",
    "gram_matrix",
]
