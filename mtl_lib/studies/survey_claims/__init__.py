"""Side claims of the survey slides, and AdaTask's Pareto-stationarity remark, checked by exact
computations on the library's own implementations (no training noise, so each verdict is a
yes/no :meth:`~mtl_lib.studies._common.Claim.check`).

Every method is built from its registry (:data:`mtl_lib.WEIGHTINGS`, :data:`mtl_lib.AGGREGATORS`)
with the options the claim names, in float64, and fed small hand-made inputs that put it in the
situation the slide describes (orthogonal gradients, a small positive cosine, the worked GradDrop
example, ...). "Equal" in a claim means equal to a relative 1e-9 (:data:`~.common.TOL`) unless the
claim states another bound.

One call per chapter: :func:`loss_balancing_claims` (UW, DWA, IMTL-L; ``survey_loss_balancing``)
and :func:`gradient_balancing_claims` (Nash-MTL, MGDA, PCGrad, GradVac, GradDrop, IMTL-G,
Aligned-MTL, then AdaTask's remark; ``survey_gradient_balancing``); :func:`claims_table` shows them.
Modules: :mod:`.loss`, :mod:`.gradient`, :mod:`.adatask_pareto`, :mod:`.common`.
"""

from __future__ import annotations

from mtl_lib.studies._common import Claim
from mtl_lib.studies.survey_claims.adatask_pareto import adatask_pareto_claims
from mtl_lib.studies.survey_claims.common import claims_table
from mtl_lib.studies.survey_claims.gradient import gradient_balancing_claims as _survey_gradient_claims
from mtl_lib.studies.survey_claims.loss import loss_balancing_claims


def gradient_balancing_claims() -> list[Claim]:
    """The gradient-balancing chapter's side claims: the survey's, then AdaTask's Pareto remark
    (the chapter where MGDA's min-norm point, the test of Pareto stationarity, is introduced)."""
    return _survey_gradient_claims() + adatask_pareto_claims()


__all__ = ["adatask_pareto_claims", "claims_table", "gradient_balancing_claims", "loss_balancing_claims"]
