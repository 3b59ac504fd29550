"""Errors and checks for non-finite numbers (NaN, ±inf), and the error for wrong usage.

A NaN that travels on silently ends up in a results table, so every ingredient that receives
numbers (a loss weighting its losses, an aggregator its Jacobian, the trainer its gradients)
checks them and stops with :class:`NonFiniteError`, which says *what* was non-finite and
*where* (task, parameter, epoch, step) and what to do about it.

The checks are split into a fast test (one fused reduction and one host synchronisation, on the
hot path) and a slow diagnosis that runs only when the fast test failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


class UsageError(ValueError):
    """The library was called with something it cannot use (a model without the multi-task
    interface, a loss that is not a scalar, float64 data for a float32 model, a schedule of
    -1 epochs, ...). The message names the problem and the fix; raised before the first step.
    The command line prints it as one line."""


class NonFiniteError(FloatingPointError):
    """A NaN or infinite value where a finite number is required.

    Attributes (``None`` where unknown): ``quantity`` (``"loss"``, ``"jacobian"``,
    ``"gradient"``, ``"direction"``, ``"parameter"``, ``"metric"``, ...), ``name`` (task,
    parameter or metric name), ``index`` (task row), ``epoch``, ``step`` (the optimizer step that
    was being taken, counting from 1) and ``batch`` (batch index within the epoch, from 1).
    """

    def __init__(
        self,
        message: str,
        *,
        quantity: str | None = None,
        name: str | None = None,
        index: int | None = None,
        epoch: int | None = None,
        step: int | None = None,
        batch: int | None = None,
    ) -> None:
        super().__init__(message)
        self.quantity = quantity
        self.name = name
        self.index = index
        self.epoch = epoch
        self.step = step
        self.batch = batch

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only attributes survive pickling (sweeps may run in worker processes).
        return (_rebuild, (type(self), str(self), self.__dict__.copy()))


def _rebuild(cls: type[NonFiniteError], message: str, attributes: dict[str, Any]) -> NonFiniteError:
    error = cls(message)
    error.__dict__.update(attributes)
    return error


class NonFiniteStepWarning(RuntimeWarning):
    """Training skipped batches whose loss or gradients were not finite
    (``Trainer(..., nonfinite="skip")``)."""


def kind_of(values: torch.Tensor) -> str:
    """``"NaN"``, ``"inf"`` or ``"NaN and inf"``: what is wrong with a non-finite tensor."""
    has_nan = bool(torch.isnan(values).any())
    has_inf = bool(torch.isinf(values).any())
    return "NaN and inf" if has_nan and has_inf else ("NaN" if has_nan else "inf")


def nonfinite_rows(matrix: torch.Tensor) -> list[int]:
    """Indices of the rows (first dimension) that hold a NaN or an inf (slow path)."""
    if matrix.dim() == 0:
        return [] if bool(torch.isfinite(matrix)) else [0]
    bad = ~torch.isfinite(matrix.detach().reshape(matrix.shape[0], -1)).all(dim=1)
    return torch.nonzero(bad).flatten().tolist()


def require_finite_rows(
    matrix: torch.Tensor,
    quantity: str,
    *,
    owner: str,
    names: Sequence[str] | None = None,
    advice: str = "",
) -> None:
    """Raise :class:`NonFiniteError` unless every entry of ``matrix`` is finite.

    Row ``k`` belongs to task ``k`` (named by ``names[k]`` when given). The fast test is one
    reduction and one host synchronisation; the message lists the offending tasks.
    """
    values = matrix.detach()
    # A sum is NaN/inf whenever one of its terms is, and on CPU it costs ~25x less than
    # isfinite().all() (11.7 vs 288 µs for 3 × 55,400 float32, one thread); the exact test runs
    # only when the sum is not finite (finite values whose sum overflowed pass it).
    if bool(torch.isfinite(values.sum())) or bool(torch.isfinite(values).all()):
        return
    rows = nonfinite_rows(matrix)
    labels = [names[k] if names is not None and k < len(names) else f"task {k}" for k in rows]
    first = rows[0] if rows else None
    raise NonFiniteError(
        f"{owner}: {quantity} has {kind_of(matrix.detach())} values in the row(s) of "
        f"{', '.join(repr(label) if names is not None else label for label in labels)} "
        f"(shape {tuple(matrix.shape)}). {advice}".rstrip(),
        quantity=quantity,
        name=labels[0] if labels else None,
        index=first,
    )
