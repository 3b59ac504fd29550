"""PCGrad (Yu et al., 2020, "Gradient Surgery for Multi-Task Learning").

For each task i, take its gradient g_i and visit the other tasks j in a random order; whenever
the running vector conflicts with the *original* g_j (negative inner product), remove that
component:

    g_i ← g_i − min(g_i · g_j, 0) / ‖g_j‖² · g_j

The update is the sum of the projected gradients, Σ_i g_i^PC (the sum scale of the authors'
TensorFlow code and TorchJD; Tseng's PyTorch port averages instead, which only rescales the
step). With two tasks the order does not matter; with more it does, and the order is drawn
afresh for every task at every step from the aggregator's own seeded generator.
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.aggregators.base import AGGREGATORS, Aggregation, Aggregator


@AGGREGATORS.register("pcgrad")
class PCGrad(Aggregator):
    """Projecting conflicting gradients. Exposes the projected per-task gradients."""

    exposes_task_gradients = True

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def aggregate(self, jacobian: torch.Tensor) -> Aggregation:
        num_tasks = jacobian.shape[0]
        # Projecting g_i onto g_j does not depend on g_j's scale and is linear in g_i's, so the
        # rows are divided by their largest |entry| first and the results scaled back: the
        # products below then neither overflow (norms ~1e20 in float32) nor underflow.
        scales = jacobian.abs().amax(dim=1, keepdim=True) if jacobian.shape[1] else jacobian.new_ones(num_tasks, 1)
        scales = torch.where(scales > 0, scales, torch.ones_like(scales))
        unit = jacobian / scales
        squared_norms = (unit * unit).sum(1)
        # A zero gradient cannot be projected onto; its projection coefficient is 0.
        safe_norms = torch.where(squared_norms > 0, squared_norms, torch.ones_like(squared_norms))
        projected = unit.clone()
        for i in range(num_tasks):
            order = torch.randperm(num_tasks, generator=self.generator).tolist()
            for j in order:
                if j == i:
                    continue
                # Branch-free (no host sync on GPU): the coefficient is 0 unless they conflict.
                dot = projected[i] @ unit[j]
                projected[i] = projected[i] - torch.clamp(dot, max=0.0) / safe_norms[j] * unit[j]
        projected = projected * scales
        return Aggregation(direction=projected.sum(0), task_gradients=projected)

    def reset(self) -> None:
        self.generator.manual_seed(self.seed)

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = state["seed"]
        self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        return f"PCGrad(seed={self.seed})"
