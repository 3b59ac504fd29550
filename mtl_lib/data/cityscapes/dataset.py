"""CityScapes' 7 classes and conventions, and the in-memory containers for dense splits."""

from __future__ import annotations

from dataclasses import dataclass

import torch

CITYSCAPES_CLASSES: tuple[str, ...] = (
    "flat",
    "construction",
    "object",
    "nature",
    "sky",
    "human",
    "vehicle",
)
NUM_CLASSES = len(CITYSCAPES_CLASSES)
IGNORE_INDEX = -1
REAL_SOURCE = "CityScapes (MTAN preprocessing)"
STANDIN_SOURCE = "stand-in (generated)"


@dataclass
class DenseSplit:
    """One split in memory: ``images (N, 3, H, W)`` float32, ``seg (N, H, W)`` int64 with
    ``-1`` = ignored, ``depth (N, 1, H, W)`` float32 with ``0`` = no ground truth."""

    images: torch.Tensor
    seg: torch.Tensor
    depth: torch.Tensor
    source: str

    def __post_init__(self) -> None:
        n, _, h, w = self.images.shape
        if self.seg.shape != (n, h, w) or self.depth.shape != (n, 1, h, w):
            raise ValueError(
                f"inconsistent shapes: images {tuple(self.images.shape)}, seg "
                f"{tuple(self.seg.shape)}, depth {tuple(self.depth.shape)}"
            )

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.images.shape[-2:])  # type: ignore[return-value]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(images, seg, depth)`` in the order the dense problem's batches use."""
        return self.images, self.seg, self.depth


@dataclass
class CityscapesData:
    """Train and validation splits plus where they come from (:data:`REAL_SOURCE` or
    :data:`STANDIN_SOURCE`)."""

    train: DenseSplit
    val: DenseSplit
    source: str
    class_names: tuple[str, ...] = CITYSCAPES_CLASSES
