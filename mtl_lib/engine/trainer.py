"""The training loop: one step combines the four ingredients of a method.

    model(x) → per-task losses L (K,) → loss weighting → terms (K,)
      ├─ nothing needs per-task gradients:  Σ terms .backward()          (plain training cost)
      └─ otherwise: one batched backward → Jacobian J (K×P) of the shared parameters
                    → aggregator(J) → direction d (+ per-task rows for task-aware optimizers)
    → optimizer.step()

Task-specific parameters always receive their own task's gradient only; aggregators see the
shared parameters only.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from tqdm import tqdm

from mtl_lib.aggregators import AGGREGATORS, Aggregation, Aggregator, GramianWeightedAggregator
from mtl_lib.core.jacobian import flatten_rows, per_task_rows, task_jacobians, unflatten_into_grads
from mtl_lib.core.model import MultiTaskModel, parameter_names
from mtl_lib.core.runtime import accepts_argument, resolve_device
from mtl_lib.core.tasks import Task
from mtl_lib.optim import build_optimizer, consumes_task_gradients
from mtl_lib.weighting import WEIGHTINGS, LossWeighting

Batch = Sequence[torch.Tensor]


class Trainer:
    """Train a :class:`MultiTaskModel` with any loss weighting, aggregator and optimizer.

    Ingredients are given by registered name (``weighting="ew"``, ``aggregator="pcgrad"``,
    ``optimizer="rmsprop"``) or as objects. ``aggregator=None`` means no gradient surgery: the
    engine then never computes per-task gradients unless the weighting or the optimizer asks
    for them, so EW + Adam costs what plain training costs.

    ``jacobian_of="representation"`` runs a Gramian-weighted aggregator (MGDA, IMTL-G, ...) on
    the gradients with respect to the shared representation z = model.encode(x) instead of the
    shared parameters, and back-propagates Σ_k w_k L_k once (MGDA-UB's cheaper "upper bound").

    ``batched_jacobian=False`` computes the Jacobian with K backward passes instead of one
    vmapped pass (same numbers; on CPU, convolutions' batched backward can be the slower one —
    ``benchmarks/step_cost.py`` measures both).

    Batches are sequences ``(x, target_1, ..., target_K)``.
    """

    def __init__(
        self,
        model: MultiTaskModel,
        tasks: Sequence[Task],
        *,
        weighting: str | LossWeighting = "ew",
        aggregator: str | Aggregator | None = None,
        optimizer: Any = "adam",
        lr: float | None = None,
        weighting_kwargs: Mapping[str, Any] | None = None,
        aggregator_kwargs: Mapping[str, Any] | None = None,
        optimizer_kwargs: Mapping[str, Any] | None = None,
        device: str | torch.device = "auto",
        callbacks: Sequence[Any] = (),
        progress: bool = True,
        jacobian_of: str = "parameters",
        batched_jacobian: bool = True,
    ) -> None:
        if len(tasks) != model.num_tasks:
            raise ValueError(f"{len(tasks)} tasks given for a model with {model.num_tasks} outputs")
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.model.check_parameter_partition()
        self.tasks = list(tasks)
        weighting_kwargs = dict(weighting_kwargs or {})
        if isinstance(weighting, str) and accepts_argument(WEIGHTINGS.get(weighting), "num_tasks"):
            # so that learnable per-task weights exist before the optimizer is built
            weighting_kwargs.setdefault("num_tasks", model.num_tasks)
        self.weighting = WEIGHTINGS.build(weighting, **weighting_kwargs).to(self.device)
        self.aggregator = (
            None if aggregator is None else AGGREGATORS.build(aggregator, **dict(aggregator_kwargs or {}))
        )
        optimizer_kwargs = dict(optimizer_kwargs or {})
        if lr is not None:
            optimizer_kwargs["lr"] = lr
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        trainable += [p for p in self.weighting.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(optimizer, trainable, **optimizer_kwargs)
        if hasattr(self.optimizer, "bind_model"):
            # task-aware optimizers must know which parameters are shared before the first step
            self.optimizer.bind_model(self.model)

        self.shared_params = self.model.shared_parameters()
        self.task_params = [self.model.task_parameters(k) for k in range(self.model.num_tasks)]
        if self.aggregator is not None:
            if self.aggregator.acts_on_all_parameters:
                everything = self.shared_params + [p for group in self.task_params for p in group]
                self.aggregator.bind_all_parameters(
                    parameter_names(self.model, everything),
                    [p.numel() for p in everything],
                    [True] * len(self.shared_params) + [False] * (len(everything) - len(self.shared_params)),
                )
            else:
                self.aggregator.bind_shared_parameters(
                    parameter_names(self.model, self.shared_params), [p.numel() for p in self.shared_params]
                )
        self.weighting_params = [p for p in self.weighting.parameters() if p.requires_grad]
        self.needs_task_gradients = (
            self.aggregator is not None
            or consumes_task_gradients(self.optimizer)
            or self.weighting.needs_task_gradients
        )
        if jacobian_of not in ("parameters", "representation"):
            raise ValueError(f"jacobian_of must be 'parameters' or 'representation', got {jacobian_of!r}")
        self.jacobian_of = jacobian_of
        self.batched_jacobian = batched_jacobian
        if jacobian_of == "representation":
            if not isinstance(self.aggregator, GramianWeightedAggregator):
                raise ValueError(
                    "jacobian_of='representation' needs an aggregator whose weights depend on the "
                    f"Gram matrix only (GramianWeightedAggregator), got {self.aggregator!r}"
                )
            if not (hasattr(self.model, "encode") and hasattr(self.model, "decode")):
                raise ValueError(f"{type(self.model).__name__} has no encode/decode split")
            if consumes_task_gradients(self.optimizer):
                raise ValueError("a task-aware optimizer needs parameter-level task gradients")
        self.callbacks = list(callbacks)
        self.progress = progress
        self.step_count = 0
        self.epoch = 0
        self.phase: str | None = None
        self.history: list[dict[str, Any]] = []
        #: The last step's aggregation (direction and, when exposed, per-task gradients), for
        #: diagnostics callbacks; ``None`` on the plain path.
        self.last_aggregation: Aggregation | None = None
        self.last_jacobian: torch.Tensor | None = None

    # ----------------------------------------------------------------- one step
    def compute_losses(self, batch: Batch, features: list | None = None) -> torch.Tensor:
        """Per-task losses ``(K,)``. If ``features`` is a list, the shared representation is
        appended to it (representation-level methods differentiate with respect to it)."""
        x, *targets = (t.to(self.device, non_blocking=True) for t in batch)
        if len(targets) != len(self.tasks):
            raise ValueError(f"batch has {len(targets)} targets for {len(self.tasks)} tasks")
        if features is None:
            predictions = self.model(x)
        else:
            features.append(self.model.encode(x))
            predictions = self.model.decode(features[-1])
        return torch.stack(
            [task.loss(pred, target) for task, pred, target in zip(self.tasks, predictions, targets)]
        )

    def train_step(self, batch: Batch) -> torch.Tensor:
        """One optimisation step; returns the detached per-task (unweighted) losses."""
        features: list | None = [] if self.jacobian_of == "representation" else None
        losses = self.compute_losses(batch, features)
        terms = self.weighting(losses)
        self.optimizer.zero_grad(set_to_none=True)
        if features:
            self._backward_through_representation(terms, features[0])
        elif self.needs_task_gradients:
            self._backward_through_jacobian(terms)
        else:
            terms.sum().backward()
        self.optimizer.step()
        self.step_count += 1
        return losses.detach()

    def _backward_through_representation(self, terms: torch.Tensor, features: torch.Tensor) -> None:
        (per_sample,) = task_jacobians(terms, [features], retain_graph=True, batched=self.batched_jacobian)
        jacobian = per_sample.reshape(per_sample.shape[0], -1)
        self.last_jacobian = jacobian
        weights = self.aggregator.weights_from_gram(jacobian @ jacobian.T).detach()  # type: ignore[union-attr]
        self.last_aggregation = Aggregation(direction=weights @ jacobian)
        (weights @ terms).backward()

    def _backward_through_jacobian(self, terms: torch.Tensor) -> None:
        task_flat = [p for params in self.task_params for p in params]
        all_params = self.shared_params + task_flat + self.weighting_params
        grads = task_jacobians(terms, all_params, batched=self.batched_jacobian)
        n_shared = len(self.shared_params)
        if self.aggregator is not None and self.aggregator.acts_on_all_parameters:
            self._apply_whole_model_aggregation(grads, all_params, n_shared + len(task_flat))
            return
        jacobian = flatten_rows(grads[:n_shared])
        self.last_jacobian = jacobian
        if self.weighting.needs_task_gradients:
            self.weighting.observe_task_gradients(jacobian)  # type: ignore[attr-defined]

        if self.aggregator is None:
            aggregation = Aggregation(direction=jacobian.sum(0), task_gradients=jacobian)
        else:
            aggregation = self.aggregator(jacobian)
        self.last_aggregation = aggregation

        if consumes_task_gradients(self.optimizer):
            rows = per_task_rows(aggregation, jacobian)
            if rows is None:
                raise ValueError(
                    f"{self.aggregator!r} yields only a combined direction, but optimizer "
                    f"{type(self.optimizer).__name__} needs per-task gradients; use an aggregator "
                    "that exposes them (e.g. 'pcgrad') or task weights (e.g. 'mgda'), or a plain "
                    "torch optimizer"
                )
            self.optimizer.set_task_gradients(rows)  # type: ignore[attr-defined]
        unflatten_into_grads(aggregation.direction, self.shared_params)

        # Row k only: a task's own parameters never see another task's gradient.
        offset = n_shared
        for k, params in enumerate(self.task_params):
            for param, grad in zip(params, grads[offset : offset + len(params)]):
                param.grad = grad[k]
            offset += len(params)
        for param, grad in zip(self.weighting_params, grads[offset:]):
            param.grad = grad.sum(0)

    def _apply_whole_model_aggregation(
        self, grads: list[torch.Tensor], all_params: list[torch.nn.Parameter], n_model: int
    ) -> None:
        jacobian = flatten_rows(grads[:n_model])
        self.last_jacobian = jacobian
        aggregation = self.aggregator(jacobian)  # type: ignore[misc]
        self.last_aggregation = aggregation
        if consumes_task_gradients(self.optimizer):
            raise ValueError(f"{self.aggregator!r} acts on all parameters; it cannot feed a task-aware optimizer")
        unflatten_into_grads(aggregation.direction, all_params[:n_model])
        for param, grad in zip(all_params[n_model:], grads[n_model:]):
            param.grad = grad.sum(0)

    # ----------------------------------------------------------------- loops
    def _hook(self, name: str, *args: Any) -> None:
        for obj in (self.model, self.weighting, self.aggregator, self.optimizer, *self.callbacks):
            method = getattr(obj, name, None)
            if callable(method):
                method(self, *args)

    def fit(
        self,
        train_data: Iterable[Batch],
        epochs: int | None = None,
        eval_data: Iterable[Batch] | None = None,
        phases: Sequence[tuple[str, int]] | None = None,
    ) -> list[dict[str, Any]]:
        """Train for ``epochs`` (or through the named ``phases``, each a number of epochs);
        evaluate on ``eval_data`` after every epoch. Returns (and extends) ``self.history``."""
        if phases is None:
            if epochs is None:
                raise ValueError("give either epochs or phases")
            phases = [("train", epochs)]
        elif epochs is not None and epochs != sum(n for _, n in phases):
            raise ValueError(f"epochs={epochs} disagrees with phases {list(phases)}")
        total = sum(n for _, n in phases)
        self._hook("on_train_start")
        bar = tqdm(total=total, desc="epochs", disable=not self.progress, leave=False)
        try:
            for phase, n_epochs in phases:
                self.phase = phase
                self._hook("on_phase_start", phase)
                for _ in range(n_epochs):
                    record = self._run_epoch(train_data, eval_data)
                    bar.update(1)
                    bar.set_postfix(
                        {k.split("/", 1)[1]: f"{v:.3g}" for k, v in record.items() if k.startswith("train_loss/")}
                    )
        finally:
            bar.close()
        self._hook("on_train_end")
        return self.history

    def _run_epoch(self, train_data: Iterable[Batch], eval_data: Iterable[Batch] | None) -> dict[str, Any]:
        self.epoch += 1
        self._hook("on_epoch_start", self.epoch)
        self.model.train()
        started = time.perf_counter()
        loss_sum = torch.zeros(len(self.tasks), device=self.device)
        n_batches = 0
        for batch in train_data:
            losses = self.train_step(batch)
            loss_sum += losses  # stays on the device: no host sync per step
            n_batches += 1
            self._hook("on_step_end", self.step_count, losses)
        if n_batches == 0:
            raise ValueError("train_data yielded no batches")
        mean_losses = (loss_sum / n_batches).tolist()
        record: dict[str, Any] = {"epoch": self.epoch, "phase": self.phase, "steps": self.step_count}
        record.update({f"train_loss/{t.name}": v for t, v in zip(self.tasks, mean_losses)})
        record["train_time_s"] = time.perf_counter() - started
        if eval_data is not None:
            record.update(self.evaluate(eval_data))
        self.history.append(record)
        self._hook("on_epoch_end", self.epoch, record)
        return record

    @torch.no_grad()
    def evaluate(self, eval_data: Iterable[Batch]) -> dict[str, float]:
        """Every task's metrics over the whole of ``eval_data``, as ``{"task/metric": value}``."""
        was_training = self.model.training
        self.model.eval()
        predictions: list[list[torch.Tensor]] = [[] for _ in self.tasks]
        targets: list[list[torch.Tensor]] = [[] for _ in self.tasks]
        for batch in eval_data:
            x, *batch_targets = (t.to(self.device, non_blocking=True) for t in batch)
            for k, pred in enumerate(self.model(x)):
                predictions[k].append(pred)
                targets[k].append(batch_targets[k])
        self.model.train(was_training)
        results: dict[str, float] = {}
        for k, task in enumerate(self.tasks):
            pred, target = torch.cat(predictions[k]), torch.cat(targets[k])
            results[f"{task.name}/loss"] = float(task.loss(pred, target))
            for metric_name, metric in task.metrics.items():
                results[f"{task.name}/{metric_name}"] = float(metric(pred, target))
        return results
