"""Per-layer gradient-conflict statistics, and a callback that tracks them during training.

A task Jacobian J (K×P) of the shared parameters is split into column blocks, one per layer,
with the grouping GradVac uses (:func:`mtl_lib.aggregators.gradvac.parameter_blocks`:
``"layer"`` puts a module's weight and bias together; ``"parameter"`` one block per tensor;
``"whole"`` one block). In every block we report, for every task pair, the cosine between the
two tasks' gradients, PCGrad's magnitude similarity 2‖g_i‖‖g_j‖/(‖g_i‖²+‖g_j‖²) and whether the
pair conflicts (negative inner product), using the functions of :mod:`mtl_lib.diagnostics`.

The Jacobian the engine computes is that of the *weighted* per-task losses (after the loss
weighting): cosines and conflicts do not depend on positive task weights, magnitude similarity
does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from mtl_lib.core.hooks import Callback
from mtl_lib.core.jacobian import parameter_blocks
from mtl_lib.core.model import parameter_names
from mtl_lib.diagnostics.conflict import gradient_cosine, magnitude_similarity


@dataclass
class LayerConflicts:
    """Per-layer pairwise statistics; tensors have shape ``(L, K, K)``."""

    layers: list[str]
    cosine: torch.Tensor
    magnitude_similarity: torch.Tensor
    conflict: torch.Tensor

    def to_frame(self, task_names: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per layer and task pair i < j."""
        num_tasks = self.cosine.shape[1]
        names = list(task_names) if task_names is not None else [str(k) for k in range(num_tasks)]
        cosine, similarity, conflict = (t.cpu() for t in (self.cosine, self.magnitude_similarity, self.conflict))
        rows = [
            {
                "layer": layer,
                "task_i": names[i],
                "task_j": names[j],
                "cosine": float(cosine[b, i, j]),
                "magnitude_similarity": float(similarity[b, i, j]),
                "conflict": bool(conflict[b, i, j]),
            }
            for b, layer in enumerate(self.layers)
            for i in range(num_tasks)
            for j in range(i + 1, num_tasks)
        ]
        return pd.DataFrame(rows)


def layer_conflicts(
    jacobian: torch.Tensor, names: Sequence[str], sizes: Sequence[int], granularity: str = "layer"
) -> LayerConflicts:
    """Cosine, magnitude similarity and conflict for every task pair in every layer block.

    A task whose gradient is zero in a block has cosine 0 there (neither helps nor conflicts).
    """
    blocks = parameter_blocks(list(names), list(sizes), granularity)
    if blocks[-1][2] != jacobian.shape[1]:
        raise ValueError(f"blocks cover {blocks[-1][2]} columns, the Jacobian has {jacobian.shape[1]}")
    cosines, similarities, conflicts = [], [], []
    for _, start, end in blocks:
        block = jacobian[:, start:end]
        gram = block @ block.T
        cosines.append(gradient_cosine(block))
        similarities.append(magnitude_similarity(block))
        conflicts.append(gram < 0)
    return LayerConflicts(
        layers=[label for label, _, _ in blocks],
        cosine=torch.stack(cosines),
        magnitude_similarity=torch.stack(similarities),
        conflict=torch.stack(conflicts),
    )


class ConflictTracker(Callback):
    """Accumulates per-layer conflict frequency (and mean cosine and magnitude similarity) over
    training, from the Jacobian the engine computed for the step.

    Design: at ``on_step_end`` the tracker reads ``trainer.last_jacobian``. The tracker never
    computes a Jacobian itself (after the step the graph is gone, and a second forward would
    double the cost and see the updated parameters), so it needs a configuration in which the
    engine computes the parameter Jacobian: any aggregator (``aggregator="sum"`` gives exactly
    equal weighting), a task-aware optimizer, or a weighting that needs task gradients. On the
    plain path, or with ``jacobian_of="representation"`` (whose Jacobian is w.r.t. the
    representation, not the parameters), it raises a ``RuntimeError`` at the first step instead
    of silently recording nothing.

    ``every``: record one step in ``every`` (statistics are accumulated on the Jacobian's device;
    no host synchronisation per step).
    """

    def __init__(self, granularity: str = "layer", every: int = 1) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.granularity = granularity
        self.every = every
        self.names: list[str] | None = None
        self.sizes: list[int] | None = None
        self.layers: list[str] = []
        self.steps = 0
        self.conflict_counts: torch.Tensor | None = None
        self.cosine_sum: torch.Tensor | None = None
        self.similarity_sum: torch.Tensor | None = None
        self.task_names: list[str] | None = None

    def on_train_start(self, trainer: Any) -> None:
        self._bind(trainer)

    def _bind(self, trainer: Any) -> None:
        if self.names is not None:
            return
        self.names = parameter_names(trainer.model, trainer.shared_params)
        self.sizes = [p.numel() for p in trainer.shared_params]
        self.task_names = list(getattr(trainer.model, "task_names", [])) or None

    def on_step_end(self, trainer: Any, step: int, losses: Any) -> None:
        if step % self.every:
            return
        self._bind(trainer)
        jacobian = trainer.last_jacobian
        if jacobian is None or getattr(trainer, "jacobian_of", "parameters") != "parameters":
            raise RuntimeError(
                "ConflictTracker needs the engine's Jacobian of the shared parameters: train with an "
                "aggregator (aggregator='sum' is plain equal weighting) and jacobian_of='parameters'"
            )
        self.update(jacobian.detach())

    def update(self, jacobian: torch.Tensor) -> None:
        """Add one step's Jacobian to the statistics."""
        assert self.names is not None and self.sizes is not None, "bind the tracker to a trainer first"
        stats = layer_conflicts(jacobian, self.names, self.sizes, self.granularity)
        if self.conflict_counts is None:
            self.layers = stats.layers
            self.conflict_counts = torch.zeros_like(stats.cosine)
            self.cosine_sum = torch.zeros_like(stats.cosine)
            self.similarity_sum = torch.zeros_like(stats.cosine)
        assert self.cosine_sum is not None and self.similarity_sum is not None
        self.conflict_counts += stats.conflict.to(self.conflict_counts.dtype)
        self.cosine_sum += stats.cosine
        self.similarity_sum += stats.magnitude_similarity
        self.steps += 1

    def frequency(self) -> torch.Tensor:
        """Share of recorded steps in which each pair conflicted in each layer, ``(L, K, K)``."""
        if self.conflict_counts is None:
            raise RuntimeError("no step recorded yet")
        return self.conflict_counts / self.steps

    def summary(self) -> pd.DataFrame:
        """One row per layer and task pair i < j: conflict frequency, mean cosine, mean
        magnitude similarity, over the recorded steps."""
        if self.conflict_counts is None or self.cosine_sum is None or self.similarity_sum is None:
            raise RuntimeError("no step recorded yet")
        frequency, cosine, similarity = (
            t.cpu() for t in (self.frequency(), self.cosine_sum / self.steps, self.similarity_sum / self.steps)
        )
        num_tasks = frequency.shape[1]
        names = self.task_names or [str(k) for k in range(num_tasks)]
        rows = [
            {
                "layer": layer,
                "task_i": names[i],
                "task_j": names[j],
                "conflict_frequency": float(frequency[b, i, j]),
                "mean_cosine": float(cosine[b, i, j]),
                "mean_magnitude_similarity": float(similarity[b, i, j]),
                "steps": self.steps,
            }
            for b, layer in enumerate(self.layers)
            for i in range(num_tasks)
            for j in range(i + 1, num_tasks)
        ]
        return pd.DataFrame(rows)

    def reset(self) -> None:
        self.steps = 0
        self.conflict_counts = self.cosine_sum = self.similarity_sum = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "layers": list(self.layers),
            "conflict_counts": self.conflict_counts,
            "cosine_sum": self.cosine_sum,
            "similarity_sum": self.similarity_sum,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = state["steps"]
        self.layers = list(state["layers"])
        self.conflict_counts = state["conflict_counts"]
        self.cosine_sum = state["cosine_sum"]
        self.similarity_sum = state["similarity_sum"]
