"""The in-memory leaf dataset: images plus species and health labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from mtl_lib.data.batches import TensorBatches
from mtl_lib.data.leaf.classes import HEALTH_NAMES, PLANT_FOLDERS, class_index
from mtl_lib.data.splits import stratified_kfold


@dataclass
class LeafData:
    """Leaf images and their two labels, Dataset-like (``len``, ``[i]`` → (image, species,
    health) with the image as float in [0, 1]).

    ``images`` are uint8 ``(N, 3, S, S)``; ``species`` (0..11) and ``health`` (0 healthy,
    1 diseased) are int64 ``(N,)``; ``paths`` are relative paths (real data) or synthetic
    names (stand-in); ``source`` says which of the two this is.
    """

    images: torch.Tensor
    species: torch.Tensor
    health: torch.Tensor
    paths: list[str]
    source: str
    species_names: tuple[str, ...] = PLANT_FOLDERS
    health_names: tuple[str, ...] = HEALTH_NAMES
    #: Files that could not be decoded and were skipped (``skip_corrupt=True``).
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.dim() != 4 or self.images.shape[1] != 3 or self.images.dtype != torch.uint8:
            raise ValueError(
                f"images must be uint8 (N, 3, S, S), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.species.shape != (n,) or self.health.shape != (n,) or len(self.paths) != n:
            raise ValueError(
                f"{n} images but {tuple(self.species.shape)} species, {tuple(self.health.shape)} "
                f"health labels and {len(self.paths)} paths"
            )

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.images[index].float() / 255, self.species[index], self.health[index]

    def __repr__(self) -> str:
        return (
            f"LeafData({len(self)} images {self.image_size}×{self.image_size}, "
            f"source={self.source!r})"
        )

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def classes(self) -> torch.Tensor:
        """The 22-way class of every image (``int(prefix) - 1``), used for stratification."""
        return class_index(self.species, self.health)

    def class_counts(self) -> dict[tuple[int, int], int]:
        """``{(species, health): count}`` over the classes present."""
        pairs = torch.stack([self.species, self.health], 1)
        uniq, counts = torch.unique(pairs, dim=0, return_counts=True)
        return {(int(s), int(h)): int(c) for (s, h), c in zip(uniq.tolist(), counts.tolist())}

    def subset(self, indices: torch.Tensor | Sequence[int]) -> LeafData:
        idx = torch.as_tensor(indices).long()
        return LeafData(
            self.images[idx], self.species[idx], self.health[idx],
            [self.paths[i] for i in idx.tolist()], self.source,
            self.species_names, self.health_names, list(self.skipped),
        )  # fmt: skip

    def stratified_kfold(
        self, n_splits: int = 5, seed: int = 0
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Folds stratified on the 22 (species, health) classes; see :func:`stratified_kfold`."""
        return stratified_kfold(self.classes, n_splits, seed)

    def tensors(self, indices: torch.Tensor | Sequence[int] | None = None,
                dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        """``(images as dtype in [0, 1], species, health)``, optionally for ``indices`` only."""
        idx = slice(None) if indices is None else torch.as_tensor(indices).long()
        return self.images[idx].to(dtype) / 255, self.species[idx], self.health[idx]

    def batches(self, indices: torch.Tensor | Sequence[int] | None = None, *, batch_size: int = 32,
                shuffle: bool = True, seed: int = 0) -> TensorBatches:  # fmt: skip
        """Mini-batches ``(x, species, health)`` for :class:`mtl_lib.engine.Trainer`."""
        return TensorBatches(
            *self.tensors(indices), batch_size=batch_size, shuffle=shuffle, seed=seed
        )
