"""The leaf-combination study's network: a small CNN with two optional add-ons.

The study's baseline (its Fig. 5) is not given in text, so this is our design, documented here:

    4 × [conv 3×3 → batch norm (+ Modulation Module) → ReLU → max-pool 2]   channels 32, 64, 128, 128
    flatten → FC 256 → ReLU → FC 128 → ReLU                    (shared; LaSS masks live here)
    one linear head per task (12 species, 2 health classes)

* **Modulation Module** (Zhao et al., ECCV 2018): after every convolution (taken together with
  its batch normalisation), task t's output is scaled channel-wise by its own vector
  W_t ∈ R^C (initialised to 1). The T vectors are separate parameters, so each is
  task-specific and receives only its task's gradient. The scaling comes *after* the batch
  normalisation on purpose: a BN placed after it would normalise the per-channel scale away.
  Inputs are centred (x − 0.5) inside the network, so images in [0, 1] can be fed as they are.
* **LaSS** (Lin et al., ACL 2021): every shared fully connected layer carries one binary mask per
  task; once masks are set (see :mod:`mtl_lib.architectures.lass`), task t's forward pass uses
  θ ⊙ M_t, so the weights outside M_t neither act for task t nor receive its gradient. Following
  the study (and LaSS's authors), convolutions and heads are not masked.

When neither add-on is active the trunk runs once per batch (plain hard sharing); otherwise once
per task, since its output depends on the task.

Encode/decode split (for ``Trainer(..., jacobian_of="representation")``, MGDA-UB style): without
add-ons z = ``encode(x)`` is the trunk's 128-dimensional output and ``decode(z)`` applies the
heads. With Modulation Modules or active LaSS masks the trunk is task-conditioned — there is one
representation per task, not a shared one — so the representation-level path is undefined and
:meth:`LeafCNN.check_shared_representation` (called by the trainer) raises.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mtl_lib.architectures.base import ARCHITECTURES, MultiTaskModel


class TaskModulation(nn.Module):
    """Channel-wise, per-task scaling of a (N, C, H, W) feature map."""

    def __init__(self, channels: int, num_tasks: int) -> None:
        super().__init__()
        self.scales = nn.ParameterList([nn.Parameter(torch.ones(channels)) for _ in range(num_tasks)])

    def forward(self, x: torch.Tensor, task: int) -> torch.Tensor:
        return x * self.scales[task].view(1, -1, 1, 1)


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by task t's binary mask once masks are set."""

    def __init__(self, in_features: int, out_features: int, num_tasks: int) -> None:
        super().__init__(in_features, out_features)
        self.register_buffer("masks", torch.ones(num_tasks, out_features, in_features, dtype=torch.bool))
        self.masks_active = False

    def set_masks(self, masks: torch.Tensor) -> None:
        if masks.shape != self.masks.shape:
            raise ValueError(f"masks of shape {tuple(masks.shape)} for a layer expecting {tuple(self.masks.shape)}")
        self.masks.copy_(masks.to(torch.bool))
        self.masks_active = True

    def forward(self, x: torch.Tensor, task: int | None = None) -> torch.Tensor:  # type: ignore[override]
        if not self.masks_active:
            return super().forward(x)
        if task is None:
            raise ValueError("a masked layer needs the task index")
        return nn.functional.linear(x, self.weight * self.masks[task], self.bias)


class LeafCNN(MultiTaskModel):
    """See the module docstring. ``modulation`` adds Modulation Modules; ``lass`` makes the shared
    fully connected layers maskable (masks are inactive until set)."""

    def __init__(
        self,
        num_classes: Sequence[int] = (12, 2),
        task_names: Sequence[str] = ("species", "health"),
        modulation: bool = False,
        lass: bool = False,
        channels: Sequence[int] = (32, 64, 128, 128),
        fc: Sequence[int] = (256, 128),
        image_size: int = 64,
    ) -> None:
        super().__init__()
        if len(num_classes) != len(task_names):
            raise ValueError(f"{len(num_classes)} class counts for {len(task_names)} tasks")
        self.task_names = list(task_names)
        num_tasks = len(task_names)
        self.convs = nn.ModuleList(
            nn.Conv2d(c_in, c_out, 3, padding=1) for c_in, c_out in zip([3, *channels[:-1]], channels)
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(c) for c in channels)
        self.modulations = nn.ModuleList(TaskModulation(c, num_tasks) for c in channels) if modulation else None
        flat = channels[-1] * (image_size // 2 ** len(channels)) ** 2
        self.fcs = nn.ModuleList(
            MaskedLinear(f_in, f_out, num_tasks) if lass else nn.Linear(f_in, f_out)
            for f_in, f_out in zip([flat, *fc[:-1]], fc)
        )
        self.heads = nn.ModuleList(nn.Linear(fc[-1], n) for n in num_classes)
        self.lass = lass

    # -- structure -------------------------------------------------------------------------
    def masked_layers(self) -> list[MaskedLinear]:
        return [layer for layer in self.fcs if isinstance(layer, MaskedLinear)]

    def _task_dependent(self) -> bool:
        return self.modulations is not None or any(layer.masks_active for layer in self.masked_layers())

    def shared_parameters(self) -> list[nn.Parameter]:
        return [p for module in (self.convs, self.norms, self.fcs) for p in module.parameters() if p.requires_grad]

    def task_parameters(self, task: int) -> list[nn.Parameter]:
        own = list(self.heads[task].parameters())
        if self.modulations is not None:
            own += [m.scales[task] for m in self.modulations]
        return [p for p in own if p.requires_grad]

    # -- forward ---------------------------------------------------------------------------
    def trunk(self, x: torch.Tensor, task: int | None) -> torch.Tensor:
        x = x - 0.5
        for i, conv in enumerate(self.convs):
            x = self.norms[i](conv(x))
            if self.modulations is not None:
                x = self.modulations[i](x, task)  # type: ignore[arg-type]
            x = nn.functional.max_pool2d(torch.relu(x), 2)
        x = x.flatten(1)
        for layer in self.fcs:
            x = torch.relu(layer(x, task) if isinstance(layer, MaskedLinear) else layer(x))
        return x

    def check_shared_representation(self) -> None:
        """Raise a clear error when the trunk is task-conditioned (no single shared z)."""
        if self._task_dependent():
            which = "Modulation Modules" if self.modulations is not None else "active LaSS masks"
            raise ValueError(
                f"LeafCNN with {which} has a task-conditioned trunk: each task has its own "
                "representation, so jacobian_of='representation' is undefined; use "
                "jacobian_of='parameters' (or a LeafCNN without add-ons)"
            )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The shared representation z (the trunk's output); only without add-ons."""
        self.check_shared_representation()
        return self.trunk(x, None)

    def decode(self, features: torch.Tensor) -> list[torch.Tensor]:
        return [head(features) for head in self.heads]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not self._task_dependent():
            features = self.trunk(x, None)
            return [head(features) for head in self.heads]
        return [head(self.trunk(x, k)) for k, head in enumerate(self.heads)]

    def forward_task(self, x: torch.Tensor, task: int) -> torch.Tensor:
        """Task ``task``'s prediction alone (used by LaSS's per-task fine-tuning)."""
        return self.heads[task](self.trunk(x, task))


ARCHITECTURES.register("leaf_cnn")(LeafCNN)
