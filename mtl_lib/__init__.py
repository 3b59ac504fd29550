"""mtl_lib: composable multi-task learning methods and the training loop behind mtl-book.

A method is four independent ingredients — architecture, loss weighting, gradient aggregator,
optimizer — each chosen by name from a registry or passed as an object, and combined by
:class:`mtl_lib.engine.Trainer`.

Layers (imports point downward only; ``tests/test_layering.py`` enforces it):
``core`` → ingredients (``architectures``, ``weighting``, ``aggregators``, ``optim``) and
``metrics``, ``data``, ``diagnostics`` → ``problems`` and ``engine`` → ``experiments`` →
``studies``.
"""

__version__ = "0.1.0"

from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.architectures import ARCHITECTURES
from mtl_lib.core import Callback, MultiTaskModel, Task, resolve_device, seed_everything
from mtl_lib.diagnostics import DIAGNOSTICS
from mtl_lib.engine import Trainer
from mtl_lib.optim import OPTIMIZERS
from mtl_lib.problems import PROBLEMS
from mtl_lib.weighting import WEIGHTINGS

__all__ = [
    "AGGREGATORS",
    "ARCHITECTURES",
    "DIAGNOSTICS",
    "OPTIMIZERS",
    "PROBLEMS",
    "WEIGHTINGS",
    "Callback",
    "MultiTaskModel",
    "Task",
    "Trainer",
    "__version__",
    "resolve_device",
    "seed_everything",
]
