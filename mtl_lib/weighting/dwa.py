"""DWA: Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019, "End-to-End Multi-Task Learning
with Attention", the MTAN paper).

The weights of epoch t come from the last two epochs' mean training losses:

    r_k(t−1) = L_k(t−1) / L_k(t−2)
    w_k(t)   = K · exp(r_k(t−1)/T) / Σ_j exp(r_j(t−1)/T),      term_k = w_k(t) · L_k

with w_k = 1 for the first two epochs (no two-epoch history yet). A task whose loss fell less
(ratio nearer 1) gets more weight. The weights are constants (no gradient flows through them)
and sum to K, the library's sum scale (already the paper's K·softmax, as in the authors' MTAN
code and LibMTL).

L_k(t) is the mean over epoch t's batches of the unweighted training loss, which the trainer
passes to ``on_epoch_end`` (``record["<task>/train_loss"]``); without the trainer, call
:meth:`end_epoch` with that vector after each epoch.

Defaults: ``temperature=2.0`` (paper, authors' code, LibMTL).
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.weighting._common import epoch_mean_losses, require_finite_history
from mtl_lib.weighting.base import WEIGHTINGS, LossWeighting

# A loss that reached exactly 0 would make the ratio infinite and the softmax NaN.
_TINY = 1e-12


@WEIGHTINGS.register("dwa")
class DWA(LossWeighting):
    """Dynamic Weight Average; weights change once per epoch, from the epoch-mean losses."""

    def __init__(self, temperature: float = 2.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = float(temperature)
        self.reset()

    def reset(self) -> None:
        """Forget the loss history: equal weights again for the next two epochs."""
        self.epochs_seen = 0
        self.previous: torch.Tensor | None = None  # L(t−1), the latest epoch's mean losses
        self.before_previous: torch.Tensor | None = None  # L(t−2)

    @property
    def weights(self) -> torch.Tensor | None:
        """The weights the current epoch uses (float64, CPU), or ``None`` while they are all 1."""
        if self.previous is None or self.before_previous is None:
            return None
        ratios = self.previous / self.before_previous.clamp_min(_TINY)
        return ratios.numel() * torch.softmax(ratios / self.temperature, dim=0)

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        weights = self.weights
        if weights is None:
            return losses
        if weights.numel() != losses.numel():
            raise ValueError(f"DWA history has {weights.numel()} tasks but got {losses.numel()} losses")
        # A K-vector per step: the host-to-device copy is negligible.
        return weights.to(device=losses.device, dtype=losses.dtype) * losses

    def end_epoch(self, mean_losses: torch.Tensor) -> None:
        """Record one epoch's mean training losses (``(K,)``); the next epoch's weights use them."""
        current = require_finite_history(self, mean_losses)  # before the history changes
        self.before_previous, self.previous = self.previous, current
        self.epochs_seen += 1

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
        self.end_epoch(epoch_mean_losses(trainer, record))

    def get_extra_state(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "epochs_seen": self.epochs_seen,
            "previous": self.previous,
            "before_previous": self.before_previous,
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.temperature = state["temperature"]
        self.epochs_seen = state["epochs_seen"]
        self.previous = state["previous"]
        self.before_previous = state["before_previous"]

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
