"""GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018, "GradNorm: Gradient
Normalization for Adaptive Loss Balancing in Deep Multitask Networks").

The loss weights w_k (sum K) are tuned so that every task's gradient on the last shared layer W
has a norm proportional to how far behind its training is:

    G_k      = ‖∇_W (w_k L_k)‖ = w_k ‖∇_W L_k‖
    r_k      = (L_k / L_k(0)) / mean_j (L_j / L_j(0))          (relative inverse training rate)
    target_k = mean_j(G_j) · r_k^α                              (held constant)
    L_grad   = Σ_k |G_k − target_k|,   ∂L_grad/∂w_k = sign(G_k − target_k) · ‖∇_W L_k‖

One step (the paper's Algorithm 1): the network is updated with Σ_k w_k(t) L_k using the
current weights; w(t) → w(t+1) by one step of this object's own Adam on ∂L_grad/∂w (the
analytic gradient above); then w(t+1) is renormalised to Σ_k w_k = K. So ``forward`` returns
w(t).detach() · L — the weights *before* this step's GradNorm update, which the next step uses.

W is the last shared parameter tensor with at least 2 dimensions of
``trainer.model.shared_parameters()`` (a weight matrix or kernel, not a bias), chosen at
``on_train_start``; without the trainer call :meth:`bind`. The K gradients ∇_W L_k come from one
batched backward (``is_grads_batched=True``, via :func:`mtl_lib.core.jacobian.task_jacobians`)
through the still-alive graph, restricted to W, so the cost is a fraction of a full Jacobian.
The weights are plain tensors (not ``nn.Parameter`` s), so the trainer does not hand them to
the model's optimizer.

Defaults: ``alpha=1.5`` (the paper's value for NYUv2; LibMTL's default; the paper's synthetic
example uses 0.12); ``lr=0.025`` for the weights' Adam (ours: the paper gives none; LibMTL
trains its weights, parametrised as K·softmax(θ), with the model's own optimizer and learning
rate); w(0) = 1 and L(0) = the losses of the first step (paper). Weights are kept ≥
``min_weight`` (1e-4, ours) before renormalising, since the paper's rule can step a weight
below zero and a negative weight would turn that task's loss into one to maximise.

Differences from LibMTL (which implements GradNorm itself, not from the authors' code): LibMTL
trains the first epoch with EW and takes L(0) as that epoch's mean loss, and measures G_k on all
shared parameters rather than the last shared layer.

Scale: weights sum to K, the library's sum scale (the paper normalises to the number of tasks
too).
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.core.errors import require_finite_rows
from mtl_lib.core.jacobian import task_jacobians
from mtl_lib.weighting.base import WEIGHTINGS, LossWeighting

# Guards L(0) = 0 and a zero mean loss ratio; far below any loss that trains.
_TINY = 1e-12


@WEIGHTINGS.register("gradnorm")
class GradNorm(LossWeighting):
    """GradNorm with its own Adam on the weights, measured on the last shared layer."""

    #: What it differentiates per task (read by the method table): not the whole Jacobian.
    reads_task_gradients_of = "last shared layer"

    def __init__(self, alpha: float = 1.5, lr: float = 0.025, min_weight: float = 1e-4) -> None:
        super().__init__()
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        self.alpha = float(alpha)
        self.lr = float(lr)
        self.min_weight = float(min_weight)
        # A tuple, not an attribute holding the Parameter itself: nn.Module would register the
        # model's weight as this module's own parameter (and put it in our state_dict).
        self._bound: tuple[torch.Tensor, ...] = ()
        self.reset()

    # ------------------------------------------------------------------ setup
    def bind(self, parameter: torch.Tensor) -> None:
        """Measure gradient norms on ``parameter`` (the last shared layer's weight)."""
        self._bound = (parameter,)

    @property
    def layer(self) -> torch.Tensor | None:
        """The parameter tensor the gradient norms are measured on, once bound."""
        return self._bound[0] if self._bound else None

    def on_train_start(self, trainer: Any) -> None:
        candidates = [p for p in trainer.model.shared_parameters() if p.dim() >= 2]
        if not candidates:
            raise ValueError("GradNorm needs a shared parameter tensor with >= 2 dimensions (a layer's weight)")
        self.bind(candidates[-1])

    def reset(self) -> None:
        """Weights back to 1, forget L(0) and the weights' optimizer state (keeps the layer)."""
        self._weights: torch.Tensor | None = None
        self._optimizer: torch.optim.Adam | None = None
        self.initial_losses: torch.Tensor | None = None
        self.last_gradient_norms: torch.Tensor | None = None
        self.steps = 0

    def _ensure_weights(self, losses: torch.Tensor) -> torch.Tensor:
        if self._weights is None:
            self._weights = torch.ones(losses.shape[0], device=losses.device, dtype=losses.dtype)
            self._optimizer = torch.optim.Adam([self._weights], lr=self.lr)
        elif self._weights.shape != losses.shape:
            raise ValueError(f"GradNorm has {self._weights.numel()} weights but got {losses.numel()} losses")
        elif self._weights.device != losses.device:
            # State loaded on another device: move the weights and their Adam state together.
            assert self._optimizer is not None
            saved = self._optimizer.state_dict()
            self._weights = self._weights.to(losses.device)
            self._optimizer = torch.optim.Adam([self._weights], lr=self.lr)
            self._optimizer.load_state_dict(saved)
        return self._weights

    @property
    def weights(self) -> torch.Tensor | None:
        """The weights the next step will use (a copy), or ``None`` before the first step."""
        return None if self._weights is None else self._weights.detach().clone()

    # ------------------------------------------------------------------ step
    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        weights = self._ensure_weights(losses)
        # A copy: the update below changes the weights in place, and autograd keeps this tensor.
        terms = weights.clone() * losses
        if torch.is_grad_enabled() and losses.requires_grad:
            self._update(losses)
        return terms

    def _update(self, losses: torch.Tensor) -> None:
        layer = self.layer
        if layer is None:
            raise RuntimeError(
                "GradNorm has no layer to measure gradients on: train it through Trainer (which "
                "binds the last shared layer at on_train_start) or call bind(parameter) first"
            )
        assert self._weights is not None and self._optimizer is not None
        num_tasks = losses.shape[0]
        (per_task,) = task_jacobians(losses, [layer], retain_graph=True)
        # Checked before anything changes, so a failed step leaves the weights and their Adam state
        # as they were. Norms are taken in float64: a float32 norm overflows above ~1e19.
        require_finite_rows(
            per_task.reshape(num_tasks, -1),
            "gradients of the last shared layer",
            owner="GradNorm",
            advice="Lower the learning rate or check the batch.",
        )
        unweighted_norms = per_task.reshape(num_tasks, -1).double().norm(dim=1).to(self._weights.dtype)
        detached = losses.detach()
        if self.initial_losses is None:
            self.initial_losses = detached.clone()
        with torch.no_grad():
            norms = self._weights * unweighted_norms
            ratios = detached / self.initial_losses.to(detached).clamp_min(_TINY)
            inverse_rates = ratios / ratios.mean().clamp_min(_TINY)
            target = norms.mean() * inverse_rates**self.alpha
            self._weights.grad = torch.sign(norms - target) * unweighted_norms
        self._optimizer.step()
        with torch.no_grad():
            self._weights.clamp_(min=self.min_weight)
            self._weights.mul_(num_tasks / self._weights.sum())
        self._weights.grad = None
        self.last_gradient_norms = norms
        self.steps += 1

    # ------------------------------------------------------------------ state
    def get_extra_state(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "lr": self.lr,
            "weights": None if self._weights is None else self._weights.detach().clone(),
            "optimizer": None if self._optimizer is None else self._optimizer.state_dict(),
            "initial_losses": self.initial_losses,
            "steps": self.steps,
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.reset()
        self.alpha = state["alpha"]
        self.lr = state["lr"]
        if state["weights"] is not None:
            self._weights = state["weights"].detach().clone()
            self._optimizer = torch.optim.Adam([self._weights], lr=self.lr)
            self._optimizer.load_state_dict(state["optimizer"])
        self.initial_losses = state["initial_losses"]
        self.steps = state["steps"]

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, lr={self.lr}, min_weight={self.min_weight}"
