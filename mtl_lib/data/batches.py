"""Mini-batches from in-memory tensors, without DataLoader's per-sample overhead."""

from __future__ import annotations

from collections.abc import Iterator

import torch


class TensorBatches:
    """Iterate over aligned tensors in mini-batches; reshuffled every pass from a seeded
    generator, so the batch order is a function of the seed alone."""

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if not tensors:
            raise ValueError("TensorBatches needs at least one tensor")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError(f"tensors disagree on their first dimension: {[t.shape[0] for t in tensors]}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = self.tensors[0].shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n = self.tensors[0].shape[0]
        device = self.tensors[0].device
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(device)
        for batch_index in range(len(self)):
            idx = order[batch_index * self.batch_size : (batch_index + 1) * self.batch_size]
            yield tuple(t[idx] for t in self.tensors)

    def to(self, device: torch.device | str) -> TensorBatches:
        self.tensors = tuple(t.to(device) for t in self.tensors)
        return self
