"""The two backward passes that need per-task gradients.

* :func:`backward_through_jacobian`: the task Jacobian J (K×P) of the shared parameters goes to
  the aggregator, whose direction becomes the shared parameters' ``.grad``; each task's own
  parameters get row k of their Jacobian only, weighting parameters the sum of the rows.
* :func:`backward_through_representation`: a Gramian-weighted aggregator's weights w come from
  the Jacobian with respect to the shared representation z (MGDA-UB's "upper bound"), and
  Σ_k w_k L_k is back-propagated once.

Both return ``(jacobian, aggregation)`` for the trainer's diagnostics attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from mtl_lib.aggregators import Aggregation, Aggregator
from mtl_lib.core.errors import NonFiniteError, kind_of, nonfinite_rows
from mtl_lib.core.jacobian import flatten_rows, per_task_rows, unflatten_into_grads
from mtl_lib.engine.jacobian_path import JacobianPath
from mtl_lib.optim import consumes_task_gradients


@dataclass
class ParameterLayout:
    """The trainable tensors by owner: shared (every task's gradient, aggregators act on them),
    per task (their own task's gradient only), and the loss weighting's own."""

    shared: list[torch.nn.Parameter]
    per_task: list[list[torch.nn.Parameter]]
    weighting: list[torch.nn.Parameter] = field(default_factory=list)

    @property
    def task_flat(self) -> list[torch.nn.Parameter]:
        return [p for params in self.per_task for p in params]

    def all(self) -> list[torch.nn.Parameter]:
        """Shared, then task 0's, task 1's, ..., then the weighting's: the Jacobian's order."""
        return self.shared + self.task_flat + self.weighting


def backward_through_representation(
    terms: torch.Tensor, features: torch.Tensor, path: JacobianPath, aggregator: Any
) -> tuple[torch.Tensor, Aggregation]:
    """Weights from the representation Jacobian, then one backward of Σ_k w_k L_k."""
    (per_sample,) = path.task_jacobians(terms, [features], retain_graph=True)
    jacobian = per_sample.reshape(per_sample.shape[0], -1)
    rows = nonfinite_rows(jacobian) if not bool(torch.isfinite(jacobian).all()) else []
    if rows:
        raise NonFiniteError(
            f"representation Jacobian has {kind_of(jacobian)} values", quantity="jacobian", index=rows[0]
        )
    weights = aggregator.weights_for(jacobian, terms.detach()).detach()
    aggregation = Aggregation(direction=weights @ jacobian)
    (weights @ terms).backward()
    return jacobian, aggregation


def backward_through_jacobian(
    terms: torch.Tensor,
    layout: ParameterLayout,
    path: JacobianPath,
    *,
    weighting: Any,
    aggregator: Aggregator | None,
    optimizer: Any,
    split: Any = None,
) -> tuple[torch.Tensor, Aggregation]:
    """Per-task gradients of every parameter; the aggregator's direction on the shared ones.

    ``split`` (a :class:`~mtl_lib.engine.fast_paths.TaskSplit`): when it applies, the rows of the
    shared parameters come from a vmapped pass through the trunk only and the task/weighting
    parameters' gradients from one plain pass (no K rows for them)."""
    task_flat = layout.task_flat
    all_params = layout.all()
    whole_model = aggregator is not None and aggregator.acts_on_all_parameters
    own = None if split is None or whole_model else split.gradients(terms, layout, path)
    grads = own if own is not None else path.task_jacobians(terms, all_params)
    n_shared = len(layout.shared)
    if whole_model:
        return _apply_whole_model_aggregation(
            grads, all_params, n_shared + len(task_flat), terms, aggregator, optimizer
        )
    jacobian = flatten_rows(grads[:n_shared])
    if weighting.needs_task_gradients:
        weighting.observe_task_gradients(jacobian)
    if aggregator is None:
        aggregation = Aggregation(direction=jacobian.sum(0), task_gradients=jacobian)
    else:
        aggregation = aggregator(jacobian, losses=terms.detach())
    if consumes_task_gradients(optimizer):
        _feed_task_aware_optimizer(optimizer, aggregator, aggregation, jacobian)
    unflatten_into_grads(aggregation.direction, layout.shared)
    # Row k only: a task's own parameters never see another task's gradient.
    offset = n_shared
    for k, params in enumerate(layout.per_task):
        for param, grad in zip(params, grads[offset : offset + len(params)]):
            param.grad = grad if own is not None else grad[k]
        offset += len(params)
    for param, grad in zip(layout.weighting, grads[offset:]):
        param.grad = grad if own is not None else grad.sum(0)
    return jacobian, aggregation


def _feed_task_aware_optimizer(
    optimizer: Any, aggregator: Aggregator | None, aggregation: Aggregation, jacobian: torch.Tensor
) -> None:
    rows = per_task_rows(aggregation, jacobian)
    if rows is None:
        raise ValueError(
            f"{aggregator!r} yields only a combined direction, but optimizer "
            f"{type(optimizer).__name__} needs per-task gradients; use an aggregator "
            "that exposes them (e.g. 'pcgrad') or task weights (e.g. 'mgda'), or a plain "
            "torch optimizer"
        )
    optimizer.set_task_gradients(rows)


def _apply_whole_model_aggregation(
    grads: list[torch.Tensor],
    all_params: Sequence[torch.nn.Parameter],
    n_model: int,
    terms: torch.Tensor,
    aggregator: Aggregator,
    optimizer: Any,
) -> tuple[torch.Tensor, Aggregation]:
    """Aggregators that act on every model parameter (their Jacobian has all model columns)."""
    jacobian = flatten_rows(grads[:n_model])
    aggregation = aggregator(jacobian, losses=terms.detach())
    if consumes_task_gradients(optimizer):
        raise ValueError(f"{aggregator!r} acts on all parameters; it cannot feed a task-aware optimizer")
    unflatten_into_grads(aggregation.direction, list(all_params[:n_model]))
    for param, grad in zip(all_params[n_model:], grads[n_model:]):
        param.grad = grad.sum(0)
    return jacobian, aggregation
