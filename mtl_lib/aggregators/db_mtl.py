"""DB-MTL: dual-balancing multi-task learning (Lin, Ye, Xu, Shi & Zhang, "Dual-Balancing for
Multi-Task Learning", arXiv 2308.12029, 2023; LibMTL's ``DB_MTL``).

Two balancing steps. Loss scale: every task's loss is replaced by its logarithm, whose gradient
g_k / L_k does not depend on the loss's unit. Gradient magnitude: an exponential moving average
of those per-task gradients is kept, and every task's average is rescaled to the largest norm
among them before they are added:

    ĝ_k = ∇ log(L_k − m_k + 1e-8) = g_k / (L_k − m_k + 1e-8)     (m_k = ``min_losses``, default 0)
    m_k ← ĝ_k + β_t (m_k − ĝ_k),        β_t = β / t^σ,   m_k = 0 before the first step
    d   = Σ_k (max_j ‖m_j‖ / (‖m_k‖ + 1e-8)) m_k

It reads the step's losses (``needs_losses``: the trainer passes the values whose gradients are
the Jacobian's rows — the losses themselves under EW, which is how DB-MTL is meant to be run).

Defaults (LibMTL's): ``beta = 0.9``, ``beta_sigma = 0``, m = 0 (ours, as FAMO's lower bound:
losses that can be ≤ 0, such as the survey's toy objectives, need m below their infimum). State: the K×P moving averages.
Scale: every term has the norm of the largest averaged log-loss gradient, so identical gradients
g and equal losses L give K·g/L (the method's own scale, not J.sum(0)); for fixed losses
d(sJ) = s·d(J) (``scale_equivariance = 1``).

Negative losses: log L is undefined for L < 0 (LibMTL's log(L + 1e-8) is NaN there) and the
slope 1/L would turn that task's descent into ascent, so a loss below its bound m_k is a
``ValueError`` naming the task (pass ``min_losses`` below the infimum).

Numerics (ours): the rescaling max_j ‖m_j‖ / ‖m_k‖ is taken as a ratio of overflow-safe norms
(unit rows from :func:`._linalg.unit_rows`) and only guarded against an exactly zero average (which gets scale
0). LibMTL divides by ‖m_k‖ + 1e-8, which stops balancing once the averaged log-gradients fall
below ~1e-8 (every term then shrinks by ‖m_k‖/1e-8) and, in float32, overflows above ~1e19.
Identical to LibMTL's wherever its 1e-8 is negligible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mtl_lib.aggregators._linalg import unit_rows
from mtl_lib.aggregators.base import AGGREGATORS, Aggregation, Aggregator


@AGGREGATORS.register("db_mtl")
class DBMTL(Aggregator):
    """Log-loss gradients, averaged over steps, each rescaled to the largest norm."""

    needs_losses = True
    exposes_task_gradients = True

    def __init__(
        self,
        beta: float = 0.9,
        beta_sigma: float = 0.0,
        eps: float = 1e-8,
        min_losses: Sequence[float] | None = None,
    ) -> None:
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {beta}")
        self.beta, self.beta_sigma, self.eps = beta, beta_sigma, eps
        self.min_losses = None if min_losses is None else [float(v) for v in min_losses]
        self.reset()

    def reset(self) -> None:
        self.buffer: torch.Tensor | None = None
        self.steps = 0

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        assert losses is not None  # needs_losses: the base class checks
        if self.min_losses is not None:
            losses = losses - torch.tensor(self.min_losses).to(losses)
        below = losses < 0
        if bool(below.any()):
            # ∇log(L) = ∇L / L: a negative L would flip that task's gradient (ascent on its loss);
            # the authors' log(L + 1e-8) is NaN there. Refuse rather than shift silently.
            tasks = torch.nonzero(below).flatten().tolist()
            raise ValueError(
                f"DBMTL takes log(L_k − m_k): task(s) {tasks} have loss − lower bound "
                f"{[float(losses[k]) for k in tasks]} < 0, which would flip their gradients. Pass "
                "min_losses=[...] below every task's infimum (e.g. -20 for the CAGrad toy)."
            )
        log_gradients = jacobian / (losses + self.eps).unsqueeze(1)
        if self.buffer is None or self.buffer.shape != jacobian.shape:
            self.reset()
            self.buffer = torch.zeros_like(jacobian)
        self.steps += 1
        beta_t = self.beta / self.steps**self.beta_sigma
        self.buffer = log_gradients + beta_t * (self.buffer.to(jacobian) - log_gradients)
        # max_j ‖m_j‖ · m_k/‖m_k‖: the ratio itself may overflow float32 (1e20 / 1e-20)
        units, norms = unit_rows(self.buffer)
        rows = norms.max() * units
        return Aggregation(direction=rows.sum(0), task_gradients=rows)

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer, "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer, self.steps = state["buffer"], state["steps"]

    def __repr__(self) -> str:
        return f"DBMTL(beta={self.beta}, beta_sigma={self.beta_sigma})"
