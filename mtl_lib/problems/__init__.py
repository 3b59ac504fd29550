"""Problems: what a run config's ``problem`` name builds (data, model, tasks), plus the
data-free problems of the survey chapter (CAGrad's toy, Fonseca–Fleming's Pareto front, the
fixed gradient pair).

Every module registers its builders in :data:`PROBLEMS` when imported; importing this package
imports them all.
"""

from mtl_lib.core.plugins import import_submodules
from mtl_lib.problems.base import PROBLEMS, ProblemBuilder, ProblemInstance

import_submodules(__name__, __path__)

__all__ = ["PROBLEMS", "ProblemBuilder", "ProblemInstance"]
