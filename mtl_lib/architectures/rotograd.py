"""RotoGrad (Javaloy & Valera, ICLR 2022, "RotoGrad: Gradient Homogenization in Multitask
Learning"), as an architecture that wraps a hard-sharing model.

Forward: the shared encoder gives z (features on the last dimension, size d); task k's head
reads its own rotation of it, r_k = R_k z, with R_k ∈ SO(d) parametrised as
R_k = exp(A_k − A_kᵀ) (matrix exponential of a skew-symmetric matrix; A_k = 0, i.e. R_k = I,
at the start, as in the authors' code). The heads see R_k as a constant.

Backward, inside the model (tensor hooks; the engine needs no change). Let G_k = ∂L_k/∂z be
task k's gradient arriving at z (the whole (batch × d) tensor) and t the backward count:

    magnitude homogenisation (``homogenize=True``):
        ρ_k = ‖G_k‖ / ‖G_k⁰‖                      relative progress; G_k⁰ is the gradient of the
                                                  first backward, replaced once by that of
                                                  backward ``burn_in_period`` (default 20)
        α_k = ρ_k / Σ_j ρ_j,     C = Σ_k α_k ‖G_k‖
        z receives Σ_k C · G_k / ‖G_k‖            (every task arrives with the same norm C)
    without it, z receives Σ_k G_k (plain hard sharing, rotations only: "RotateOnly").

    rotation targets (for :class:`RotoGradRotationStep`):
        v   = (1/K) Σ_k G_k · ‖Ḡ‖ / ‖G_k‖,  Ḡ = (1/K) Σ_k G_k   (mean of the gradients rescaled
                                                               to the mean gradient's norm)
        loss_k(A_k) = mean over samples ‖R_k v_b − R̃_k G_k,b‖²   (R̃_k: the rotation used in the
                                                               forward, held fixed)
    i.e. each rotation is trained to turn the common reference direction v into task k's
    gradient in its rotated space, which aligns the tasks' gradients on the shared parameters.

Everything above follows the authors' implementation (github.com/adrianjav/rotograd,
``RotoGrad._rep_grad``): the norms are of the whole batch tensor, ``burn_in_period = 20`` is
its default, and the losses are not normalised (its ``normalize_losses=False`` default).
LibMTL has no RotoGrad.

Rotations are trained by their own optimizer, not the trainer's. ``A`` is a parameter with
``requires_grad=False`` (so the trainer, which optimises ``requires_grad`` parameters, and
``check_parameter_partition``, which checks those, both leave it alone); the
:class:`RotoGradRotationStep` callback computes its gradient from the targets recorded during
the backward and steps its own optimizer (default Adam with lr 0.05, the RotoGrad learning rate
of the authors' toy example; their README advises a smaller rate than the model's on real
problems). Without that callback the rotations stay at the identity, and the model warns.

Where the hooks cannot see all tasks at once. Homogenisation and rotation targets need every
task's G_k inside one backward pass: the trainer's plain path (a loss weighting and no
aggregator) and the final backward of ``jacobian_of="representation"``. The parameter-level
Jacobian path (an aggregator or a task-aware optimizer) runs one vmapped backward in which
each task is its own batch entry (or one backward per task in the fallback), so no hook sees
all G_k together: there z receives each task's gradient unchanged (rotations still apply), the
backward is counted in ``skipped_backwards`` and a :class:`RotoGradSkippedWarning` is issued
once. With ``jacobian_of="representation"`` the warning comes from the vmapped Jacobian with
respect to z (so the Gram matrix is of un-homogenised gradients); the final weighted backward
is then homogenised.

Interaction with loss weights: homogenisation rescales every task's gradient at z to the common
norm C, so for the encoder it cancels the magnitude effect of any loss weights (the heads still
get the weighted gradients). That is RotoGrad's intent: it replaces loss weighting for the
shared part.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mtl_lib.architectures.base import ARCHITECTURES, HardSharing
from mtl_lib.core.hooks import Callback
from mtl_lib.core.optimizers import build_optimizer

_TINY = 1e-15  # the authors' clamp for norms


class RotoGradSkippedWarning(RuntimeWarning):
    """A backward pass did not carry all tasks' gradients together, so RotoGrad could neither
    homogenise their magnitudes nor record rotation targets for it."""


def _is_batched(tensor: torch.Tensor) -> bool:
    functorch = getattr(torch._C, "_functorch", None)
    checks = [getattr(functorch, name, None) for name in ("is_batchedtensor", "is_legacy_batchedtensor")]
    return any(check is not None and check(tensor) for check in checks)


class RotoGrad(HardSharing):
    """A :class:`HardSharing` model whose heads read per-task rotations of the shared features.

    ``rotation_parameters()`` are the skew-symmetric generators (one ``(K, d, d)`` tensor),
    trained by :class:`RotoGradRotationStep`; they are in neither ``shared_parameters()`` nor
    ``task_parameters(k)``.
    """

    def training_callbacks(self) -> list[Callback]:
        """What a run that wraps its model in RotoGrad adds to the trainer: the rotations'
        own optimizer step (:class:`RotoGradRotationStep`)."""
        return [RotoGradRotationStep()]

    def __init__(
        self,
        model: HardSharing,
        latent_dim: int | None = None,
        homogenize: bool = True,
        burn_in_period: int = 20,
    ) -> None:
        super().__init__(model.encoder, list(model.heads), model.task_names)
        if latent_dim is None:
            latent_dim = getattr(model.heads[0], "in_features", None)
            if latent_dim is None:
                raise ValueError("cannot infer the representation size from the heads; pass latent_dim")
        self.latent_dim = int(latent_dim)
        self.homogenize = homogenize
        self.burn_in_period = burn_in_period
        # requires_grad=False keeps A out of the trainer's optimizer and its partition check.
        self.rotation_generator = nn.Parameter(
            torch.zeros(self.num_tasks, self.latent_dim, self.latent_dim), requires_grad=False
        )
        self.register_buffer("initial_gradient_norms", torch.ones(self.num_tasks))
        self.homogenised_backwards = 0
        self.skipped_backwards = 0
        self._warned_skip = False
        self._warned_untrained = False
        #: Norms with which each task's gradient reached z in the last homogenised backward.
        self.last_gradient_norms: torch.Tensor | None = None
        #: (task gradients at z, rotations used in the forward), awaiting RotoGradRotationStep.
        self.pending_rotation_targets: tuple[torch.Tensor, torch.Tensor] | None = None

    # ----------------------------------------------------------------- rotations
    def rotation_parameters(self) -> list[nn.Parameter]:
        return [self.rotation_generator]

    @staticmethod
    def rotations_from(generator: torch.Tensor) -> torch.Tensor:
        """R = exp(A − Aᵀ), batched over tasks; orthogonal with determinant 1 by construction."""
        skew = generator - generator.transpose(-1, -2)
        # One matrix at a time: the batched kernel parallelises over the (tiny) task dimension,
        # which costs far more than it saves when CPU threads are contended.
        return torch.stack([torch.linalg.matrix_exp(matrix) for matrix in skew])

    def rotations(self) -> torch.Tensor:
        """The current rotations, ``(K, d, d)``, as constants."""
        with torch.no_grad():
            return self.rotations_from(self.rotation_generator)

    # ----------------------------------------------------------------- forward
    def decode(self, features: torch.Tensor) -> list[torch.Tensor]:
        if features.shape[-1] != self.latent_dim:
            raise ValueError(
                f"RotoGrad rotates a last dimension of {self.latent_dim}, got features {tuple(features.shape)}"
            )
        rotations = self.rotations()
        copies = [features] * self.num_tasks
        if self.training and torch.is_grad_enabled() and features.requires_grad:
            if self.pending_rotation_targets is not None and not self._warned_untrained:
                warnings.warn(
                    "RotoGrad's rotation targets from the previous step were never used: add "
                    "RotoGradRotationStep to the trainer's callbacks to train the rotations",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self._warned_untrained = True
            copies = self._attach_hooks(features, rotations)
        return [head(copy @ rotation.T) for head, copy, rotation in zip(self.heads, copies, rotations)]

    def _attach_hooks(self, features: torch.Tensor, rotations: torch.Tensor) -> list[torch.Tensor]:
        # One view per task: its hook sees that task's gradient only; the hook on ``features``
        # fires after all of them, with their sum, and may replace that sum.
        received: dict[int, torch.Tensor] = {}
        copies = [features.view_as(features) for _ in range(self.num_tasks)]

        def record(k: int):
            def hook(grad: torch.Tensor) -> None:
                received[k] = grad

            return hook

        def merge(total: torch.Tensor) -> torch.Tensor | None:
            grads = [received.get(k) for k in range(self.num_tasks)]
            received.clear()
            if any(g is None for g in grads) or _is_batched(total):
                self._skip()
                return None
            stacked = torch.stack([g.detach() for g in grads])  # type: ignore[union-attr]
            self.pending_rotation_targets = (stacked, rotations)
            if not self.homogenize:
                return None
            return self._homogenise(stacked)

        for k, copy in enumerate(copies):
            copy.register_hook(record(k))
        features.register_hook(merge)
        return copies

    def _skip(self) -> None:
        self.skipped_backwards += 1
        if not self._warned_skip:
            warnings.warn(
                "RotoGrad: this backward pass does not carry all tasks' gradients at once (the "
                "per-task Jacobian path of an aggregator or task-aware optimizer, or a per-task "
                "backward), so gradient magnitudes are not homogenised and the rotations get no "
                "targets for it; use a loss weighting without an aggregator for full RotoGrad",
                RotoGradSkippedWarning,
                stacklevel=2,
            )
            self._warned_skip = True

    def _homogenise(self, grads: torch.Tensor) -> torch.Tensor:
        norms = grads.flatten(1).norm(dim=1).clamp_min(_TINY)
        if self.homogenised_backwards in (0, self.burn_in_period):
            self.initial_gradient_norms = norms.clone()
        self.homogenised_backwards += 1
        progress = norms / self.initial_gradient_norms.to(norms)
        alphas = progress / progress.sum().clamp_min(_TINY)
        common = (alphas * norms).sum()
        scale = common / norms
        self.last_gradient_norms = scale * norms
        return torch.einsum("k,k...->...", scale, grads)

    # ----------------------------------------------------------------- state
    def get_extra_state(self) -> dict[str, Any]:
        return {"homogenised_backwards": self.homogenised_backwards}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.homogenised_backwards = int(state["homogenised_backwards"])

    def rotation_loss(self, generator: torch.Tensor) -> torch.Tensor:
        """Σ_k loss_k(A_k) for the recorded targets (see the module docstring); differentiable
        in ``generator``."""
        if self.pending_rotation_targets is None:
            raise RuntimeError("no rotation targets recorded: run a training backward first")
        grads, used = self.pending_rotation_targets
        grads = grads.reshape(grads.shape[0], -1, grads.shape[-1])  # (K, samples, d)
        norms = grads.flatten(1).norm(dim=1).clamp_min(_TINY)
        reference = (grads * (grads.mean(0).norm() / norms).view(-1, 1, 1)).mean(0)
        rotated_grads = grads @ used.transpose(-1, -2)  # each task's gradient w.r.t. R_k z
        rotated_reference = reference @ self.rotations_from(generator).transpose(-1, -2)
        residual = rotated_reference - rotated_grads
        return residual.square().sum(-1).mean(-1).sum()


class RotoGradRotationStep(Callback):
    """Trains the rotations of a :class:`RotoGrad` model with their own optimizer, once per
    training step (``on_step_end``), from the targets its hooks recorded during the backward.

    ``optimizer`` is a registered name or factory (:func:`mtl_lib.optim.build_optimizer`); it is
    built at ``on_train_start`` (after the trainer has moved the model to its device), or at the
    first step if ``train_step`` is driven by hand.
    """

    def __init__(
        self, optimizer: Any = "adam", lr: float = 0.05, optimizer_kwargs: Mapping[str, Any] | None = None
    ) -> None:
        self.optimizer_spec = optimizer
        self.optimizer_kwargs = {"lr": lr, **dict(optimizer_kwargs or {})}
        self.optimizer: torch.optim.Optimizer | None = None
        self.steps = 0
        self._saved_optimizer_state: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        """The rotation optimizer's state and the step count (``Trainer.state_dict`` saves it)."""
        optimizer = self._saved_optimizer_state if self.optimizer is None else self.optimizer.state_dict()
        return {"steps": self.steps, "optimizer": optimizer}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the optimizer state is loaded when the optimizer is built."""
        self.steps = int(state["steps"])
        self.optimizer = None
        self._saved_optimizer_state = state["optimizer"]

    def _build_optimizer(self, model: RotoGrad) -> None:
        self.optimizer = build_optimizer(self.optimizer_spec, model.rotation_parameters(), **self.optimizer_kwargs)
        if self._saved_optimizer_state is not None:
            self.optimizer.load_state_dict(self._saved_optimizer_state)
            self._saved_optimizer_state = None

    @staticmethod
    def _model(trainer: Any) -> RotoGrad:
        model = trainer.model
        if not isinstance(model, RotoGrad):
            raise TypeError(f"RotoGradRotationStep needs a RotoGrad model, got {type(model).__name__}")
        return model

    def on_train_start(self, trainer: Any) -> None:
        if self.optimizer is None:
            self._build_optimizer(self._model(trainer))

    def on_step_end(self, trainer: Any, step: int, losses: Any) -> None:
        self.step(self._model(trainer))

    def step(self, model: RotoGrad) -> None:
        """One rotation update from the model's pending targets (no-op if there are none)."""
        if model.pending_rotation_targets is None:
            return
        if self.optimizer is None:
            self._build_optimizer(model)
        (parameter,) = model.rotation_parameters()
        with torch.enable_grad():
            generator = parameter.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(model.rotation_loss(generator), generator)
        parameter.grad = grad
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        model.pending_rotation_targets = None
        self.steps += 1


@ARCHITECTURES.register("rotograd")
def rotograd(
    base: str | HardSharing = "synthetic_mlp",
    base_kwargs: Mapping[str, Any] | None = None,
    latent_dim: int | None = None,
    homogenize: bool = True,
    burn_in_period: int = 20,
) -> RotoGrad:
    """Wrap a hard-sharing model (given, or built from ``ARCHITECTURES`` by name) in RotoGrad."""
    model = ARCHITECTURES.build(base, **dict(base_kwargs or {}))
    if not isinstance(model, HardSharing):
        raise TypeError(f"RotoGrad wraps a HardSharing model, got {type(model).__name__}")
    return RotoGrad(model, latent_dim=latent_dim, homogenize=homogenize, burn_in_period=burn_in_period)
