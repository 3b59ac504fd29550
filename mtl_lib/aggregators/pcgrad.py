"""PCGrad (Yu et al., 2020, "Gradient Surgery for Multi-Task Learning").

For each task i, take its gradient g_i and visit the other tasks j in a random order; whenever
the running vector conflicts with the *original* g_j (negative inner product), remove that
component:

    g_i ← g_i − min(g_i · g_j, 0) / ‖g_j‖² · g_j

The update is the sum of the projected gradients, Σ_i g_i^PC (the sum scale of the authors'
TensorFlow code and TorchJD; Tseng's PyTorch port averages instead, which only rescales the
step). With two tasks the order does not matter; with more it does, and the order is drawn
afresh for every task at every step from the aggregator's own seeded generator.

Gramian space (how it is computed): every running vector stays a combination of the original
gradients, g_i^PC = Σ_k W_ik g_k, so the whole procedure runs on the K×K Gram matrix G = JJᵀ —
the test is g_i^PC·g_j = (W G)_ij and the projection subtracts from W_ij — and the projected
rows are formed once at the end, J^PC = W J (one K×K by K×P product instead of K(K−1) dot
products and updates of length P). W is computed in float64 on the CPU from one copy of G. The
direction is Jᵀw with w = 1ᵀW a function of G (and of the random orders) only, so PCGrad also
runs on the representation's Gramian (``Trainer(..., jacobian_of="representation")``).
:func:`pcgrad_rows` is the row-space reference the tests compare against (same draws).
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.aggregators.base import AGGREGATORS, Aggregation, GramianWeightedAggregator


def pcgrad_rows(jacobian: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Row-space PCGrad (the textbook form, kept as the reference for the Gramian form):
    projects full parameter-length rows. Draws the same orders as :class:`PCGrad`."""
    num_tasks = jacobian.shape[0]
    squared_norms = (jacobian * jacobian).sum(1)
    safe_norms = torch.where(squared_norms > 0, squared_norms, torch.ones_like(squared_norms))
    projected = jacobian.clone()
    for i in range(num_tasks):
        for j in torch.randperm(num_tasks, generator=generator).tolist():
            if j == i:
                continue
            dot = projected[i] @ jacobian[j]
            projected[i] = projected[i] - torch.clamp(dot, max=0.0) / safe_norms[j] * jacobian[j]
    return projected


def pcgrad_mixing(gram: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The K×K matrix W with PCGrad's projected rows J^PC = W J, from the Gram matrix alone
    (float64, CPU). A zero gradient cannot be projected onto: its coefficient stays 0."""
    g = gram.detach().to(device="cpu", dtype=torch.float64)
    num_tasks = g.shape[0]
    rows = g.tolist()  # K is a handful: Python floats beat tiny tensor ops
    mixing = [[1.0 if k == i else 0.0 for k in range(num_tasks)] for i in range(num_tasks)]
    for i in range(num_tasks):
        w = mixing[i]
        for j in torch.randperm(num_tasks, generator=generator).tolist():
            if j == i or rows[j][j] <= 0.0:
                continue
            dot = sum(w[k] * rows[k][j] for k in range(num_tasks))  # g_i^PC · g_j
            if dot < 0.0:
                w[j] -= dot / rows[j][j]
    return torch.tensor(mixing, dtype=torch.float64)


@AGGREGATORS.register("pcgrad")
class PCGrad(GramianWeightedAggregator):
    """Projecting conflicting gradients. Exposes the projected per-task gradients."""

    exposes_task_gradients = True

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        return pcgrad_mixing(gram, self.generator).sum(0).to(device=gram.device, dtype=gram.dtype)

    def aggregate(self, jacobian: torch.Tensor) -> Aggregation:
        num_tasks = jacobian.shape[0]
        # Projecting g_i onto g_j does not depend on g_j's scale and is linear in g_i's, so the
        # mixing is computed for the rows divided by their largest |entry| (coefficients O(1),
        # no overflow at norms ~1e20 in float32 nor underflow at ~1e-20) and scaled back.
        scales = jacobian.abs().amax(dim=1, keepdim=True) if jacobian.shape[1] else jacobian.new_ones(num_tasks, 1)
        scales = torch.where(scales > 0, scales, torch.ones_like(scales))
        unit = jacobian / scales
        # the unit rows' largest |entry| is exactly 1, so gram_matrix's own row scaling would
        # divide by ones: their plain product is the same Gram matrix, two K×P passes cheaper
        mixing64 = pcgrad_mixing(unit @ unit.T, self.generator)
        mixing = mixing64.to(device=jacobian.device, dtype=jacobian.dtype)
        projected = (mixing @ unit) * scales
        # d = Σ_i s_i Σ_j M_ij u_j = Σ_j w_j g_j with w_j = Σ_i s_i M_ij / s_j (in float64: with
        # norms 1e20 and 1e-20 a weight can exceed float32's range; then none are returned)
        s64 = scales[:, 0].to(device=mixing64.device, dtype=torch.float64)
        weights64 = (s64[:, None] * mixing64).sum(0) / s64
        weights = weights64.to(device=jacobian.device, dtype=jacobian.dtype)
        if not bool(torch.isfinite(weights).all()):
            weights = None
        return Aggregation(direction=projected.sum(0), task_gradients=projected, weights=weights)

    def reset(self) -> None:
        self.generator.manual_seed(self.seed)

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = state["seed"]
        self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        return f"PCGrad(seed={self.seed})"
