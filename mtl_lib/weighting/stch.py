"""STCH: smooth Tchebycheff scalarization (Lin, Zhang, Yang, Liu, Wang & Zhang, ICML 2024,
"Smooth Tchebycheff Scalarization for Multi-Objective Optimization").

The paper smooths the Tchebycheff scalarization max_k λ_k (f_k − z_k) into

    g_μ(f | λ) = μ · log Σ_k exp(λ_k (f_k − z_k) / μ),

which tends to the max as μ → 0 and to Σ_k λ_k (f_k − z_k) + μ log K as μ → ∞. The authors'
MTL code (github.com/Xi-L/STCH, ``STCH_MTL/LibMTL/weighting/STCH.py``, copied into LibMTL)
applies it, after a warm-up, to normalised *log*-losses:

  warm-up (the first ``warmup_epochs`` epochs): objective Σ_k log L_k (equal weights on the
      log-losses, i.e. the gradient Σ_k ∇L_k / L_k). During the last ``nadir_epochs`` of them the
      mean training loss of each task is recorded; their average is the nadir vector n.
  afterwards: f_k = log(L_k / n_k), ideal point z = 0, λ_k = 1, and the objective is
      K · μ · log Σ_k exp(λ_k (f_k − z_k) / μ)        (the authors multiply by K themselves).

Defaults, all from the authors' code (``STCH_MTL/LibMTL/config.py``): ``mu=1.0``
(``--STCH_mu 1.0``); ``warmup_epochs=5``, ``nadir_epochs=1``: their ``--STCH_warmup_epoch 4`` with
0-based epochs means epochs 0..3 train on Σ log L, epoch 4 does the same while accumulating
the losses, and STCH starts at epoch 5 — five warm-up epochs, the nadir from the fifth;
``log_losses=True``; ``ideal="zero"``; ``preference=None`` → λ_k = 1 for every task (their
code has no λ, i.e. 1; the paper's simplex-normalised uniform λ_k = 1/K is the same as
μ' = K·μ); ``sum_scale=True`` → the factor K above (the library's sum scale: with equal
normalised losses the weights ∂Φ/∂f_k are 1 each, summing to K).

Options beyond the authors' code: ``log_losses=False`` uses f_k = L_k / n_k, the paper's plain
normalised objectives, and plain EW (Σ L_k) during warm-up; ``ideal="min"`` tracks z_k as the
smallest f_k seen so far after warm-up (the paper's ideal point, estimated online); a
``preference`` vector λ (used as given, not renormalised). ``warmup_epochs=0`` means no warm-up
and no normalisation (n = 1).

Terms: the objective Φ(L) is not a sum over tasks, so it is split by its gradient (see
:func:`mtl_lib.weighting._common.gradient_split_terms`):

    term_k = g_k · L_k + (Φ − Σ_j g_j L_j)/K,   g_k = ∂Φ/∂L_k = K·softmax_k(λ(f − z)/μ)·λ_k·f'_k

(detached), so Σ_k term_k has Φ's value and gradient, and an aggregator sees task k's row as
g_k ∇L_k. During warm-up the terms are log L_k (or L_k) themselves.

Negative losses (the formula's assumptions). The Tchebycheff scalarization measures each
objective from the ideal point z, f_k − z_k, with f normalised by a positive nadir n; the
authors' log form f_k = log(L_k/n_k) is defined only for L_k > 0 (their ``+ 1e-20`` keeps a zero
loss finite). A negative loss would make log(L + eps) NaN, and dividing by a negative nadir
would flip the sign of ∂Φ/∂L_k, i.e. turn that task's descent into ascent. We neither shift nor
clamp silently (a shift changes the weights, a clamp drops the task); instead:
- ``log_losses=True`` (default): a negative loss is a ``ValueError`` naming the task, in the
  warm-up and after it;
- ``log_losses=False``: negative losses are fine (the weights ∂Φ/∂f_k are a softmax, so positive,
  and f − z may be negative), but the nadir (mean warm-up loss) must be positive: a task whose
  warm-up mean is <= 0 is a ``ValueError`` when the nadir is fixed.
If your losses can be negative but have a known lower bound −b (e.g. the CAGrad toy's objectives,
which lie above −20), pass ``shift=b``: every loss is then measured from that bound, L_k + b,
in the warm-up, the nadir and the scalarization alike (default ``shift=0``, the authors' form).

Epochs are counted by this object (``on_epoch_end`` from the trainer, or :meth:`end_epoch`
when used alone), not read from the trainer, so ``reset()`` restarts the warm-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mtl_lib.weighting._common import (
    epoch_mean_losses,
    gradient_split_terms,
    require_finite_history,
    require_positive,
    warn_zero_losses,
)
from mtl_lib.weighting.base import WEIGHTINGS, LossWeighting


@WEIGHTINGS.register("stch")
class STCH(LossWeighting):
    """Smooth Tchebycheff scalarization with the authors' warm-up and nadir normalisation."""

    def __init__(
        self,
        mu: float = 1.0,
        warmup_epochs: int = 5,
        nadir_epochs: int = 1,
        log_losses: bool = True,
        ideal: str = "zero",
        preference: Sequence[float] | torch.Tensor | None = None,
        sum_scale: bool = True,
        eps: float = 1e-20,
        shift: float = 0.0,
    ) -> None:
        super().__init__()
        if mu <= 0:
            raise ValueError(f"mu must be positive, got {mu}")
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        if warmup_epochs > 0 and not 1 <= nadir_epochs <= warmup_epochs:
            raise ValueError(f"nadir_epochs must be in 1..warmup_epochs={warmup_epochs}, got {nadir_epochs}")
        if ideal not in ("zero", "min"):
            raise ValueError(f"ideal must be 'zero' or 'min', got {ideal!r}")
        self.mu = float(mu)
        self.warmup_epochs = int(warmup_epochs)
        self.nadir_epochs = int(nadir_epochs)
        self.log_losses = bool(log_losses)
        self.ideal = ideal
        self.preference = None if preference is None else torch.as_tensor(preference, dtype=torch.float64).reshape(-1)
        self.sum_scale = bool(sum_scale)
        # The authors add 1e-20 inside the log; it also keeps a zero loss finite.
        self.eps = float(eps)
        self.shift = float(shift)
        self.reset()

    def reset(self) -> None:
        """Forget the warm-up: the next epoch is warm-up epoch 1 again."""
        self.epochs_seen = 0
        self.nadir_sum: torch.Tensor | None = None
        self.nadir_count = 0
        self.nadir: torch.Tensor | None = None
        self.ideal_point: torch.Tensor | None = None

    @property
    def in_warmup(self) -> bool:
        return self.epochs_seen < self.warmup_epochs

    # ------------------------------------------------------------------ objective
    def normalized(self, losses: torch.Tensor) -> torch.Tensor:
        """f(L): log(L/n + eps) (default) or L/n, with the nadir n (1 before it is known)."""
        scaled = losses if self.nadir is None else losses / self.nadir.to(losses.device, losses.dtype)
        return torch.log(scaled + self.eps) if self.log_losses else scaled

    def objective(self, losses: torch.Tensor) -> torch.Tensor:
        """Φ(L) = c·μ·log Σ_k exp(λ_k (f_k − z_k)/μ), c = K with ``sum_scale`` (else 1)."""
        num_tasks = losses.shape[0]
        shifted = self.normalized(losses)
        if self.ideal_point is not None:
            shifted = shifted - self.ideal_point.to(losses.device, losses.dtype)
        if self.preference is not None:
            if self.preference.numel() != num_tasks:
                raise ValueError(f"preference has {self.preference.numel()} entries for {num_tasks} tasks")
            shifted = self.preference.to(losses.device, losses.dtype) * shifted
        scale = num_tasks if self.sum_scale else 1.0
        return scale * self.mu * torch.logsumexp(shifted / self.mu, dim=0)

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        if self.shift:
            losses = losses + self.shift  # measured from the known lower bound −shift
        if self.log_losses:
            # log(L + eps) is NaN for L < 0, and its slope 1/L would flip the task's gradient.
            require_positive(
                self, losses, f"log-normalised losses need L + shift >= 0 (shift={self.shift})", allow_zero=True
            )
            warn_zero_losses(
                self,
                losses,
                "its log-loss slope 1/(L + eps) is ~1/eps and outweighs every other task's",
                "Pass shift=b for losses bounded below by -b, log_losses=False, or drop the task.",
            )
        if self.in_warmup:
            return torch.log(losses + self.eps) if self.log_losses else losses
        if self.nadir is not None and self.nadir.numel() != losses.numel():
            raise ValueError(f"nadir has {self.nadir.numel()} tasks but got {losses.numel()} losses")
        if self.ideal == "min":
            current = self.normalized(losses.detach())
            self.ideal_point = (
                current if self.ideal_point is None else torch.minimum(self.ideal_point.to(current), current)
            )
        return gradient_split_terms(self.objective, losses)

    # ------------------------------------------------------------------ schedule
    def end_epoch(self, mean_losses: torch.Tensor) -> None:
        """Record one epoch's mean training losses (``(K,)``); after the last warm-up epoch the
        nadir vector is fixed from the last ``nadir_epochs`` of them."""
        current = require_finite_history(self, mean_losses) + self.shift  # before any state changes
        nadir_sum, nadir_count = self.nadir_sum, self.nadir_count
        if self.in_warmup and self.epochs_seen >= self.warmup_epochs - self.nadir_epochs:
            nadir_sum = current if nadir_sum is None else nadir_sum + current
            nadir_count += 1
        nadir = self.nadir
        if self.epochs_seen + 1 == self.warmup_epochs and nadir_sum is not None:
            nadir = nadir_sum / nadir_count
            # Dividing by a negative nadir would flip that task's gradient (see module docstring).
            require_positive(self, nadir, "the nadir (mean warm-up loss) must be >= 0", allow_zero=True)
            # A task at exactly zero loss would divide by zero; eps keeps it finite.
            nadir = nadir.clamp_min(self.eps)
        self.nadir_sum, self.nadir_count, self.nadir = nadir_sum, nadir_count, nadir
        self.epochs_seen += 1

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
        self.end_epoch(epoch_mean_losses(trainer, record))

    def get_extra_state(self) -> dict[str, Any]:
        return {
            "epochs_seen": self.epochs_seen,
            "nadir_sum": self.nadir_sum,
            "nadir_count": self.nadir_count,
            "nadir": self.nadir,
            "ideal_point": self.ideal_point,
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.epochs_seen = state["epochs_seen"]
        self.nadir_sum = state["nadir_sum"]
        self.nadir_count = state["nadir_count"]
        self.nadir = state["nadir"]
        self.ideal_point = state["ideal_point"]

    def extra_repr(self) -> str:
        return (
            f"mu={self.mu}, warmup_epochs={self.warmup_epochs}, nadir_epochs={self.nadir_epochs}, "
            f"log_losses={self.log_losses}, ideal={self.ideal!r}, sum_scale={self.sum_scale}, shift={self.shift}"
        )
