"""Krum and Multi-Krum (Blanchard, El Mhamdi, Guerraoui & Stainer, "Machine Learning with
Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS 2017; TorchJD's ``Krum``).

A Byzantine-robust rule from distributed learning, offered for comparison: each gradient is
scored by the sum of its distances to its K − f − 2 nearest
other gradients, and the m best-scored gradients are averaged:

    s_k = Σ_{j ∈ N_k} ‖g_k − g_j‖,   N_k = the K − f − 2 closest j ≠ k,
    d   = K · (1/m) Σ_{k ∈ m smallest s_k} g_k

f = ``n_byzantine`` (default 0), m = ``n_selected`` (default 1). Distances come from G alone
(‖g_i − g_j‖² = G_ii + G_jj − 2G_ij), so it is a Gramian-weighted aggregator. It needs
K ≥ f + 3 tasks (with two tasks the neighbourhood is empty). The original paper scores with
*squared* distances; TorchJD 0.18 uses distances, and so do we (agreement is exact). Scale: ×K
on TorchJD's average (the library's sum scale).
"""

from __future__ import annotations

import torch

from mtl_lib.aggregators.base import AGGREGATORS, GramianWeightedAggregator


@AGGREGATORS.register("krum")
class Krum(GramianWeightedAggregator):
    """The gradient(s) closest to their K − f − 2 nearest neighbours."""

    #: Fewest tasks the default settings accept (K ≥ n_byzantine + 3); instances set their own.
    min_tasks = 3

    def __init__(self, n_byzantine: int = 0, n_selected: int = 1) -> None:
        if n_byzantine < 0 or n_selected < 1:
            raise ValueError("n_byzantine must be >= 0 and n_selected >= 1")
        self.n_byzantine, self.n_selected = n_byzantine, n_selected
        self.min_tasks = max(n_byzantine + 3, n_selected)

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        k = gram.shape[0]
        if k < self.min_tasks:
            raise ValueError(
                f"Krum(n_byzantine={self.n_byzantine}, n_selected={self.n_selected}) needs at least "
                f"{self.min_tasks} tasks, got {k}; lower n_byzantine or use another aggregator"
            )
        norms = gram.diagonal()
        distances = (norms[:, None] + norms[None, :] - 2 * gram).clamp(min=0.0).sqrt()
        nearest, _ = torch.topk(distances, k=k - self.n_byzantine - 1, largest=False)
        scores = nearest[:, 1:].sum(dim=1)  # drop the zero distance to itself
        _, chosen = torch.topk(scores, k=self.n_selected, largest=False)
        weights = torch.zeros_like(norms)
        weights[chosen] = k / self.n_selected
        return weights

    def __repr__(self) -> str:
        return f"Krum(n_byzantine={self.n_byzantine}, n_selected={self.n_selected})"
