"""The trainer's non-finite checks: a fast test on every step, a diagnosis when it fails.

Every step checks, with one fused reduction and one host synchronisation, that the losses and
every gradient about to be applied are finite (:meth:`NonFiniteGuard.check_step`). Only when
that fails does the slow path (:meth:`NonFiniteGuard.locate`) find *what* is non-finite — a
parameter, a task's loss, an ingredient's input, a gradient — and name it with the epoch, batch
and step. The policy (``"raise"`` or ``"skip"``) decides what happens next.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from mtl_lib.core.errors import NonFiniteError, NonFiniteStepWarning, kind_of, nonfinite_rows

#: The values ``Trainer(nonfinite=...)`` accepts.
NONFINITE_POLICIES = ("raise", "skip")

_ADVICE = (
    "What to do: lower the learning rate, check this data batch (inputs and targets) for "
    "NaN/inf, or pass Trainer(..., nonfinite='skip') to skip such batches."
)


@dataclass(frozen=True)
class StepPosition:
    """Where training is: the epoch, the batch within it (from 1) and the optimizer step being
    taken (from 1)."""

    epoch: int
    batch: int
    step: int

    def __str__(self) -> str:
        return f"epoch {self.epoch}, batch {self.batch}, step {self.step}"

    def context(self) -> dict[str, int]:
        return {"epoch": self.epoch, "step": self.step, "batch": self.batch}


def check_nonfinite_policy(policy: Any) -> None:
    if policy not in NONFINITE_POLICIES:
        raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {policy!r}")


def describe_batch(batch: Sequence[Any], task_names: Sequence[str]) -> str:
    """A sentence naming the batch's inputs/targets that hold NaN/inf (empty if none do)."""
    labels = ["inputs"] + [f"targets of task {n!r}" for n in task_names]
    bad = [
        label
        for label, tensor in zip(labels, batch)
        if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    return f" This batch's {' and '.join(bad)} contain NaN/inf." if bad else ""


class NonFiniteGuard:
    """Checks one trainer's steps for NaN/inf and applies its policy; counts skipped steps.

    ``trainable`` are the tensors the optimizer updates (their ``.grad`` is checked every step);
    ``owners`` lists the model's ``(label, parameter)`` pairs for the slow path's messages
    ("shared parameter 'encoder.0.weight'", "task 'depth''s parameter ...").
    """

    def __init__(
        self,
        policy: str,
        *,
        model: torch.nn.Module,
        weighting: torch.nn.Module,
        aggregator: Any,
        task_names: Sequence[str],
        trainable: Sequence[torch.Tensor],
        owners: Sequence[tuple[str, torch.Tensor]],
    ) -> None:
        check_nonfinite_policy(policy)
        self.policy = policy
        self.model = model
        self.weighting = weighting
        self.aggregator = aggregator
        self.task_names = list(task_names)
        self.trainable = list(trainable)
        self.owners = list(owners)
        #: Batches whose update was skipped over the trainer's life.
        self.skipped_steps = 0
        self.epoch_skipped = 0
        self.first_skip_message: str | None = None

    @classmethod
    def for_trainer(cls, trainer: Any) -> NonFiniteGuard:
        """The guard of a :class:`~mtl_lib.engine.Trainer`: its policy, ingredients, trainable
        tensors, and its parameters labelled by owner for the messages."""
        names = {id(p): n for n, p in trainer.model.named_parameters()}
        owners = [(f"shared parameter {names[id(p)]!r}", p) for p in trainer.layout.shared]
        for task, params in zip(trainer.tasks, trainer.layout.per_task):
            owners += [(f"task {task.name!r}'s parameter {names[id(p)]!r}", p) for p in params]
        return cls(
            trainer.nonfinite,
            model=trainer.model,
            weighting=trainer.weighting,
            aggregator=trainer.aggregator,
            task_names=[task.name for task in trainer.tasks],
            trainable=trainer._trainable,
            owners=owners,
        )

    def start_epoch(self) -> None:
        self.epoch_skipped = 0
        self.first_skip_message = None

    # ------------------------------------------------------------------ fast path
    def check_step(self, losses: torch.Tensor) -> None:
        """One fused reduction over the losses and every gradient about to be applied, and one
        host sync. A sum is NaN/inf whenever one of its terms is (and is the cheapest reduction:
        on CPU an inf-norm costs ~5-15x more); finite values whose sum overflows are told apart
        by the exact per-tensor test, which runs only then."""
        grads = [p.grad for p in self.trainable if p.grad is not None]
        total = losses.detach().sum()
        if grads:
            total = total + torch.stack([g.sum() for g in grads]).sum()
        if bool(torch.isfinite(total)):
            return
        if bool(torch.isfinite(losses.detach()).all()) and all(bool(torch.isfinite(g).all()) for g in grads):
            return  # huge but finite values overflowed the sum: nothing is wrong
        raise NonFiniteError("non-finite loss or gradient", quantity="gradient")

    def check_parameters(self, epoch: int, step: int) -> None:
        """Once per epoch: a step that overflowed a parameter shows up as a non-finite loss at the
        next step, except after the epoch's last step; this catches that one (one fused sum)."""
        params = [p.detach() for p in self.trainable if not isinstance(p, torch.nn.UninitializedParameter)]
        if not params or bool(torch.isfinite(torch.stack([p.sum() for p in params]).sum())):
            return
        for name, param in [*self.model.named_parameters(), *self.weighting.named_parameters()]:
            if not isinstance(param, torch.nn.UninitializedParameter) and not bool(torch.isfinite(param).all()):
                raise NonFiniteError(
                    f"Parameter {name!r} is {kind_of(param.detach())} after step {step} "
                    f"(end of epoch {epoch}): the update overflowed. Lower the learning rate "
                    "(or clip gradients) and restart.",
                    quantity="parameter",
                    name=name,
                    epoch=epoch,
                    step=step,
                )

    # ------------------------------------------------------------------ policy
    def handle(self, error: NonFiniteError, losses: torch.Tensor, batch: Sequence[Any], where: StepPosition) -> None:
        """Raise the located error (policy ``"raise"``, or a parameter already non-finite) or
        count the step as skipped."""
        located = self.locate(error, losses, batch, where)
        if self.policy == "raise" or located.quantity == "parameter":
            raise located from error
        self.skipped_steps += 1
        self.epoch_skipped += 1
        if self.first_skip_message is None:
            self.first_skip_message = str(located)

    def end_epoch(self, epoch: int, batches: int, applied: int, step: int) -> None:
        """Warn once about the epoch's skipped batches; raise if every batch was skipped."""
        if not self.epoch_skipped:
            return
        message = (
            f"epoch {epoch}: skipped {self.epoch_skipped} of {batches} batches "
            f"with non-finite values (nonfinite='skip'); first: {self.first_skip_message}"
        )
        if applied == 0:
            raise NonFiniteError(f"every batch of {message}", quantity="epoch", epoch=epoch, step=step)
        warnings.warn(message, NonFiniteStepWarning, stacklevel=4)

    # ------------------------------------------------------------------ slow path
    def locate(
        self, error: NonFiniteError, losses: torch.Tensor, batch: Sequence[Any], where: StepPosition
    ) -> NonFiniteError:
        """After a failed check: find what is non-finite and name it."""
        found = self._nonfinite_parameter(where)
        if found is not None:
            return found
        data_note = describe_batch(batch, self.task_names)
        found = self._nonfinite_loss(losses, where, data_note)
        if found is not None:
            return found
        if error.index is not None and error.quantity != "gradient":
            # Raised by an ingredient (aggregator: Jacobian rows; weighting) with a task row.
            names = self.task_names
            task = names[error.index] if error.index < len(names) else f"task {error.index}"
            return NonFiniteError(
                f"Non-finite {error.quantity} for task {task!r} at {where}. {error}{data_note}",
                quantity=error.quantity,
                name=task,
                index=error.index,
                **where.context(),
            )
        found = self._nonfinite_gradient(where, data_note)
        if found is not None:
            return found
        return NonFiniteError(
            f"{str(error).rstrip('.')} at {where}.{data_note} {_ADVICE}", quantity=error.quantity, **where.context()
        )

    def _nonfinite_parameter(self, where: StepPosition) -> NonFiniteError | None:
        for name, param in self.model.named_parameters():
            if not bool(torch.isfinite(param.detach()).all()):
                return NonFiniteError(
                    f"Parameter {name!r} is {kind_of(param.detach())} at {where} (after step "
                    f"{where.step - 1}): the previous update overflowed. Skipping cannot undo an "
                    "applied step: lower the learning rate (or clip gradients) and restart.",
                    quantity="parameter",
                    name=name,
                    **where.context(),
                )
        return None

    def _nonfinite_loss(self, losses: torch.Tensor, where: StepPosition, data_note: str) -> NonFiniteError | None:
        bad_losses = nonfinite_rows(losses.detach())
        if not bad_losses:
            return None
        which = ", ".join(repr(self.task_names[k]) for k in bad_losses)
        return NonFiniteError(
            f"Non-finite loss ({kind_of(losses.detach())}) for task {which} at {where}.{data_note} {_ADVICE}",
            quantity="loss",
            name=self.task_names[bad_losses[0]],
            index=bad_losses[0],
            **where.context(),
        )

    def _nonfinite_gradient(self, where: StepPosition, data_note: str) -> NonFiniteError | None:
        # Weighting parameters are listed now: a weighting may create them at its first call.
        owners = self.owners + [
            (f"weighting parameter {n!r}", p) for n, p in self.weighting.named_parameters() if p.requires_grad
        ]
        for label, param in owners:
            if param.grad is not None and not bool(torch.isfinite(param.grad).all()):
                source = (
                    f" (the direction from {self.aggregator!r})"
                    if self.aggregator is not None and label.startswith("shared")
                    else ""
                )
                return NonFiniteError(
                    f"Non-finite gradient ({kind_of(param.grad)}) of {label}{source} at {where}, with "
                    f"finite losses.{data_note} {_ADVICE}",
                    quantity="direction" if source else "gradient",
                    name=label,
                    **where.context(),
                )
        return None

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"skipped_steps": self.skipped_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.skipped_steps = int(state["skipped_steps"])
