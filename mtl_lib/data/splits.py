"""Cross-validation splits shared by the datasets."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch

__all__ = ["stratified_kfold"]


def stratified_kfold(labels: torch.Tensor | Sequence[int], n_splits: int = 5,
                     seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
    """``n_splits`` (train, test) index pairs whose test parts partition ``range(N)``, each
    class spread over the folds as evenly as possible; a function of ``labels`` and ``seed``.

    Within each class (in increasing label order) the members are shuffled and dealt to the
    folds round-robin; the dealing continues where the previous class stopped, so the fold
    sizes differ by at most one overall, and a class's count differs by at most one between
    folds. A class with fewer than ``n_splits`` members cannot appear in every fold: that is
    warned about. Indices are returned sorted, as int64 tensors.
    """
    labels = torch.as_tensor(labels).long().reshape(-1)
    n = labels.numel()
    if n_splits < 2:
        raise ValueError(f"n_splits must be at least 2, got {n_splits}")
    if n < n_splits:
        raise ValueError(f"cannot split {n} samples into {n_splits} folds")
    gen = torch.Generator().manual_seed(seed)
    fold_of = torch.empty(n, dtype=torch.long)
    offset = 0
    small = []
    for c in torch.unique(labels).tolist():
        members = (labels == c).nonzero().squeeze(1)
        if members.numel() < n_splits:
            small.append((c, members.numel()))
        members = members[torch.randperm(members.numel(), generator=gen)]
        fold_of[members] = (torch.arange(members.numel()) + offset) % n_splits
        offset = (offset + members.numel()) % n_splits
    if small:
        warnings.warn(
            f"classes with fewer members than n_splits={n_splits} (label, count): {small}; "
            "some test folds will lack them",
            stacklevel=2,
        )
    everything = torch.arange(n)
    return [(everything[fold_of != f], everything[fold_of == f]) for f in range(n_splits)]
