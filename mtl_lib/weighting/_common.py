"""Helpers shared by the loss-weighting methods (private: not a method, not auto-registered).

- :func:`lazy_task_parameter` / :func:`materialize` / :func:`load_lazy_parameters`: the
  registry builds a weighting without knowing the number of tasks K, yet the trainer hands the
  weighting's parameters to its optimizer at construction. Learnable per-task scales (UW,
  IMTL-L) are therefore ``UninitializedParameter`` s until the first ``forward`` sees K (they
  keep their identity when materialised, so the optimizer already holds them). Passing
  ``num_tasks`` creates them eagerly instead.
- :func:`gradient_split_terms`: writes a scalar objective Φ(L) that is not a weighted sum of the
  losses (GLS, STCH) as per-task terms whose sum has Φ's value *and* Φ's gradient.
- :func:`epoch_mean_losses`: the epoch-mean training losses from the trainer's record.
- :func:`warn_zero_losses` / :class:`ZeroLossWarning`: log-loss methods (FAMO, GLS, STCH) give
  a task whose loss sits exactly at its lower bound all the weight, and the others stop training.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mtl_lib.core.errors import require_finite_rows
from mtl_lib.core.history_keys import train_loss_key


def lazy_task_parameter(num_tasks: int | None, init: float) -> nn.Parameter:
    """A ``(K,)`` parameter filled with ``init``, or an uninitialised one when K is unknown."""
    if num_tasks is None:
        return nn.UninitializedParameter()
    return nn.Parameter(torch.full((num_tasks,), float(init)))


def materialize(param: nn.Parameter, losses: torch.Tensor, init: float) -> None:
    """Give an uninitialised per-task parameter its shape ``(K,)`` and value ``init``, on the
    losses' device and dtype; check the size of an initialised one."""
    if isinstance(param, nn.parameter.UninitializedParameter):
        param.materialize(losses.shape, device=losses.device, dtype=losses.dtype)
        with torch.no_grad():
            param.fill_(float(init))
    elif param.shape != losses.shape:
        raise ValueError(f"weighting has {param.shape[0]} task scales but got {losses.shape[0]} losses")


def load_lazy_parameters(module: nn.Module, state_dict: dict[str, Any], prefix: str) -> None:
    """Materialise still-uninitialised parameters with the shapes found in ``state_dict`` so that
    a fresh module can load a trained one's state (call from ``_load_from_state_dict``)."""
    for name, param in module.named_parameters(recurse=False):
        key = prefix + name
        if isinstance(param, nn.parameter.UninitializedParameter) and key in state_dict:
            param.materialize(state_dict[key].shape, dtype=state_dict[key].dtype)


def gradient_split_terms(objective: Callable[[torch.Tensor], torch.Tensor], losses: torch.Tensor) -> torch.Tensor:
    """Per-task terms for a scalar objective Φ(L) of the loss vector.

    term_k = g_k · L_k + (Φ − Σ_j g_j L_j) / K,   g = ∂Φ/∂L evaluated at the current losses
    (detached), the bracket detached too.

    Σ_k term_k has Φ's value and, by the chain rule, Φ's gradient with respect to every model
    parameter (∇Φ = Σ_k g_k ∇L_k). Row k of the task Jacobian an aggregator sees is then
    g_k ∇L_k, task k's share of that gradient, rather than ∇Φ/K for every k (which is what
    splitting the value Φ/K evenly would give, leaving an aggregator K identical rows).
    """
    with torch.enable_grad():  # the split needs ∂Φ/∂L even when called under no_grad
        point = losses.detach().requires_grad_(True)
        value = objective(point)
        (slope,) = torch.autograd.grad(value, point)
    # A slope beyond the dtype's range (e.g. STCH's 1/(L + n·eps) at a zero loss in float32) is
    # capped at the largest finite value: inf here would make the terms inf·0 = NaN.
    limit = torch.finfo(slope.dtype).max / (4 * max(losses.shape[0], 1))
    slope = torch.nan_to_num(slope, nan=0.0, posinf=limit, neginf=-limit)
    offset = (value.detach() - slope @ point.detach()) / losses.shape[0]
    return slope * losses + offset


def epoch_mean_losses(trainer: Any, record: dict[str, Any], like: torch.Tensor | None = None) -> torch.Tensor:
    """``(K,)`` tensor of ``record["<task name>/train_loss"]`` in the trainer's task order."""
    values = [float(record[train_loss_key(task.name)]) for task in trainer.tasks]
    if like is None:
        return torch.tensor(values, dtype=torch.float64)
    return torch.tensor(values, device=like.device, dtype=like.dtype)


def require_finite_history(owner: object, values: torch.Tensor) -> torch.Tensor:
    """Check epoch-mean losses before they enter a history (DWA, STCH): a NaN there would set
    every later epoch's weights to NaN. Returns them as a float64 CPU vector."""
    current = torch.as_tensor(values, dtype=torch.float64).detach().cpu().reshape(-1)
    require_finite_rows(
        current,
        "epoch-mean losses",
        owner=type(owner).__name__,
        advice="The history was left unchanged. An epoch whose every batch diverged has no mean "
        "loss: lower the learning rate or check the data.",
    )
    return current


def require_positive(owner: object, losses: torch.Tensor, why: str, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` naming the tasks whose loss is < 0 (or <= 0 unless ``allow_zero``)
    where the formula needs positive losses. One K-element reduction and host sync."""
    detached = losses.detach()
    invalid = detached < 0 if allow_zero else detached <= 0
    if not bool(invalid.any()):
        return
    bad = torch.nonzero(invalid.reshape(-1)).flatten().tolist()
    if bad:
        values = [float(losses.detach().reshape(-1)[k]) for k in bad]
        raise ValueError(
            f"{type(owner).__name__}: {why}; got loss(es) {values} for task(s) {bad}. Shift the "
            "loss to be positive (e.g. add a constant lower bound) or pick another weighting."
        )


class ZeroLossWarning(RuntimeWarning):
    """A task's loss sits exactly at the lower bound a log-loss weighting measures it from (FAMO,
    GLS, STCH with log losses): the method's weights 1/(L_k − m_k) then give that task (nearly)
    all the weight, and every other task's gradient is scaled by ~1e-8 or less — they stop
    training. Shift the bound below the losses' infimum (``min_losses`` / ``shift``), drop the
    task, or use a weighting without logarithms (EW, UW, DWA)."""


def warn_zero_losses(owner: object, gaps: torch.Tensor, consequence: str, fix: str) -> None:
    """Warn (:class:`ZeroLossWarning`) when any ``gaps`` entry (loss minus its lower bound, the
    quantity whose logarithm the method takes) is exactly zero. One K-element reduction."""
    zero = gaps.detach().reshape(-1) == 0
    if not bool(zero.any()):
        return
    tasks = torch.nonzero(zero).flatten().tolist()
    warnings.warn(
        f"{type(owner).__name__}: the loss of task(s) {tasks} equals its lower bound (a zero loss): "
        f"{consequence}, so the other tasks stop training. {fix}",
        ZeroLossWarning,
        stacklevel=3,
    )
