"""The training loop: one step combines the four ingredients of a method.

    model(x) → per-task losses L (K,) → loss weighting → terms (K,)
      ├─ nothing needs per-task gradients:  Σ terms .backward()          (plain training cost)
      └─ otherwise: one batched backward → Jacobian J (K×P) of the shared parameters
                    → aggregator(J) → direction d (+ per-task rows for task-aware optimizers)
    → optimizer.step()

Task-specific parameters always receive their own task's gradient only; aggregators see the
shared parameters only.

The pieces live beside this module: building and wiring the ingredients
(:mod:`~mtl_lib.engine.ingredients`), the Jacobian path and its probe
(:mod:`~mtl_lib.engine.jacobian_path`), the backward passes (:mod:`~mtl_lib.engine.backward`),
the non-finite checks (:mod:`~mtl_lib.engine.finite_checks`), evaluation
(:mod:`~mtl_lib.engine.evaluation`) and the history's records (:mod:`~mtl_lib.engine.history`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from tqdm import tqdm

from mtl_lib.aggregators import Aggregation, Aggregator
from mtl_lib.core.errors import NonFiniteError
from mtl_lib.core.gramian import LayerwiseGramian
from mtl_lib.core.model import MultiTaskModel
from mtl_lib.core.runtime import resolve_device
from mtl_lib.core.tasks import Task
from mtl_lib.engine.backward import backward_through_jacobian, backward_through_representation
from mtl_lib.engine.checkpoint import load_trainer_state, trainer_state
from mtl_lib.engine.evaluation import evaluate_tasks
from mtl_lib.engine.fast_paths import TaskSplit, backward_through_gramian, check_gramian_level
from mtl_lib.engine.finite_checks import NONFINITE_POLICIES, NonFiniteGuard, StepPosition, check_nonfinite_policy
from mtl_lib.engine.history import epoch_record, progress_summary, remaining_phases, schedule
from mtl_lib.engine.ingredients import (
    AUTOCAST,
    JACOBIAN_OF,
    bind_aggregator,
    build_aggregator,
    build_trainer_optimizer,
    build_weighting,
    check_choice,
    check_representation_level,
    parameter_layout,
    trainable_parameters,
)
from mtl_lib.engine.jacobian_path import JacobianPath, JacobianPathProbe, check_batched_jacobian, choose_jacobian_path
from mtl_lib.engine.validation import (
    check_device,
    check_first_batch,
    check_lr,
    check_model,
    check_schedule,
    check_tasks,
    loss_shape_error,
    outputs_error,
)
from mtl_lib.optim import consumes_task_gradients
from mtl_lib.weighting import LossWeighting

Batch = Sequence[torch.Tensor]

__all__ = ["NONFINITE_POLICIES", "Batch", "JacobianPathProbe", "Trainer", "choose_jacobian_path"]


class Trainer:
    """Train a :class:`MultiTaskModel` with any loss weighting, aggregator and optimizer.

    Ingredients are given by registered name (``weighting="ew"``, ``aggregator="pcgrad"``,
    ``optimizer="rmsprop"``) or as objects. ``aggregator=None`` means no gradient surgery: the
    engine then never computes per-task gradients unless the weighting or the optimizer asks
    for them, so EW + Adam costs what plain training costs.

    ``jacobian_of="representation"`` runs a Gramian-weighted aggregator (MGDA, IMTL-G, ...) on
    the gradients with respect to the shared representation z = model.encode(x) instead of the
    shared parameters, and back-propagates Σ_k w_k L_k once (MGDA-UB's cheaper "upper bound").
    ``jacobian_of="gramian"`` runs such an aggregator on the exact Gramian JJᵀ of the shared
    parameters, formed layer by layer without the K×P Jacobian (:mod:`mtl_lib.core.gramian`),
    and back-propagates the weighted sum once; same weights and direction as ``"parameters"``.

    ``batched_jacobian`` chooses how the task Jacobian is computed: ``True`` one vmapped
    backward (``is_grads_batched``), ``False`` K sequential ``autograd.grad`` calls (same
    numbers up to round-off), ``"auto"`` (default) by a documented rule, ``"probe"`` by timing
    both on the first real steps. The choice and its reason are in :attr:`jacobian_path`
    (saved in every run's record); see :func:`choose_jacobian_path` for the rule.

    ``autocast="bf16"`` runs the forward pass under bfloat16 autocast (CPU or CUDA); the
    per-task losses are cast back to float32, and so are gradients, optimizer state and
    parameters (autocast keeps them float32).

    Batches are sequences ``(x, target_1, ..., target_K)``.

    Non-finite values (``nonfinite``): every step checks, with one fused reduction and one host
    synchronisation, that the losses and every gradient (task rows, aggregated direction,
    task-specific and weighting parameters) are finite before the optimizer steps; the loss
    weighting and the aggregator check their own inputs too. ``"raise"`` (default) stops with
    :class:`~mtl_lib.core.errors.NonFiniteError` naming the epoch, batch, step and the task or
    parameter, and what to do. ``"skip"`` drops that batch's update instead (no optimizer step;
    nothing half-applied), counts it in :attr:`skipped_steps` and in the epoch record's
    ``skipped_steps``, and warns once per epoch with :class:`NonFiniteStepWarning`; skipped
    batches do not enter the epoch's mean losses. A parameter that is already non-finite (a step
    overflowed) cannot be undone by skipping, so it always raises; so does an epoch whose every
    batch was skipped, and a non-finite evaluation metric.
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
        batched_jacobian: bool | str = "auto",
        nonfinite: str = "raise",
        autocast: str | None = None,
    ) -> None:
        # Everything that would fail inside a step with a raw error is checked first
        # (engine/validation.py): the model's interface, the tasks, the device, the options.
        check_model(model)
        check_tasks(tasks, model)
        check_device(device)
        check_lr(lr)
        check_nonfinite_policy(nonfinite)
        check_choice("jacobian_of", jacobian_of, JACOBIAN_OF)
        check_batched_jacobian(batched_jacobian)
        check_choice("autocast", autocast, AUTOCAST)
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.model.check_parameter_partition()
        self.tasks = list(tasks)
        self.weighting = build_weighting(weighting, weighting_kwargs, model.num_tasks, self.device)
        self.aggregator = build_aggregator(aggregator, aggregator_kwargs)
        self._trainable = trainable_parameters(self.model, self.weighting)
        self.optimizer = build_trainer_optimizer(optimizer, self._trainable, lr, optimizer_kwargs, self.model)
        self.layout = parameter_layout(self.model, self.weighting)
        bind_aggregator(self.aggregator, self.model, self.layout)
        self.needs_task_gradients = (
            self.aggregator is not None
            or consumes_task_gradients(self.optimizer)
            or self.weighting.needs_task_gradients
        )
        self.jacobian_of = jacobian_of
        if jacobian_of == "representation":
            check_representation_level(self.aggregator, self.model, self.optimizer)
        self._jacobian = JacobianPath(
            self.model,
            self.device,
            batched_jacobian,
            needed=self.needs_task_gradients or jacobian_of == "representation",
        )
        self._split, self._gramian = self._fast_paths(jacobian_of)
        #: bf16 autocast of the forward pass (losses are computed and returned in float32).
        self.autocast = autocast
        self.callbacks = list(callbacks)
        self.progress = progress
        self.nonfinite = nonfinite
        self._guard = NonFiniteGuard.for_trainer(self)
        self._first_batch_checked = False
        self._reset_counters()

    def _reset_counters(self) -> None:
        #: Whether the last :meth:`train_step` skipped its update.
        self.last_step_skipped = False
        self._batch_in_epoch = 0
        self.step_count = 0
        self.epoch = 0
        self.phase: str | None = None
        self.history: list[dict[str, Any]] = []
        #: The last step's aggregation (direction and, when exposed, per-task gradients), for
        #: diagnostics callbacks; ``None`` on the plain path.
        self.last_aggregation: Aggregation | None = None
        self.last_jacobian: torch.Tensor | None = None
        self.last_batch: Batch | None = None

    # ----------------------------------------------------------------- views kept for callers
    @property
    def shared_params(self) -> list[torch.nn.Parameter]:
        return self.layout.shared

    @property
    def task_params(self) -> list[list[torch.nn.Parameter]]:
        return self.layout.per_task

    @property
    def weighting_params(self) -> list[torch.nn.Parameter]:
        return self.layout.weighting

    @property
    def jacobian_path(self) -> dict[str, Any]:
        """How this trainer computes the task Jacobian and why (recorded in run records)."""
        return self._jacobian.info

    @property
    def batched_jacobian(self) -> bool:
        return self._jacobian.batched

    @property
    def skipped_steps(self) -> int:
        """Batches whose update was skipped (``nonfinite="skip"``), over the trainer's life."""
        return self._guard.skipped_steps

    # ----------------------------------------------------------------- one step
    def compute_losses(self, batch: Batch, features: list | None = None) -> torch.Tensor:
        """Per-task losses ``(K,)``. If ``features`` is a list, the shared representation is
        appended to it (representation-level methods differentiate with respect to it)."""
        x, *targets = (t.to(self.device, non_blocking=True) for t in batch)
        if len(targets) != len(self.tasks):
            raise ValueError(f"batch has {len(targets)} targets for {len(self.tasks)} tasks")
        with self._autocast():
            if features is None:
                predictions = self.model(x)
            else:
                features.append(self.model.encode(x))
                predictions = self.model.decode(features[-1])
            if not isinstance(predictions, (list, tuple)) or len(predictions) != len(self.tasks):
                raise outputs_error(self.model, predictions, len(self.tasks))
            losses = [task.loss(pred, target) for task, pred, target in zip(self.tasks, predictions, targets)]
        if not all(isinstance(loss, torch.Tensor) and loss.dim() == 0 for loss in losses):
            k = next(k for k, loss in enumerate(losses) if not isinstance(loss, torch.Tensor) or loss.dim() != 0)
            raise loss_shape_error(self.tasks[k].name, losses[k], predictions[k])
        return torch.stack([loss.float() for loss in losses])

    def _autocast(self) -> Any:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def train_step(self, batch: Batch) -> torch.Tensor:
        """One optimisation step; returns the detached per-task (unweighted) losses.

        Non-finite losses or gradients raise :class:`NonFiniteError` or, with
        ``nonfinite="skip"``, leave the parameters untouched and set :attr:`last_step_skipped`."""
        self.last_step_skipped = False
        if not self._first_batch_checked:
            check_first_batch(batch, len(self.tasks), self.model)
            self._first_batch_checked = True
        features: list | None = [] if self.jacobian_of == "representation" else None
        # Kept for methods that re-evaluate the step's batch after the update (FAMO, at
        # on_step_end through :meth:`losses_after_step`).
        self.last_batch = batch
        with self._capture():
            losses = self.compute_losses(batch, features)
        try:
            terms = self.weighting(losses)
            self.optimizer.zero_grad(set_to_none=True)
            self._backward(terms, features)
            self._guard.check_step(losses)
        except NonFiniteError as error:
            try:
                self._guard.handle(error, losses, batch, self._position())  # reads the gradients
            finally:
                self.optimizer.zero_grad(set_to_none=True)
            self.last_step_skipped = True
            return losses.detach()
        self.optimizer.step()
        self.step_count += 1
        return losses.detach()

    def _backward(self, terms: torch.Tensor, features: list | None) -> None:
        if features:
            self.last_jacobian, self.last_aggregation = backward_through_representation(
                terms, features[0], self._jacobian, self.aggregator
            )
        elif self._gramian is not None:
            self.last_jacobian, self.last_aggregation = backward_through_gramian(
                terms, self.layout, self._gramian, self._split, self.aggregator
            )
        elif self.needs_task_gradients:
            self.last_jacobian, self.last_aggregation = backward_through_jacobian(
                terms,
                self.layout,
                self._jacobian,
                weighting=self.weighting,
                aggregator=self.aggregator,
                optimizer=self.optimizer,
                split=self._split,
            )
        else:
            terms.sum().backward()

    def _fast_paths(self, jacobian_of: str) -> tuple[TaskSplit | None, LayerwiseGramian | None]:
        """The head split (task gradients without K rows for the heads) and, for
        ``jacobian_of="gramian"``, the layer-wise Gramian engine (:mod:`~mtl_lib.engine.fast_paths`)."""
        if jacobian_of == "representation" or not self.needs_task_gradients:
            return None, None
        if jacobian_of != "gramian":
            return TaskSplit(self.model, self.layout), None
        check_gramian_level(self.aggregator, self.weighting, consumes_task_gradients(self.optimizer))
        return TaskSplit(self.model, self.layout), LayerwiseGramian(self.model, self.layout.shared)

    def _capture(self) -> contextlib.ExitStack:
        """Arms the fast paths' forward hooks for the step's forward pass."""
        stack = contextlib.ExitStack()
        for engine in (self._split.heads if self._split is not None else None, self._gramian):
            if engine is not None:
                stack.enter_context(engine.capture())
        return stack

    @property
    def task_split(self) -> dict[str, Any]:
        """Whether the task gradients are split at the heads, and why not (see fast_paths)."""
        return dict(self._split.info) if self._split is not None else {"task_split": "none", "reason": "not needed"}

    def _position(self) -> StepPosition:
        return StepPosition(epoch=self.epoch, batch=self._batch_in_epoch, step=self.step_count + 1)

    @torch.no_grad()
    def losses_after_step(self) -> torch.Tensor:
        """The per-task losses of the last step's batch at the *updated* parameters (one extra
        forward pass, no graph): what loss-space methods such as FAMO compare with the losses
        before the step. Call from an ``on_step_end`` hook."""
        if self.last_batch is None:
            raise RuntimeError("no step has been taken yet")
        with torch.no_grad():  # the comparison needs values only: recording a graph cost FAMO ~9 % a step
            return self.compute_losses(self.last_batch)

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
        *,
        resume: bool = False,
    ) -> list[dict[str, Any]]:
        """Train for ``epochs`` (or through the named ``phases``, each a number of epochs);
        evaluate on ``eval_data`` after every epoch. Returns (and extends) ``self.history``.

        ``resume=True`` (after :meth:`load_state_dict`): ``epochs``/``phases`` are the *whole*
        schedule, and the :attr:`epoch` epochs already trained are not trained again; a phase
        already under way continues without a second ``on_phase_start``."""
        check_schedule(epochs, phases)
        phases = schedule(epochs, phases)
        done = self.epoch if resume else 0
        total = sum(n for _, n in phases)
        if done > total:
            raise ValueError(f"resume=True: {done} epochs are already done, more than the schedule's {total}")
        names = [task.name for task in self.tasks]
        self._hook("on_train_start")
        bar = tqdm(total=total, initial=done, desc="epochs", disable=not self.progress, leave=False)
        try:
            for phase, n_epochs, started in remaining_phases(phases, done):
                self.phase = phase
                if not started:
                    self._hook("on_phase_start", phase)
                for _ in range(n_epochs):
                    record = self._run_epoch(train_data, eval_data)
                    bar.update(1)
                    bar.set_postfix(progress_summary(record, names))
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
        self._guard.start_epoch()
        self._batch_in_epoch = 0
        for batch in train_data:
            self._batch_in_epoch += 1
            losses = self.train_step(batch)
            if self.last_step_skipped:
                continue
            loss_sum += losses  # stays on the device: no host sync per step
            n_batches += 1
            self._hook("on_step_end", self.step_count, losses)
        if self._batch_in_epoch == 0:
            raise ValueError("train_data yielded no batches")
        self._guard.check_parameters(self.epoch, self.step_count)
        self._guard.end_epoch(self.epoch, self._batch_in_epoch, n_batches, self.step_count)
        record = epoch_record(
            epoch=self.epoch,
            phase=self.phase,
            steps=self.step_count,
            task_names=[task.name for task in self.tasks],
            mean_losses=(loss_sum / n_batches).tolist(),
            skipped_steps=self._guard.epoch_skipped,
            train_time_s=time.perf_counter() - started,
        )
        if eval_data is not None:
            record.update(self.evaluate(eval_data))
        self.history.append(record)
        self._hook("on_epoch_end", self.epoch, record)
        return record

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly: model, weighting, aggregator and
        optimizer state (AdaTask's per-task state included), counters, history, Jacobian path
        and random generators (see :mod:`mtl_lib.engine.checkpoint`). Take it between epochs
        (after :meth:`fit`, or in an ``on_epoch_end`` hook); tensors are references, not copies
        (``copy.deepcopy`` or ``torch.save`` it to keep it)."""
        return trainer_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` into this trainer, built with the same configuration;
        then ``fit(..., resume=True)`` with the run's whole schedule trains the epochs left."""
        load_trainer_state(self, state)

    def evaluate(self, eval_data: Iterable[Batch]) -> dict[str, float]:
        """Every task's metrics over the whole of ``eval_data``, as ``{"task/metric": value}``."""
        return evaluate_tasks(
            self.model,
            self.tasks,
            eval_data,
            self.device,
            self._autocast,
            epoch=self.epoch,
            step=self.step_count,
            check_batch=lambda batch: check_first_batch(batch, len(self.tasks), self.model),
        )
