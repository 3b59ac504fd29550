"""A small SegNet-like encoder–decoder with hard sharing, for dense prediction (CityScapes).

MTAN (Liu, Johns & Davison, CVPR 2019), CAGrad and AdaTask train a SegNet (Badrinarayanan et
al., 2017: VGG-16-like encoder of five stages, mirrored decoder, 64 → 512 channels, about 25 M
parameters) with hard sharing ("split" baseline): the whole encoder–decoder is shared and each
task has a small head (3×3 conv + 1×1 conv to the task's channels). This module keeps that
shape at CPU scale:

    encoder: 3 stages, stage s = 2 × (conv3×3-BN-ReLU) with c_s = width·2^s channels, then a
             2×2 max-pool (so H and W must be multiples of 8);
    bottleneck: 2 × (conv3×3-BN-ReLU) at 4·width channels;
    decoder: 3 stages, each a ×2 max-unpooling with the indices of the matching pool
             (SegNet's decoder), optionally (``skip=True``) concatenated with the encoder
             stage's output at that resolution (U-Net-style skips, not in SegNet), then
             2 × (conv3×3-BN-ReLU) to c_{s-1} channels (the last stage to ``width``);
    shared output: ``width`` feature channels at input resolution;
    heads: conv3×3-BN-ReLU at ``width`` channels + conv1×1 to 7 segmentation logits / 1 depth.

The shared representation z = ``model.encode(x)`` is the decoder's output, as in MTAN's split
baseline, so representation-level methods (MGDA-UB) see a (width, H, W) map per sample.

Max-pooling, max-unpooling and batch norm all batch under the engine's vmapped backward
(``is_grads_batched=True``), so the Jacobian needs one backward pass (checked in the tests).

Parameter counts (7 segmentation logits + 1 depth channel; :func:`parameter_counts`):

    width  skip   shared      segmentation head  depth head  total
    8      no        46,776          655            601         48,032
    16     no       185,712        2,455          2,353        190,520   (default)
    16     yes      211,056        2,455          2,353        215,864
    32     no       740,064        9,511          9,313        758,888
    64     no     2,954,688       37,447         37,057      3,029,192   (MTAN's base width)

Even at width 64 this is ~7× smaller than MTAN's SegNet (five stages, up to 512 channels), so
the absolute numbers of the papers are not expected; what is compared is methods on one model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from mtl_lib.architectures.base import ARCHITECTURES, HardSharing


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(*_conv_bn_relu(c_in, c_out), *_conv_bn_relu(c_out, c_out))


class SegNetTrunk(nn.Module):
    """The shared encoder–decoder: ``(N, in_channels, H, W) → (N, width, H, W)``."""

    def __init__(self, width: int = 16, in_channels: int = 3, depth: int = 3, skip: bool = False) -> None:
        super().__init__()
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be positive, got {width}, {depth}")
        self.depth = depth
        self.skip = skip
        channels = [width * 2**s for s in range(depth)]
        self.down = nn.ModuleList(
            _double_conv(c_in, c_out) for c_in, c_out in zip([in_channels, *channels[:-1]], channels)
        )
        self.bottleneck = _double_conv(channels[-1], channels[-1])
        self.up = nn.ModuleList()
        for s in reversed(range(depth)):
            c_below = channels[s]  # channels arriving from the coarser level
            c_in = c_below + (channels[s] if skip else 0)
            c_out = channels[s - 1] if s > 0 else width
            self.up.append(_double_conv(c_in, c_out))
        self.out_channels = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2**self.depth
        if x.shape[-2] % factor or x.shape[-1] % factor:
            raise ValueError(f"input size {tuple(x.shape[-2:])} must be a multiple of {factor}")
        skips = []
        indices = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x, index = F.max_pool2d(x, 2, return_indices=True)
            indices.append(index)
        x = self.bottleneck(x)
        for block, skip, index in zip(self.up, reversed(skips), reversed(indices)):
            x = F.max_unpool2d(x, index, 2, output_size=skip.shape[-2:])
            if self.skip:
                x = torch.cat([x, skip], 1)
            x = block(x)
        return x


def dense_head(width: int, out_channels: int) -> nn.Sequential:
    """MTAN's task head shape: conv3×3 (+BN, ReLU) then a 1×1 projection to the task output."""
    return nn.Sequential(*_conv_bn_relu(width, width), nn.Conv2d(width, out_channels, 1))


@ARCHITECTURES.register("dense_segnet")
def dense_segnet(
    width: int = 16,
    out_channels: Sequence[int] = (7, 1),
    task_names: Sequence[str] = ("segmentation", "depth"),
    in_channels: int = 3,
    depth: int = 3,
    skip: bool = False,
) -> HardSharing:
    """Hard-sharing SegNet-like model for dense tasks: shared :class:`SegNetTrunk` (``depth``
    down/up stages, base ``width``) and one :func:`dense_head` per task (``out_channels[k]``
    maps, e.g. 7 segmentation logits and 1 depth channel). See the module docstring for sizes.
    """
    if len(out_channels) != len(task_names):
        raise ValueError(f"{len(out_channels)} output sizes for {len(task_names)} task names")
    trunk = SegNetTrunk(width, in_channels, depth, skip)
    heads = [dense_head(width, c) for c in out_channels]
    return HardSharing(trunk, heads, task_names)


def parameter_counts(model: HardSharing) -> dict[str, int]:
    """``{"shared": ..., <task name>: ..., "total": ...}`` (trainable parameters)."""
    counts = {"shared": sum(p.numel() for p in model.shared_parameters())}
    for k, name in enumerate(model.task_names):
        counts[name] = sum(p.numel() for p in model.task_parameters(k))
    counts["total"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return counts
