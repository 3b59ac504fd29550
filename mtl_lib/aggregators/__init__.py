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
from mtl_lib.aggregators.config import ConFIG  # noqa: E402
from mtl_lib.aggregators.crmogm import CRMOGM  # noqa: E402
from mtl_lib.aggregators.db_mtl import DBMTL  # noqa: E402
from mtl_lib.aggregators.dualproj import DualProj  # noqa: E402
from mtl_lib.aggregators.excess_mtl import ExcessMTL  # noqa: E402
from mtl_lib.aggregators.fairgrad import FairGrad  # noqa: E402
from mtl_lib.aggregators.graddrop import GradDrop  # noqa: E402
from mtl_lib.aggregators.gradvac import GradVac  # noqa: E402
from mtl_lib.aggregators.imtl_g import IMTLG  # noqa: E402
from mtl_lib.aggregators.krum import Krum  # noqa: E402
from mtl_lib.aggregators.mgda import MGDA  # noqa: E402
from mtl_lib.aggregators.moco import MoCo  # noqa: E402
from mtl_lib.aggregators.modo import MoDo  # noqa: E402
from mtl_lib.aggregators.nash_mtl import NashMTL  # noqa: E402
from mtl_lib.aggregators.pcd import PCD  # noqa: E402
from mtl_lib.aggregators.pcgrad import PCGrad  # noqa: E402
from mtl_lib.aggregators.pcgrad_wrapper import PCGradWrapper  # noqa: E402
from mtl_lib.aggregators.sdmgrad import SDMGrad  # noqa: E402
from mtl_lib.aggregators.trimmed_mean import TrimmedMean  # noqa: E402
from mtl_lib.aggregators.upgrad import UPGrad  # noqa: E402

__all__ = [
    "AGGREGATORS",
    "CRMOGM",
    "DBMTL",
    "IMTLG",
    "MGDA",
    "PCD",
    "Aggregation",
    "Aggregator",
    "AlignedMTL",
    "CAGrad",
    "ConFIG",
    "ConvergenceWarning",
    "DualProj",
    "ExcessMTL",
    "FairGrad",
    "GradDrop",
    "GradVac",
    "GramianWeightedAggregator",
    "Krum",
    "MoCo",
    "MoDo",
    "NashMTL",
    "PCGrad",
    "PCGradWrapper",
    "SDMGrad",
    "Sum",
    "gram_matrix",
    "TrimmedMean",
    "UPGrad",
]
