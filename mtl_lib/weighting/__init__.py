"""Loss-weighting methods, registered by name in :data:`WEIGHTINGS`."""

from mtl_lib.registry import Registry
from mtl_lib.weighting.base import LossWeighting
from mtl_lib.weighting.ew import EqualWeighting

WEIGHTINGS: Registry[LossWeighting] = Registry("loss weighting")
WEIGHTINGS.register("ew")(EqualWeighting)

__all__ = ["WEIGHTINGS", "EqualWeighting", "LossWeighting"]
