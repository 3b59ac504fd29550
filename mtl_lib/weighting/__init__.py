"""Loss-weighting methods, registered by name in :data:`WEIGHTINGS`.

Each method lives in its own module and registers itself with ``@WEIGHTINGS.register(name)``;
importing this package imports every module in it.
"""

import importlib
import pkgutil

from mtl_lib.weighting.base import WEIGHTINGS, LossWeighting

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

from mtl_lib.weighting.ew import EqualWeighting  # noqa: E402

__all__ = ["WEIGHTINGS", "EqualWeighting", "LossWeighting"]
