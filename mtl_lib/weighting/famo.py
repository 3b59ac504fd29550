"""FAMO: fast adaptive multitask optimization (Liu, Liu, Stone & Liu, NeurIPS 2023,
arXiv 2306.03792; LibMTL's ``FAMO``).

A loss-space method: it balances the *rate* at which the task losses fall without ever forming
per-task gradients, so a step costs one backward (as EW) plus one extra forward, whatever K is.

Model step (the paper's update direction): with task logits ξ, z = softmax(ξ) and
D_k = L_k − m_k + ε (m_k a lower bound on the loss, default 0; ε = 1e-8),

    objective  = Σ_k (z_k / c) · log D_k,      c = Σ_k z_k / D_k   (held constant)
    gradient   = Σ_k w_k ∇L_k,                 w_k = z_k / (c D_k),   Σ_k w_k = 1

i.e. a convex combination of the log-loss gradients. Logit step, after the model step, from the
losses of the *same batch* re-evaluated at the updated parameters (the extra forward):

    δ_k = log D_k(before) − log D_k(after)          (each task's log-loss decrease)
    ξ  ← ξ − β (∂(zᵀδ)/∂ξ + γ ξ)                     (paper's Algorithm 1; ``logit_optimizer="sgd"``)

which lowers the weight of tasks that improved faster than the others. The authors' code and
LibMTL take that step with Adam (weight decay γ): ``logit_optimizer="adam"``, the default.

Engine: terms are returned by ``forward``; the logit step runs at ``on_step_end``, where the
trainer's :meth:`~mtl_lib.engine.Trainer.losses_after_step` re-evaluates the step's batch (so the
update happens through ``Trainer.fit``; by hand call :meth:`update` with the new losses).

Degenerate inputs: a task whose loss equals its lower bound m_k (e.g. a loss that is identically
zero with the default m = 0) gets weight ~1 and every other task ~ε/L_k, so the others stop
training: a :class:`~mtl_lib.weighting._common.ZeroLossWarning` says so at every such step. A NaN/inf loss handed to :meth:`update` is a
:class:`~mtl_lib.core.errors.NonFiniteError` and leaves the logits unchanged.

Defaults: β = ``lr = 0.025`` and γ = ``gamma = 1e-3`` (LibMTL's; the authors' class default is
γ = 0.01), ξ = 0. The authors also clip the model's gradient norm to 1 in their training loop;
that is a training-loop choice, not applied here. Scale: the weights w sum to 1 in the paper; we
multiply by K (they sum to K: the library's sum scale, equal losses and logits give EW).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mtl_lib.core.errors import require_finite_rows
from mtl_lib.weighting._common import require_positive, warn_zero_losses
from mtl_lib.weighting.base import WEIGHTINGS, LossWeighting

_LOGIT_OPTIMIZERS = ("adam", "sgd")


@WEIGHTINGS.register("famo")
class FAMO(LossWeighting):
    """Log-loss weights from a softmax over task logits that track each task's loss decrease."""

    def __init__(
        self,
        lr: float = 0.025,
        gamma: float = 1e-3,
        min_losses: Sequence[float] | None = None,
        logit_optimizer: str = "adam",
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        if logit_optimizer not in _LOGIT_OPTIMIZERS:
            raise ValueError(f"logit_optimizer must be one of {_LOGIT_OPTIMIZERS}, got {logit_optimizer!r}")
        if lr <= 0 or gamma < 0:
            raise ValueError("lr must be positive and gamma non-negative")
        self.lr, self.gamma, self.eps = float(lr), float(gamma), float(eps)
        self.logit_optimizer = logit_optimizer
        self.min_losses = None if min_losses is None else [float(v) for v in min_losses]
        self.reset()

    def reset(self) -> None:
        # A plain tensor, not an nn.Parameter: the trainer must not hand it to the model's optimizer.
        self.logits: torch.Tensor | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._before: torch.Tensor | None = None
        self.last_weights: torch.Tensor | None = None

    def _gaps(self, losses: torch.Tensor) -> torch.Tensor:
        if self.min_losses is None:  # m = 0: one op, the same values as losses − 0 + ε
            return losses + self.eps
        return losses - torch.tensor(self.min_losses).to(losses) + self.eps

    def _ensure_logits(self, num_tasks: int, like: torch.Tensor) -> torch.Tensor:
        if self.logits is None:
            self.logits = torch.zeros(num_tasks, device=like.device, dtype=like.dtype, requires_grad=True)
            factory = torch.optim.Adam if self.logit_optimizer == "adam" else torch.optim.SGD
            self._optimizer = factory([self.logits], lr=self.lr, weight_decay=self.gamma)
        elif self.logits.shape[0] != num_tasks:
            raise ValueError(f"FAMO has {self.logits.shape[0]} logits but got {num_tasks} losses")
        return self.logits

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        z = torch.softmax(self._ensure_logits(losses.shape[0], losses).detach(), 0).to(losses)
        gaps = self._gaps(losses)
        # Both checks below fire only when some D_k ≤ ε (a loss at or under its bound): one
        # reduction and one host sync find that, and the exact checks run only then.
        if bool(gaps.detach().min() <= self.eps):
            # log D_k needs D_k > 0; a NaN/negative weight would otherwise flip that task's gradient
            require_positive(
                self,
                gaps,
                "FAMO takes log(L_k − m_k): every loss must exceed its lower bound m "
                "(min_losses, default 0; set it below the losses' infimum)",
            )
            warn_zero_losses(
                self,
                gaps - self.eps,
                "FAMO's weights z_k/(c·(L_k − m_k + ε)) give it all the weight (the others get ~ε/L)",
                "Set min_losses below the losses' infimum (e.g. -1 for losses >= 0) or drop the task.",
            )
        c = (z / gaps.detach()).sum()
        # per-step state in the instance dict directly: nn.Module.__setattr__'s parameter/buffer
        # bookkeeping (~4 µs a call) is for parameters, and these are plain tensors
        state = self.__dict__
        state["last_weights"] = (losses.shape[0] * z / (c * gaps.detach())).detach()
        if torch.is_grad_enabled() and losses.requires_grad:
            state["_before"] = losses.detach()
        return losses.shape[0] * (z / c) * gaps.log()

    def update(self, losses_after: torch.Tensor) -> None:
        """The logit step, given the step's batch losses at the updated parameters."""
        if self._before is None:
            raise RuntimeError("FAMO.update needs a preceding training forward (the losses before the step)")
        assert self.logits is not None and self._optimizer is not None
        # a NaN/inf loss after the step would enter the logits through the decrease δ and then
        # every later weight; refuse it before any state changes (the logits stay as they were)
        require_finite_rows(
            losses_after.detach(),
            "losses after the step",
            owner=type(self).__name__,
            advice="The logits were left unchanged. The step diverged: lower the learning rate, "
            "check the batch, or train with Trainer(..., nonfinite='skip').",
        )
        decrease = self._gaps(self._before).log() - self._gaps(losses_after.detach().to(self._before)).log()
        # ∂(zᵀδ)/∂ξ for z = softmax(ξ) in closed form, z ⊙ (δ − zᵀδ): the product softmax's own
        # backward computes, without building and running a graph for K numbers every step
        with torch.no_grad():
            z = torch.softmax(self.logits, 0)
            delta = decrease.to(self.logits)
            direction = z * (delta - (z * delta).sum())
        self.logits.grad = direction  # replaces the last step's gradient: no zero_grad needed
        self._optimizer.step()
        self.__dict__["_before"] = None

    def on_step_end(self, trainer: Any, step: int, losses: torch.Tensor) -> None:
        self.update(trainer.losses_after_step())

    def get_extra_state(self) -> dict[str, Any]:
        return {
            "logits": None if self.logits is None else self.logits.detach().clone(),
            "optimizer": None if self._optimizer is None else self._optimizer.state_dict(),
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.reset()
        if state["logits"] is not None:
            self._ensure_logits(state["logits"].shape[0], state["logits"])
            with torch.no_grad():
                self.logits.copy_(state["logits"])  # type: ignore[union-attr]
            self._optimizer.load_state_dict(state["optimizer"])  # type: ignore[union-attr]

    def extra_repr(self) -> str:
        return f"lr={self.lr}, gamma={self.gamma}, logit_optimizer={self.logit_optimizer!r}"
