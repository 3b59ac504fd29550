"""Is RMSProp's joint learning rate set by the dominant task? A probe of the joint and per-task
effective learning rates on a sample of shared parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from mtl_lib.core.jacobian import per_task_rows
from mtl_lib.core.model import parameter_names
from mtl_lib.diagnostics import Diagnostic
from mtl_lib.studies.adatask_rau.buckets import layer_of


class LearningRateProbe(Diagnostic):
    """Joint vs per-task effective learning rates of RMSProp on a seeded sample of shared
    parameters.

    For sampled element i: the joint rate η/(√G_i + ε) with G the optimizer's own
    ``square_avg`` (fed with the summed gradient), and for each task k the rate
    η/(√G^k_i + ε) with G^k ← α G^k + (1 − α)(g^k_i)², α, η and ε the optimizer's, fed with
    task k's gradient only along the same trajectory. ``joint_from_rows`` accumulates the sum of
    the task rows the same way; it equals ``square_avg`` when the rows are what the optimizer
    stepped with (a check, see the tests).

    ``per_layer`` elements are drawn uniformly (without replacement) from each layer (a module:
    weight and bias together) with a ``torch.Generator`` seeded by ``seed``. Needs torch's
    RMSprop without momentum and not centered, and the per-task rows of the shared gradient
    (``trainer.last_aggregation.task_gradients``; train equal weighting with ``aggregator="sum"``).
    """

    needs_task_gradients = True

    def __init__(self, per_layer: int = 64, seed: int = 0, record_every: int = 10) -> None:
        if per_layer < 1 or record_every < 1:
            raise ValueError(f"per_layer and record_every must be ≥ 1, got {per_layer}, {record_every}")
        self.per_layer = per_layer
        self.seed = seed
        self.record_every = record_every
        self.params: list[torch.Tensor] = []
        self.layers: list[str] = []
        self.task_names: list[str] = []
        self.index: torch.Tensor | None = None
        self.sample_layer: list[str] = []
        self.task_avg: torch.Tensor | None = None
        self.joint_from_rows: torch.Tensor | None = None
        self.steps = 0
        #: ``(step, joint (S,), per-task (K, S))`` learning rates, on the host.
        self.history: list[tuple[int, np.ndarray, np.ndarray]] = []

    def bind(self, model: Any, optimizer: torch.optim.Optimizer, task_names: Sequence[str]) -> None:
        if not isinstance(optimizer, torch.optim.RMSprop):
            raise TypeError(f"the learning-rate probe reads torch RMSprop's state, not {type(optimizer).__name__}")
        for group in optimizer.param_groups:
            if group["momentum"] or group["centered"]:
                raise NotImplementedError("the probe supports RMSprop without momentum and not centered")
        self.params = list(model.shared_parameters())
        tensor_names = parameter_names(model, self.params)
        positions: dict[str, list[torch.Tensor]] = {}
        offset = 0
        for name, p in zip(tensor_names, self.params):
            positions.setdefault(layer_of(name), []).append(torch.arange(offset, offset + p.numel()))
            offset += p.numel()
        generator = torch.Generator().manual_seed(self.seed)
        chosen, owners = [], []
        for layer, ranges in positions.items():
            pool = torch.cat(ranges)
            pick = pool[torch.randperm(pool.numel(), generator=generator)[: self.per_layer]].sort().values
            chosen.append(pick)
            owners += [layer] * pick.numel()
        device = self.params[0].device
        self.index = torch.cat(chosen).to(device)
        self.sample_layer = owners
        self.layers = list(positions)
        self.task_names = list(task_names)
        self.task_avg = None
        self.joint_from_rows = None
        self.steps = 0
        self.history = []

    def on_train_start(self, trainer: Any) -> None:
        self.bind(trainer.model, trainer.optimizer, [t.name for t in trainer.tasks])

    def _group(self, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        ids = {id(p) for p in self.params}
        groups = [g for g in optimizer.param_groups if any(id(p) in ids for p in g["params"])]
        if len({(g["lr"], g["alpha"], g["eps"]) for g in groups}) != 1:
            raise ValueError("the shared parameters must share one lr, alpha and eps")
        return groups[0]

    def joint_square_avg(self, optimizer: torch.optim.Optimizer) -> torch.Tensor:
        """RMSProp's own accumulator G at the sampled elements."""
        flat = torch.cat([optimizer.state[p]["square_avg"].reshape(-1) for p in self.params])
        return flat[self.index]

    def on_step_end(self, trainer: Any, step: int, losses: Any) -> None:
        rows = per_task_rows(trainer.last_aggregation, trainer.last_jacobian)
        if rows is None:
            raise RuntimeError("the learning-rate probe needs per-task gradients: train with aggregator='sum'")
        group = self._group(trainer.optimizer)
        alpha = group["alpha"]
        sample = rows.detach()[:, self.index]
        joint = sample.sum(0)
        if self.task_avg is None:
            self.task_avg = torch.zeros_like(sample)
            self.joint_from_rows = torch.zeros_like(joint)
        self.task_avg.mul_(alpha).addcmul_(sample, sample, value=1 - alpha)
        self.joint_from_rows.mul_(alpha).addcmul_(joint, joint, value=1 - alpha)  # type: ignore[union-attr]
        self.steps += 1
        if self.steps % self.record_every == 0:
            lr, eps = float(group["lr"]), group["eps"]
            joint_lr = lr / (self.joint_square_avg(trainer.optimizer).sqrt() + eps)
            task_lr = lr / (self.task_avg.sqrt() + eps)
            self.history.append((self.steps, joint_lr.cpu().numpy(), task_lr.cpu().numpy()))

    def summary(self) -> pd.DataFrame:
        """Quartiles over the sampled elements, per recorded step and layer (and ``"all"``), of
        the joint rate, each task's own rate and the ratios joint / task k: columns step, layer,
        quantity, q25, median, q75."""
        rows = []
        layers = np.array(self.sample_layer)
        for step, joint, per_task in self.history:
            quantities = {"joint": joint}
            for k, task in enumerate(self.task_names):
                quantities[f"{task} alone"] = per_task[k]
                quantities[f"joint / {task} alone"] = joint / per_task[k]
            for layer in ["all", *self.layers]:
                mask = np.ones_like(layers, dtype=bool) if layer == "all" else layers == layer
                for name, values in quantities.items():
                    q25, q50, q75 = np.quantile(values[mask], [0.25, 0.5, 0.75])
                    rows.append((step, layer, name, float(q25), float(q50), float(q75)))
        return pd.DataFrame(rows, columns=["step", "layer", "quantity", "q25", "median", "q75"])

    def results(self, trainer: Any, eval_data: Any = None) -> dict[str, Any]:
        """The record's ``lr_probe``: :meth:`summary` as columns."""
        return {"lr_probe": self.summary().to_dict(orient="list")}


__all__ = [
    "LearningRateProbe",
]
