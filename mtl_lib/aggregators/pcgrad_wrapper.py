"""PCGrad with optimizer-wrapper semantics (the widely used PyTorch port by W.-C. Tseng, which
the leaf-combination study wraps around Adam).

Same projection rule as :mod:`mtl_lib.aggregators.pcgrad` — for each task i, in a random order
of the other tasks j, g_i ← g_i − min(g_i·g_j, 0)/‖g_j‖² · g_j — but on the gradient of *every*
trainable parameter, heads included, and merged per parameter role:

    shared columns:          mean_i g_i^PC   (``reduction="mean"``, the port's default) or sum
    task-specific columns:   Σ_i g_i^PC

Two consequences differ from the shared-parameter PCGrad: the inner products that decide a
conflict include the heads' components (zero for the other tasks' heads, so the heads only
enter through the norms), and a projection of g_i onto g_j also changes task j's head gradient.
With Adam the mean-vs-sum scale on the shared part hardly matters (Adam normalises the step).
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.aggregators.base import AGGREGATORS, Aggregation
from mtl_lib.aggregators.pcgrad import PCGrad


@AGGREGATORS.register("pcgrad_wrapper")
class PCGradWrapper(PCGrad):
    """PCGrad over all parameters, shared part averaged (``reduction="mean"``) or summed."""

    acts_on_all_parameters = True

    def __init__(self, seed: int = 0, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        super().__init__(seed)
        self.reduction = reduction
        self.shared_columns: torch.Tensor | None = None

    def bind_all_parameters(self, names: list[str], sizes: list[int], shared: list[bool]) -> None:
        self.shared_columns = torch.cat(
            [torch.full((size,), flag, dtype=torch.bool) for size, flag in zip(sizes, shared)]
        )

    def aggregate(self, jacobian: torch.Tensor) -> Aggregation:
        projected = super().aggregate(jacobian).task_gradients
        assert projected is not None
        if self.shared_columns is None:
            raise RuntimeError("PCGradWrapper needs bind_all_parameters() first (the trainer calls it)")
        shared = self.shared_columns.to(jacobian.device)
        summed = projected.sum(0)
        if self.reduction == "mean":
            summed = torch.where(shared, summed / projected.shape[0], summed)
        return Aggregation(direction=summed, task_gradients=None)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "reduction": self.reduction}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.reduction = state["reduction"]
        super().load_state_dict({"seed": state["seed"], "generator": state["generator"]})

    def __repr__(self) -> str:
        return f"PCGradWrapper(seed={self.seed}, reduction={self.reduction!r})"
