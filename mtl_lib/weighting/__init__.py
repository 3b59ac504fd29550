"""Loss-weighting methods, registered by name in :data:`WEIGHTINGS`.

Each method lives in its own module and registers itself with ``@WEIGHTINGS.register(name)``;
importing this package imports every module in it (:func:`mtl_lib.core.import_submodules`).
"""

from mtl_lib.core.plugins import import_submodules
from mtl_lib.weighting._common import ZeroLossWarning
from mtl_lib.weighting.base import WEIGHTINGS, LossWeighting

import_submodules(__name__, __path__)

from mtl_lib.weighting.dwa import DWA  # noqa: E402
from mtl_lib.weighting.ew import EqualWeighting  # noqa: E402
from mtl_lib.weighting.famo import FAMO  # noqa: E402
from mtl_lib.weighting.gls import GLS  # noqa: E402
from mtl_lib.weighting.gradnorm import GradNorm  # noqa: E402
from mtl_lib.weighting.imtl_l import IMTLL  # noqa: E402
from mtl_lib.weighting.rlw import RLW  # noqa: E402
from mtl_lib.weighting.stch import STCH  # noqa: E402
from mtl_lib.weighting.uw import UncertaintyWeighting  # noqa: E402

__all__ = [
    "DWA",
    "FAMO",
    "GLS",
    "IMTLL",
    "RLW",
    "STCH",
    "WEIGHTINGS",
    "EqualWeighting",
    "GradNorm",
    "LossWeighting",
    "UncertaintyWeighting",
    "ZeroLossWarning",
]
