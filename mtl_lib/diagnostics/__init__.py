"""Diagnostics: gradient-conflict statistics (overall and per layer) and AdaTask's rAU."""

from mtl_lib.diagnostics.conflict import (
    conflict_fraction,
    gradient_cosine,
    gradient_norms,
    magnitude_similarity,
)
from mtl_lib.diagnostics.layers import ConflictTracker, LayerConflicts, layer_conflicts
from mtl_lib.diagnostics.rau import DEFAULT_EDGES, RAUTracker

__all__ = [
    "DEFAULT_EDGES",
    "ConflictTracker",
    "LayerConflicts",
    "RAUTracker",
    "conflict_fraction",
    "gradient_cosine",
    "gradient_norms",
    "layer_conflicts",
    "magnitude_similarity",
]
