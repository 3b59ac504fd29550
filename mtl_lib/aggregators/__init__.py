"""Gradient aggregators, registered by name in :data:`AGGREGATORS`.

Each method lives in its own module and registers itself with ``@AGGREGATORS.register(name)``;
importing this package imports every module in it, so a new method needs no edit here.
"""

import importlib
import pkgutil

from mtl_lib.aggregators.base import (
    AGGREGATORS,
    Aggregation,
    Aggregator,
    GramianWeightedAggregator,
    Sum,
)

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

from mtl_lib.aggregators.pcgrad import PCGrad  # noqa: E402  (after the auto-import loop)

__all__ = ["AGGREGATORS", "Aggregation", "Aggregator", "GramianWeightedAggregator", "PCGrad", "Sum"]
