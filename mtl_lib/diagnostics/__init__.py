"""Diagnostics: gradient-conflict statistics (overall and per layer) and AdaTask's rAU; the
ones a run can record by name are in :data:`DIAGNOSTICS`."""

from mtl_lib.core.plugins import import_submodules
from mtl_lib.diagnostics.base import DIAGNOSTICS, Diagnostic
from mtl_lib.diagnostics.conflict import (
    conflict_fraction,
    gradient_cosine,
    gradient_norms,
    magnitude_similarity,
)
from mtl_lib.diagnostics.layers import ConflictTracker, LayerConflicts, layer_conflicts
from mtl_lib.diagnostics.rau import DEFAULT_EDGES, RAUTracker

import_submodules(__name__, __path__)

__all__ = [
    "DEFAULT_EDGES",
    "DIAGNOSTICS",
    "Diagnostic",
    "ConflictTracker",
    "LayerConflicts",
    "RAUTracker",
    "conflict_fraction",
    "gradient_cosine",
    "gradient_norms",
    "layer_conflicts",
    "magnitude_similarity",
]
