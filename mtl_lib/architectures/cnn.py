"""A small image CNN with hard sharing, used by the step-cost benchmark and image studies."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from mtl_lib.architectures.base import ARCHITECTURES, HardSharing


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2))


@ARCHITECTURES.register("small_cnn")
def small_cnn(
    num_classes: Sequence[int] = (12, 2),
    task_names: Sequence[str] = ("species", "health"),
    channels: Sequence[int] = (32, 64, 128, 128),
    hidden: int = 384,
    image_size: int = 64,
) -> HardSharing:
    """Conv blocks (conv-BN-ReLU-pool) + one shared fully connected layer + a linear head per
    task. With the defaults and 64×64 RGB input it has about 1.0 M parameters."""
    blocks = [conv_block(c_in, c_out) for c_in, c_out in zip([3, *channels[:-1]], channels)]
    spatial = image_size // 2 ** len(channels)
    encoder = nn.Sequential(*blocks, nn.Flatten(), nn.Linear(channels[-1] * spatial * spatial, hidden), nn.ReLU())
    heads = [nn.Linear(hidden, n) for n in num_classes]
    return HardSharing(encoder, heads, task_names)
