"""LaSS mask search (Lin et al., ACL 2021, "Learning Language Specific Sub-network for
Multilingual Machine Translation"), as the leaf-combination study applies it.

Training has two phases. After the *pre-mask* phase (the first half of the epochs in the study)
the jointly trained weights θ₀ are, for each task t,
  1. fine-tuned on task t alone → θ_t,
  2. pruned: in every maskable layer the fraction α (0.5 in the study) of entries of θ_t with the
     smallest magnitude is removed,
  3. turned into the binary mask M_t (1 = kept).
The *post-mask* phase then trains the original θ₀ with task t's forward pass using θ ⊙ M_t.

Choices the study leaves open: pruning is per layer (each masked matrix keeps exactly
(1 − α) of its entries, ties broken by position); fine-tuning runs ``finetune_epochs`` (default
1) epochs of Adam at the training learning rate on a copy of the model; the masks are found once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from mtl_lib.architectures.leaf_cnn import LeafCNN
from mtl_lib.core.hooks import Callback
from mtl_lib.core.tasks import Task


def magnitude_mask(weight: torch.Tensor, alpha: float) -> torch.Tensor:
    """Boolean mask keeping all but the ``round(alpha · numel)`` smallest-magnitude entries."""
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    n_pruned = round(alpha * weight.numel())
    mask = torch.ones(weight.numel(), dtype=torch.bool, device=weight.device)
    if n_pruned:
        # stable sort → ties are pruned in index order, so the sparsity is exact
        order = torch.sort(weight.detach().abs().flatten(), stable=True).indices
        mask[order[:n_pruned]] = False
    return mask.view_as(weight)


def search_masks(
    model: LeafCNN,
    tasks: Sequence[Task],
    train_data: Iterable[Sequence[torch.Tensor]],
    *,
    alpha: float = 0.5,
    finetune_epochs: int = 1,
    lr: float = 5e-4,
    device: torch.device | None = None,
    optimizer_factory: Callable[..., torch.optim.Optimizer] = torch.optim.Adam,
) -> list[torch.Tensor]:
    """One mask tensor (T, out, in) per masked layer of ``model`` (which is left unchanged)."""
    layers = model.masked_layers()
    if not layers:
        raise ValueError("the model has no maskable layers (build it with lass=True)")
    per_task: list[list[torch.Tensor]] = []
    for t, task in enumerate(tasks):
        clone = copy.deepcopy(model)
        clone.train()
        optimizer = optimizer_factory([p for p in clone.parameters() if p.requires_grad], lr=lr)
        for _ in range(finetune_epochs):
            for batch in train_data:
                x, *targets = (b.to(device) if device is not None else b for b in batch)
                optimizer.zero_grad(set_to_none=True)
                task.loss(clone.forward_task(x, t), targets[t]).backward()
                optimizer.step()
        per_task.append([magnitude_mask(layer.weight, alpha) for layer in clone.masked_layers()])
    return [torch.stack([per_task[t][i] for t in range(len(tasks))]) for i in range(len(layers))]


class LaSSSchedule(Callback):
    """At the start of the ``post_mask`` phase, search the masks and switch them on."""

    def __init__(
        self,
        train_data: Iterable[Sequence[torch.Tensor]],
        *,
        alpha: float = 0.5,
        finetune_epochs: int = 1,
        lr: float = 5e-4,
        phase: str = "post_mask",
    ) -> None:
        self.train_data = train_data
        self.alpha = alpha
        self.finetune_epochs = finetune_epochs
        self.lr = lr
        self.phase = phase
        self.masks: list[torch.Tensor] | None = None

    def on_phase_start(self, trainer: Any, phase: str) -> None:
        if phase != self.phase:
            return
        model = trainer.model
        self.masks = search_masks(
            model,
            trainer.tasks,
            self.train_data,
            alpha=self.alpha,
            finetune_epochs=self.finetune_epochs,
            lr=self.lr,
            device=trainer.device,
        )
        for layer, masks in zip(model.masked_layers(), self.masks):
            layer.set_masks(masks)


def lass_phases(epochs: int) -> list[tuple[str, int]]:
    """The study's split: first half pre-mask, second half post-mask."""
    if epochs < 2:
        raise ValueError(f"LaSS needs at least 2 epochs (one per phase), got {epochs}")
    return [("pre_mask", epochs // 2), ("post_mask", epochs - epochs // 2)]
