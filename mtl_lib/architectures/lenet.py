"""A LeNet-style hard-sharing network for small multi-digit images.

The shape follows the LeNet used for MultiMNIST by Sener & Koltun (2018): two convolutions
with max-pooling, one shared fully connected layer of 50 units, and a small head per task (here
one hidden layer of 50 units, then the classes). Ours differs in two places, both for the small
inputs and CPU budget of :mod:`mtl_lib.data.multidigits`: kernels are 3×3 with padding 1
instead of 5×5 (the canvases are 12×12, not 28×28; two 2× poolings take 12×12 to 3×3), and the
default widths are 8 and 16 channels instead of 10 and 20 (about 30 % less time per step on
a CPU; pass ``channels=(10, 20)`` for theirs).

``encode`` gives the shared representation (50 features), ``decode`` applies the heads, so
representation-level methods (RotoGrad, MGDA-UB) apply.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from mtl_lib.architectures.base import ARCHITECTURES, HardSharing


@ARCHITECTURES.register("lenet")
def lenet(
    num_classes: Sequence[int] = (10, 10),
    task_names: Sequence[str] = ("left", "right"),
    image_size: int = 12,
    in_channels: int = 1,
    channels: Sequence[int] = (8, 16),
    hidden: int = 50,
    head_hidden: int = 50,
) -> HardSharing:
    """Shared: conv(3×3)-ReLU-pool per entry of ``channels``, flatten, linear to ``hidden``,
    ReLU. Heads: linear(hidden → head_hidden)-ReLU-linear(→ classes); ``head_hidden=0`` makes
    each head one linear layer."""
    if len(num_classes) != len(task_names):
        raise ValueError(f"{len(num_classes)} class counts for {len(task_names)} task names")
    spatial = image_size // 2 ** len(channels)
    if spatial < 1:
        raise ValueError(f"image_size {image_size} is too small for {len(channels)} poolings")
    layers: list[nn.Module] = []
    for c_in, c_out in zip([in_channels, *channels[:-1]], channels):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
    encoder = nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels[-1] * spatial * spatial, hidden), nn.ReLU())

    def head(n: int) -> nn.Module:
        if head_hidden <= 0:
            return nn.Linear(hidden, n)
        return nn.Sequential(nn.Linear(hidden, head_hidden), nn.ReLU(), nn.Linear(head_hidden, n))

    return HardSharing(encoder, [head(n) for n in num_classes], list(task_names))
