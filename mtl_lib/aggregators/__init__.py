"""Gradient aggregators, registered by name in :data:`AGGREGATORS`."""

from mtl_lib.aggregators.base import Aggregation, Aggregator, Sum
from mtl_lib.aggregators.pcgrad import PCGrad
from mtl_lib.registry import Registry

AGGREGATORS: Registry[Aggregator] = Registry("gradient aggregator")
AGGREGATORS.register("sum")(Sum)
AGGREGATORS.register("pcgrad")(PCGrad)

__all__ = ["AGGREGATORS", "Aggregation", "Aggregator", "PCGrad", "Sum"]
