"""The per-task Jacobian of a set of parameters, with one batched backward pass.

Row k of the Jacobian is ∂L_k/∂θ. Computing all K rows with K separate ``autograd.grad``
calls walks the graph K times; ``is_grads_batched=True`` vmaps the backward over the K unit
vectors instead, which is one (wider) pass. Some operators have no batching rule; then we fall
back to the loop and say so once, rather than failing or silently slowing down.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

_warned_fallback = False


class BatchedJacobianFallbackWarning(RuntimeWarning):
    """The batched backward failed; the Jacobian is being computed with one backward per task."""


def task_jacobians(
    losses: torch.Tensor,
    params: Sequence[torch.Tensor],
    *,
    retain_graph: bool = False,
    batched: bool = True,
) -> list[torch.Tensor]:
    """Return, for each parameter, a ``(K, *param.shape)`` tensor of per-task gradients.

    Parameters a task does not reach get zeros (not ``None``), so rows always line up.
    ``batched=False`` forces the K-pass loop (used by the benchmark and as the fallback).
    """
    if losses.dim() != 1:
        raise ValueError(f"losses must be a (K,) vector, got shape {tuple(losses.shape)}")
    num_tasks = losses.shape[0]
    if batched:
        basis = torch.eye(num_tasks, device=losses.device, dtype=losses.dtype)
        try:
            grads = torch.autograd.grad(
                losses,
                params,
                grad_outputs=basis,
                is_grads_batched=True,
                retain_graph=retain_graph,
                allow_unused=True,
            )
            return _fill_unused(grads, params, num_tasks)
        except RuntimeError as error:
            _warn_fallback(error)
    rows = []
    for k in range(num_tasks):
        keep = retain_graph or k < num_tasks - 1
        grads = torch.autograd.grad(losses[k], params, retain_graph=keep, allow_unused=True)
        rows.append(_fill_unused(grads, params, None))
    return [torch.stack([row[i] for row in rows]) for i in range(len(params))]


def vector_jacobian_rows(
    output: torch.Tensor,
    params: Sequence[torch.Tensor],
    output_grads: torch.Tensor,
    *,
    retain_graph: bool = False,
    batched: bool = True,
) -> list[torch.Tensor]:
    """Row k of the result is ``(∂output/∂θ)ᵀ output_grads[k]``, per parameter ``(K, *shape)``.

    With ``output`` the shared representation z and ``output_grads[k] = ∂L_k/∂z`` this is the
    task Jacobian of the trunk's parameters by the chain rule, without a vmapped pass through
    the task heads (:mod:`mtl_lib.core.heads`). ``batched`` as in :func:`task_jacobians`."""
    num_rows = output_grads.shape[0]
    if batched:
        try:
            grads = torch.autograd.grad(
                output,
                params,
                grad_outputs=output_grads,
                is_grads_batched=True,
                retain_graph=retain_graph,
                allow_unused=True,
            )
            return _fill_unused(grads, params, num_rows)
        except RuntimeError as error:
            _warn_fallback(error)
    rows = []
    for k in range(num_rows):
        keep = retain_graph or k < num_rows - 1
        grads = torch.autograd.grad(output, params, grad_outputs=output_grads[k], retain_graph=keep, allow_unused=True)
        rows.append(_fill_unused(grads, params, None))
    return [torch.stack([row[i] for row in rows]) for i in range(len(params))]


def _warn_fallback(error: RuntimeError) -> None:
    global _warned_fallback
    if not _warned_fallback:
        warnings.warn(
            "batched backward (is_grads_batched=True) is not supported by an operator in "
            f"this model ({str(error).splitlines()[0][:200]}); computing the task Jacobian "
            "with one backward pass per task instead (slower, same result).",
            BatchedJacobianFallbackWarning,
            stacklevel=3,
        )
        _warned_fallback = True


def _fill_unused(
    grads: Sequence[torch.Tensor | None], params: Sequence[torch.Tensor], num_tasks: int | None
) -> list[torch.Tensor]:
    filled = []
    for grad, param in zip(grads, params):
        if grad is None:
            shape = param.shape if num_tasks is None else (num_tasks, *param.shape)
            grad = torch.zeros(shape, device=param.device, dtype=param.dtype)
        filled.append(grad)
    return filled


def flatten_rows(per_param: Sequence[torch.Tensor]) -> torch.Tensor:
    """``[(K, *shape_i)]`` → ``(K, Σ_i numel_i)``."""
    return torch.cat([g.reshape(g.shape[0], -1) for g in per_param], dim=1)


def unflatten_into_grads(vector: torch.Tensor, params: Sequence[torch.Tensor]) -> None:
    """Write a flat ``(P,)`` vector into ``param.grad`` for each parameter, in order.

    One copy of the whole vector (so later in-place edits of a ``.grad``, e.g. gradient
    clipping, do not reach the aggregation the vector came from), then a view per parameter."""
    total = sum(param.numel() for param in params)
    if total != vector.numel():
        raise ValueError(f"vector has {vector.numel()} entries, parameters have {total}")
    owned = vector.detach().clone()
    offset = 0
    for param in params:
        n = param.numel()
        param.grad = owned[offset : offset + n].view_as(param)
        offset += n


def per_task_rows(aggregation: Any, jacobian: torch.Tensor | None) -> torch.Tensor | None:
    """Each task's contribution to this step's direction, as rows ``(K, P)`` that sum to it.

    ``aggregation`` is what an aggregator returned (an ``Aggregation``: read by attribute, so
    this layer does not import the aggregators): its modified per-task gradients when the
    method has them (PCGrad, GradVac, GradDrop, or the raw Jacobian for plain summing), else
    ``w_k · g_k`` for methods whose direction is Σ_k w_k g_k and that report the weights (MGDA,
    IMTL-G, Nash-MTL, CAGrad, ...), else ``None`` (a direction-only method without weights, or no
    aggregation at this step)."""
    if aggregation is None:
        return None
    rows = getattr(aggregation, "task_gradients", None)
    if rows is not None:
        return rows
    weights = getattr(aggregation, "weights", None)
    if weights is not None and jacobian is not None:
        return weights.unsqueeze(1) * jacobian
    return None


GRANULARITIES = ("layer", "parameter", "whole")


def parameter_blocks(names: list[str], sizes: list[int], granularity: str = "layer") -> list[tuple[str, int, int]]:
    """Split the Jacobian's columns into blocks ``(label, start, end)``.

    ``"layer"`` groups consecutive tensors whose names share everything before the last dot
    (a module's weight and bias); ``"parameter"`` gives one block per tensor; ``"whole"`` one
    block labelled ``"all"``.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if len(names) != len(sizes):
        raise ValueError(f"{len(names)} names for {len(sizes)} sizes")
    total = sum(sizes)
    if granularity == "whole":
        return [("all", 0, total)]
    blocks: list[tuple[str, int, int]] = []
    start = 0
    for name, size in zip(names, sizes):
        label = name if granularity == "parameter" else name.rsplit(".", 1)[0]
        if granularity == "layer" and blocks and blocks[-1][0] == label and blocks[-1][2] == start:
            blocks[-1] = (label, blocks[-1][1], start + size)
        else:
            blocks.append((label, start, start + size))
        start += size
    return blocks
