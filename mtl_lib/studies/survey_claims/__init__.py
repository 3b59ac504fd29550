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

from mtl_lib.studies._common import Claim, identify
from mtl_lib.studies.survey_claims import gradient, loss
from mtl_lib.studies.survey_claims.adatask_pareto import adatask_pareto_claims
from mtl_lib.studies.survey_claims.common import claims_table
from mtl_lib.studies.survey_claims.descent import DESCENT_CLAIM_IDS, descent_claims

#: Stable ids of :func:`loss_balancing_claims`' and :func:`gradient_balancing_claims`' claims, in
#: order: the ids of their entries in :mod:`mtl_lib.studies.claims_register`.
LOSS_CLAIM_IDS = (
    "survey.uw.large_sigma_small_weight", "survey.uw.final_loss", "survey.dwa.large_t_equal",
    "survey.dwa.slow_task_weight", "survey.imtl_l.like_uw", "survey.imtl_l.scaled_loss_one",
    "survey.imtl_l.absolute_value_wrong_direction", "survey.stch.warmup", "survey.stch.small_mu_is_tch",
)  # fmt: skip
GRADIENT_CLAIM_IDS = (
    "survey.nash.orthogonal", "survey.nash.claim_3_1", "survey.nash.interaction", "survey.nash.scale_invariant",
    "survey.mgda.closed_form", "survey.pcgrad.magnitude_similarity", "survey.pcgrad.projection",
    "survey.gradvac.pcgrad_stall", "survey.cagrad.worst_improvement", "survey.rotograd.equal_magnitudes",
    "survey.graddrop.worked_examples",
    "survey.imtl_g.equal_projections", "survey.aligned.condition_number", "adatask.pareto.premise",
    "adatask.pareto.inference",
)  # fmt: skip


def loss_balancing_claims() -> list[Claim]:
    """The loss-balancing chapter's side claims of the survey slides (UW, DWA, IMTL-L, STCH)."""
    return identify(loss.loss_balancing_claims(), LOSS_CLAIM_IDS)


def gradient_balancing_claims() -> list[Claim]:
    """The gradient-balancing chapter's side claims: the survey's, then AdaTask's Pareto remark
    (the chapter where MGDA's min-norm point, the test of Pareto stationarity, is introduced)."""
    return identify(gradient.gradient_balancing_claims() + adatask_pareto_claims(), GRADIENT_CLAIM_IDS)


__all__ = [
    "DESCENT_CLAIM_IDS",
    "descent_claims",
    "GRADIENT_CLAIM_IDS",
    "LOSS_CLAIM_IDS",
    "adatask_pareto_claims",
    "claims_table",
    "gradient_balancing_claims",
    "loss_balancing_claims",
]
