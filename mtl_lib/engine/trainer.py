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

import contextlib
import math
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from tqdm import tqdm

from mtl_lib.aggregators import AGGREGATORS, Aggregation, Aggregator, GramianWeightedAggregator
from mtl_lib.core.errors import NonFiniteError, NonFiniteStepWarning, kind_of, nonfinite_rows
from mtl_lib.core.jacobian import flatten_rows, per_task_rows, task_jacobians, unflatten_into_grads
from mtl_lib.core.model import MultiTaskModel, parameter_names
from mtl_lib.core.runtime import accepts_argument, resolve_device
from mtl_lib.core.tasks import Task
from mtl_lib.optim import build_optimizer, consumes_task_gradients
from mtl_lib.weighting import WEIGHTINGS, LossWeighting

Batch = Sequence[torch.Tensor]

NONFINITE_POLICIES = ("raise", "skip")


#: Layer types whose vmapped (``is_grads_batched``) backward is slower than K sequential
#: backward passes on CPU: on the leaf CNN (64×64, batch 32, K = 2, one thread) the batched
#: path cost 1.81–1.94× a plain step against 1.53–1.64× for the sequential one, and 110–150 MB
#: more peak memory (``benchmarks/jacobian_path.py`` re-measures it).
_SLOW_BATCHED_ON_CPU = (torch.nn.modules.conv._ConvNd, torch.nn.modules.batchnorm._BatchNorm)


def choose_jacobian_path(model: torch.nn.Module, device: torch.device, batched: bool | str) -> dict[str, Any]:
    """The documented rule behind ``batched_jacobian``: forced ``True``/``False`` are obeyed;
    ``"auto"`` picks the sequential path (K ``autograd.grad`` calls) on CPU when the model has
    convolutions or batch norm, whose batched backward is the slower one there, and the batched
    path (one vmapped backward) otherwise — on accelerators the wider pass fills the device, on
    CPU it replaces K passes of small matrix products by one. Returns ``{"path", "mode",
    "reason"}``; ``Trainer(batched_jacobian="probe")`` measures instead."""
    if batched is True or batched is False:
        path = "batched" if batched else "sequential"
        return {"path": path, "mode": "forced", "reason": f"batched_jacobian={batched}"}
    if batched != "auto":
        raise ValueError(f"batched_jacobian must be True, False, 'auto' or 'probe', got {batched!r}")
    if device.type != "cpu":
        return {"path": "batched", "mode": "auto", "reason": f"rule: {device.type} device → one vmapped backward"}
    slow = sorted({type(m).__name__ for m in model.modules() if isinstance(m, _SLOW_BATCHED_ON_CPU)})
    if slow:
        return {
            "path": "sequential",
            "mode": "auto",
            "reason": f"rule: CPU and {'/'.join(slow)} layers (their vmapped backward is slower on CPU)",
        }
    return {"path": "batched", "mode": "auto", "reason": "rule: CPU, no convolution or batch norm"}


class JacobianPathProbe:
    """Times the batched and the sequential Jacobian on the first real steps, alternating
    (batched, sequential, batched, sequential by default), and picks the faster by each path's
    best time (the minimum is the least disturbed by other load on the machine)."""

    def __init__(self, rounds: int = 2) -> None:
        self.schedule = [True, False] * rounds
        self.seconds: dict[bool, list[float]] = {True: [], False: []}

    def next_path(self) -> bool:
        return self.schedule[len(self.seconds[True]) + len(self.seconds[False])]

    def record(self, batched: bool, seconds: float) -> None:
        self.seconds[batched].append(seconds)

    @property
    def done(self) -> bool:
        return len(self.seconds[True]) + len(self.seconds[False]) >= len(self.schedule)

    def decision(self) -> dict[str, Any]:
        best = {path: min(values) for path, values in self.seconds.items()}
        path = "batched" if best[True] <= best[False] else "sequential"
        return {
            "path": path,
            "mode": "probe",
            "reason": f"probe: best of {len(self.seconds[True])} Jacobians per path, {path} faster",
            "timings_ms": {
                "batched": [round(1e3 * t, 3) for t in self.seconds[True]],
                "sequential": [round(1e3 * t, 3) for t in self.seconds[False]],
            },
        }


class Trainer:
    """Train a :class:`MultiTaskModel` with any loss weighting, aggregator and optimizer.

    Ingredients are given by registered name (``weighting="ew"``, ``aggregator="pcgrad"``,
    ``optimizer="rmsprop"``) or as objects. ``aggregator=None`` means no gradient surgery: the
    engine then never computes per-task gradients unless the weighting or the optimizer asks
    for them, so EW + Adam costs what plain training costs.

    ``jacobian_of="representation"`` runs a Gramian-weighted aggregator (MGDA, IMTL-G, ...) on
    the gradients with respect to the shared representation z = model.encode(x) instead of the
    shared parameters, and back-propagates Σ_k w_k L_k once (MGDA-UB's cheaper "upper bound").

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
        if nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {nonfinite!r}")
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
        self.aggregator = None if aggregator is None else AGGREGATORS.build(aggregator, **dict(aggregator_kwargs or {}))
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
        self._path_probe: JacobianPathProbe | None = None
        if batched_jacobian not in (True, False, "auto", "probe"):
            raise ValueError(f"batched_jacobian must be True, False, 'auto' or 'probe', got {batched_jacobian!r}")
        if not self.needs_task_gradients and jacobian_of == "parameters":
            #: How this trainer computes the task Jacobian and why (recorded in run records).
            self.jacobian_path: dict[str, Any] = {"path": "none", "reason": "no ingredient needs per-task gradients"}
            self.batched_jacobian = False
        elif batched_jacobian == "probe":
            self._path_probe = JacobianPathProbe()
            self.jacobian_path = {"path": "probing", "mode": "probe", "reason": "timing both paths on the first steps"}
            self.batched_jacobian = True
        else:
            self.jacobian_path = choose_jacobian_path(self.model, self.device, batched_jacobian)
            self.batched_jacobian = self.jacobian_path["path"] == "batched"
        if jacobian_of == "representation":
            if not isinstance(self.aggregator, GramianWeightedAggregator):
                raise ValueError(
                    "jacobian_of='representation' needs an aggregator whose weights depend on the "
                    f"Gram matrix only (GramianWeightedAggregator), got {self.aggregator!r}"
                )
            check = getattr(self.aggregator, "check_gram_only", None)
            if callable(check):
                check()  # e.g. GradVac per layer needs per-layer parameter Gramians
            if not (hasattr(self.model, "encode") and hasattr(self.model, "decode")):
                raise ValueError(f"{type(self.model).__name__} has no encode/decode split")
            check = getattr(self.model, "check_shared_representation", None)
            if callable(check):
                check()  # e.g. a task-conditioned trunk has no single shared representation
            if consumes_task_gradients(self.optimizer):
                raise ValueError("a task-aware optimizer needs parameter-level task gradients")
        if autocast not in (None, "bf16"):
            raise ValueError(f"autocast must be None or 'bf16', got {autocast!r}")
        #: bf16 autocast of the forward pass (losses are computed and returned in float32).
        self.autocast = autocast
        self.callbacks = list(callbacks)
        self.progress = progress
        self.nonfinite = nonfinite
        #: Batches whose update was skipped (``nonfinite="skip"``), over the trainer's life.
        self.skipped_steps = 0
        #: Whether the last :meth:`train_step` skipped its update.
        self.last_step_skipped = False
        self._epoch_skipped = 0
        self._first_skip_message: str | None = None
        self._batch_in_epoch = 0
        self._trainable = trainable
        self.step_count = 0
        self.epoch = 0
        self.phase: str | None = None
        self.history: list[dict[str, Any]] = []
        #: The last step's aggregation (direction and, when exposed, per-task gradients), for
        #: diagnostics callbacks; ``None`` on the plain path.
        self.last_aggregation: Aggregation | None = None
        self.last_jacobian: torch.Tensor | None = None
        self.last_batch: Batch | None = None

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
            losses = [task.loss(pred, target) for task, pred, target in zip(self.tasks, predictions, targets)]
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
        features: list | None = [] if self.jacobian_of == "representation" else None
        # Kept for methods that re-evaluate the step's batch after the update (FAMO, at
        # on_step_end through :meth:`losses_after_step`).
        self.last_batch = batch
        losses = self.compute_losses(batch, features)
        try:
            terms = self.weighting(losses)
            self.optimizer.zero_grad(set_to_none=True)
            if features:
                self._backward_through_representation(terms, features[0])
            elif self.needs_task_gradients:
                self._backward_through_jacobian(terms)
            else:
                terms.sum().backward()
            self._check_finite(losses)
        except NonFiniteError as error:
            self._handle_nonfinite(error, losses, batch)
            return losses.detach()
        self.optimizer.step()
        self.step_count += 1
        return losses.detach()

    # ----------------------------------------------------------------- non-finite values
    def _check_finite(self, losses: torch.Tensor) -> None:
        """Fast path: one fused reduction over the losses and every gradient about to be applied,
        and one host sync. A sum is NaN/inf whenever one of its terms is (and is the cheapest
        reduction: on CPU an inf-norm costs ~5-15x more); finite values whose sum overflows are
        told apart by the exact per-tensor test, which runs only then."""
        grads = [p.grad for p in self._trainable if p.grad is not None]
        total = losses.detach().sum()
        if grads:
            total = total + torch.stack([g.sum() for g in grads]).sum()
        if bool(torch.isfinite(total)):
            return
        if bool(torch.isfinite(losses.detach()).all()) and all(bool(torch.isfinite(g).all()) for g in grads):
            return  # huge but finite values overflowed the sum: nothing is wrong
        raise NonFiniteError("non-finite loss or gradient", quantity="gradient")

    def _check_parameters(self) -> None:
        """Once per epoch: a step that overflowed a parameter shows up as a non-finite loss at the
        next step, except after the epoch's last step; this catches that one (one fused sum)."""
        params = [p.detach() for p in self._trainable if not isinstance(p, torch.nn.UninitializedParameter)]
        if not params or bool(torch.isfinite(torch.stack([p.sum() for p in params]).sum())):
            return
        for name, param in [*self.model.named_parameters(), *self.weighting.named_parameters()]:
            if not isinstance(param, torch.nn.UninitializedParameter) and not bool(torch.isfinite(param).all()):
                raise NonFiniteError(
                    f"Parameter {name!r} is {kind_of(param.detach())} after step {self.step_count} "
                    f"(end of epoch {self.epoch}): the update overflowed. Lower the learning rate "
                    "(or clip gradients) and restart.",
                    quantity="parameter",
                    name=name,
                    epoch=self.epoch,
                    step=self.step_count,
                )

    def _where(self) -> str:
        return f"epoch {self.epoch}, batch {self._batch_in_epoch}, step {self.step_count + 1}"

    def _handle_nonfinite(self, error: NonFiniteError, losses: torch.Tensor, batch: Batch) -> None:
        located = self._locate(error, losses, batch)
        self.optimizer.zero_grad(set_to_none=True)
        if self.nonfinite == "raise" or located.quantity in ("parameter",):
            raise located from error
        self.last_step_skipped = True
        self.skipped_steps += 1
        self._epoch_skipped += 1
        if self._first_skip_message is None:
            self._first_skip_message = str(located)

    def _locate(self, error: NonFiniteError, losses: torch.Tensor, batch: Batch) -> NonFiniteError:
        """Slow path (after a failed check): find what is non-finite and name it."""
        names = [task.name for task in self.tasks]
        advice = (
            "What to do: lower the learning rate, check this data batch (inputs and targets) for "
            "NaN/inf, or pass Trainer(..., nonfinite='skip') to skip such batches."
        )
        context = {"epoch": self.epoch, "step": self.step_count + 1, "batch": self._batch_in_epoch}
        where = self._where()
        for name, param in self.model.named_parameters():
            if not bool(torch.isfinite(param.detach()).all()):
                return NonFiniteError(
                    f"Parameter {name!r} is {kind_of(param.detach())} at {where} (after step "
                    f"{self.step_count}): the previous update overflowed. Skipping cannot undo an "
                    "applied step: lower the learning rate (or clip gradients) and restart.",
                    quantity="parameter",
                    name=name,
                    **context,
                )
        data_note = self._describe_batch(batch, names)
        bad_losses = nonfinite_rows(losses.detach())
        if bad_losses:
            which = ", ".join(repr(names[k]) for k in bad_losses)
            return NonFiniteError(
                f"Non-finite loss ({kind_of(losses.detach())}) for task {which} at {where}.{data_note} {advice}",
                quantity="loss",
                name=names[bad_losses[0]],
                index=bad_losses[0],
                **context,
            )
        if error.index is not None and error.quantity != "gradient":
            # Raised by an ingredient (aggregator: Jacobian rows; weighting) with a task row.
            task = names[error.index] if error.index < len(names) else f"task {error.index}"
            return NonFiniteError(
                f"Non-finite {error.quantity} for task {task!r} at {where}. {error}{data_note}",
                quantity=error.quantity,
                name=task,
                index=error.index,
                **context,
            )
        param_names = {id(p): n for n, p in self.model.named_parameters()}
        owners = [(f"shared parameter {param_names[id(p)]!r}", p) for p in self.shared_params]
        for k, params in enumerate(self.task_params):
            owners += [(f"task {names[k]!r}'s parameter {param_names[id(p)]!r}", p) for p in params]
        owners += [(f"weighting parameter {n!r}", p) for n, p in self.weighting.named_parameters() if p.requires_grad]
        for label, param in owners:
            if param.grad is not None and not bool(torch.isfinite(param.grad).all()):
                source = (
                    f" (the direction from {self.aggregator!r})"
                    if self.aggregator is not None and label.startswith("shared")
                    else ""
                )
                return NonFiniteError(
                    f"Non-finite gradient ({kind_of(param.grad)}) of {label}{source} at {where}, with "
                    f"finite losses.{data_note} {advice}",
                    quantity="direction" if source else "gradient",
                    name=label,
                    **context,
                )
        return NonFiniteError(
            f"{str(error).rstrip('.')} at {where}.{data_note} {advice}", quantity=error.quantity, **context
        )

    def _describe_batch(self, batch: Batch, names: list[str]) -> str:
        labels = ["inputs"] + [f"targets of task {n!r}" for n in names]
        bad = [
            label
            for label, tensor in zip(labels, batch)
            if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
        ]
        return f" This batch's {' and '.join(bad)} contain NaN/inf." if bad else ""

    @torch.no_grad()
    def losses_after_step(self) -> torch.Tensor:
        """The per-task losses of the last step's batch at the *updated* parameters (one extra
        forward pass, no graph): what loss-space methods such as FAMO compare with the losses
        before the step. Call from an ``on_step_end`` hook."""
        if self.last_batch is None:
            raise RuntimeError("no step has been taken yet")
        return self.compute_losses(self.last_batch)

    def _task_jacobians(
        self, terms: torch.Tensor, params: Sequence[torch.Tensor], retain_graph: bool = False
    ) -> list[torch.Tensor]:
        probe = self._path_probe
        if probe is None:
            return task_jacobians(terms, params, retain_graph=retain_graph, batched=self.batched_jacobian)
        batched = probe.next_path()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        started = time.perf_counter()
        grads = task_jacobians(terms, params, retain_graph=retain_graph, batched=batched)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        probe.record(batched, time.perf_counter() - started)
        if probe.done:
            self.jacobian_path = probe.decision()
            self.batched_jacobian = self.jacobian_path["path"] == "batched"
            self._path_probe = None
        return grads

    def _backward_through_representation(self, terms: torch.Tensor, features: torch.Tensor) -> None:
        (per_sample,) = self._task_jacobians(terms, [features], retain_graph=True)
        jacobian = per_sample.reshape(per_sample.shape[0], -1)
        self.last_jacobian = jacobian
        rows = nonfinite_rows(jacobian) if not bool(torch.isfinite(jacobian).all()) else []
        if rows:
            raise NonFiniteError(
                f"representation Jacobian has {kind_of(jacobian)} values", quantity="jacobian", index=rows[0]
            )
        weights = self.aggregator.weights_for(jacobian, terms.detach()).detach()  # type: ignore[union-attr]
        self.last_aggregation = Aggregation(direction=weights @ jacobian)
        (weights @ terms).backward()

    def _backward_through_jacobian(self, terms: torch.Tensor) -> None:
        task_flat = [p for params in self.task_params for p in params]
        all_params = self.shared_params + task_flat + self.weighting_params
        grads = self._task_jacobians(terms, all_params)
        n_shared = len(self.shared_params)
        if self.aggregator is not None and self.aggregator.acts_on_all_parameters:
            self._apply_whole_model_aggregation(grads, all_params, n_shared + len(task_flat), terms)
            return
        jacobian = flatten_rows(grads[:n_shared])
        self.last_jacobian = jacobian
        if self.weighting.needs_task_gradients:
            self.weighting.observe_task_gradients(jacobian)  # type: ignore[attr-defined]

        if self.aggregator is None:
            aggregation = Aggregation(direction=jacobian.sum(0), task_gradients=jacobian)
        else:
            aggregation = self.aggregator(jacobian, losses=terms.detach())
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
        self,
        grads: list[torch.Tensor],
        all_params: list[torch.nn.Parameter],
        n_model: int,
        terms: torch.Tensor,
    ) -> None:
        jacobian = flatten_rows(grads[:n_model])
        self.last_jacobian = jacobian
        aggregation = self.aggregator(jacobian, losses=terms.detach())  # type: ignore[misc]
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
        self._epoch_skipped = 0
        self._first_skip_message = None
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
        self._check_parameters()
        if self._epoch_skipped:
            message = (
                f"epoch {self.epoch}: skipped {self._epoch_skipped} of {self._batch_in_epoch} batches "
                f"with non-finite values (nonfinite='skip'); first: {self._first_skip_message}"
            )
            if n_batches == 0:
                raise NonFiniteError(
                    f"every batch of {message}", quantity="epoch", epoch=self.epoch, step=self.step_count
                )
            warnings.warn(message, NonFiniteStepWarning, stacklevel=3)
        mean_losses = (loss_sum / n_batches).tolist()
        record: dict[str, Any] = {"epoch": self.epoch, "phase": self.phase, "steps": self.step_count}
        record.update({f"train_loss/{t.name}": v for t, v in zip(self.tasks, mean_losses)})
        record["skipped_steps"] = self._epoch_skipped
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
            with self._autocast():
                outputs = self.model(x)
            for k, pred in enumerate(outputs):
                predictions[k].append(pred.float() if pred.is_floating_point() else pred)
                targets[k].append(batch_targets[k])
        self.model.train(was_training)
        results: dict[str, float] = {}
        for k, task in enumerate(self.tasks):
            pred, target = torch.cat(predictions[k]), torch.cat(targets[k])
            results[f"{task.name}/loss"] = float(task.loss(pred, target))
            for metric_name, metric in task.metrics.items():
                results[f"{task.name}/{metric_name}"] = float(metric(pred, target))
        bad = [key for key, value in results.items() if not math.isfinite(value)]
        if bad:
            broken = [n for n, p in self.model.named_parameters() if not bool(torch.isfinite(p).all())]
            cause = (
                f"parameter(s) {broken} are non-finite: lower the learning rate"
                if broken
                else "check the evaluation data for NaN/inf and the metric for empty or zero denominators"
            )
            raise NonFiniteError(
                f"Evaluation after epoch {self.epoch} gave non-finite {bad} "
                f"({', '.join(f'{k}={results[k]}' for k in bad)}); {cause}.",
                quantity="metric",
                name=bad[0],
                epoch=self.epoch,
                step=self.step_count,
            )
        return results
