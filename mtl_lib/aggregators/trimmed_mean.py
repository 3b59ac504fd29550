"""Coordinate-wise trimmed mean (Yin, Chen, Ramchandran & Bartlett, "Byzantine-Robust
Distributed Learning: Towards Optimal Statistical Rates", ICML 2018; TorchJD's ``TrimmedMean``).

A Byzantine-robust rule from distributed learning, offered for comparison: in every coordinate,
the t largest and t smallest of the K task-gradient entries are dropped and the rest averaged:

    d_i = K · mean(sorted_k(J_ki)[t : K − t])

t = ``trim_number`` (default 1, so K ≥ 3 is needed; t = 0 is equal weighting). Not a
combination of whole task gradients (each coordinate keeps different tasks). Scale: ×K on
TorchJD's mean (the library's sum scale).
"""

from __future__ import annotations

import torch

from mtl_lib.aggregators.base import AGGREGATORS, Aggregation, Aggregator


@AGGREGATORS.register("trimmed_mean")
class TrimmedMean(Aggregator):
    """Per-coordinate mean of the task gradients without the t largest and t smallest entries."""

    #: Fewest tasks the default settings accept (K ≥ 2·trim_number + 1); instances set their own.
    min_tasks = 3

    def __init__(self, trim_number: int = 1) -> None:
        if trim_number < 0:
            raise ValueError(f"trim_number must be non-negative, got {trim_number}")
        self.trim_number = trim_number
        self.min_tasks = 2 * trim_number + 1

    def aggregate(self, jacobian: torch.Tensor) -> Aggregation:
        k = jacobian.shape[0]
        if k < self.min_tasks:
            raise ValueError(
                f"TrimmedMean(trim_number={self.trim_number}) needs at least "
                f"{self.min_tasks} tasks, got {k}; lower trim_number or use another aggregator"
            )
        ordered, _ = torch.sort(jacobian, dim=0)
        kept = ordered[self.trim_number : k - self.trim_number]
        return Aggregation(direction=k * kept.mean(dim=0))

    def __repr__(self) -> str:
        return f"TrimmedMean(trim_number={self.trim_number})"
