"""Gradient aggregators: the task Jacobian of the shared parameters → an update direction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from mtl_lib.core.registry import Registry


class ConvergenceWarning(RuntimeWarning):
    """An iterative solver inside an aggregator stopped before meeting its tolerance. The
    aggregator still returns its best iterate, warns, and counts the event in ``failures``."""


@dataclass
class Aggregation:
    """What an aggregator returns.

    ``direction`` (shape ``(P,)``) is what a plain optimizer receives as the gradient of the
    shared parameters. ``task_gradients`` (shape ``(K, P)``) is set by methods that modify each
    task's gradient separately (PCGrad, GradVac, GradDrop); then ``direction`` is their sum,
    and a task-aware optimizer such as AdaTask can consume the rows instead.
    """

    direction: torch.Tensor
    task_gradients: torch.Tensor | None = None
    #: For methods whose direction is Σ_k w_k g_k (MGDA, IMTL-G, Nash-MTL, CAGrad, ...): the
    #: weights w. A task-aware optimizer (AdaTask) then receives the rows w_k·g_k, which sum to
    #: the direction — the library's rule for combining direction-only methods with AdaTask.
    weights: torch.Tensor | None = None


class Aggregator:
    """Base class. ``__call__(jacobian)`` takes the ``(K, P)`` matrix whose row ``k`` is the
    gradient of task ``k``'s (weighted) loss with respect to the flattened shared parameters.

    Convention: directions are on the *sum* scale, i.e. with no conflict at all a method returns
    ``jacobian.sum(0)``, the gradient of the equal-weight objective.
    """

    #: True when :class:`Aggregation` carries modified per-task gradients.
    exposes_task_gradients: bool = False

    #: False (the default): the aggregator sees the Jacobian of the shared parameters only and
    #: task-specific parameters get their own task's gradient. True: it sees the Jacobian of
    #: *all* trainable parameters (shared columns first, then each task's, in order) and its
    #: direction is applied to all of them — the semantics of optimizer-wrapper implementations
    #: such as the popular PyTorch port of PCGrad. Such aggregators receive
    #: ``bind_all_parameters(names, sizes, shared)`` instead of ``bind_shared_parameters``.
    acts_on_all_parameters: bool = False

    #: True when the method also reads the step's per-task loss values (MGDA's ``loss``
    #: normalisations, MoCo's loss-scaled gradients, DB-MTL's log-loss gradients). The trainer
    #: then calls ``aggregator(jacobian, losses=...)`` with the detached values whose gradients
    #: are the Jacobian's rows (the weighted terms; the raw losses under EW), and
    #: :meth:`aggregate` receives them as ``losses``. An instance may set it in ``__init__`` when
    #: only some options need the losses.
    needs_losses: bool = False

    def bind_all_parameters(self, names: list[str], sizes: list[int], shared: list[bool]) -> None:
        """Called instead of :meth:`bind_shared_parameters` when ``acts_on_all_parameters``."""

    def bind_shared_parameters(self, names: list[str], sizes: list[int]) -> None:
        """Called once by the trainer with the name and size of every shared parameter tensor,
        in the Jacobian's column order. Layer-wise methods (GradVac) override it to learn the
        block structure; the default ignores it."""

    def __call__(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        if jacobian.dim() != 2:
            raise ValueError(f"expected a (K, P) Jacobian, got shape {tuple(jacobian.shape)}")
        if not self.needs_losses:
            return self.aggregate(jacobian)
        return self.aggregate(jacobian, losses=self._checked_losses(jacobian, losses))

    def _checked_losses(self, rows: torch.Tensor, losses: torch.Tensor | None) -> torch.Tensor:
        """The step's losses as a detached ``(K,)`` tensor on ``rows``' device and dtype."""
        if losses is None:
            raise ValueError(
                f"{self!r} needs the step's per-task losses: call it as aggregator(jacobian, "
                "losses=...) (the Trainer does this when needs_losses is True)"
            )
        if losses.shape != (rows.shape[0],):
            raise ValueError(f"expected {rows.shape[0]} losses, got shape {tuple(losses.shape)}")
        return losses.detach().to(device=rows.device, dtype=rows.dtype)

    def aggregate(self, jacobian: torch.Tensor, **kwargs: Any) -> Aggregation:  # pragma: no cover
        """The method itself; receives ``losses=`` as well when ``needs_losses`` is True."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget internal state (EMA targets, tracked gradients, random streams)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} has no state, got keys {sorted(state)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GramianWeightedAggregator(Aggregator):
    """An aggregator whose direction is a combination of the task gradients, d = Jᵀw, with the
    weights w a function of the Gram matrix G = JJᵀ alone (MGDA, IMTL-G, Nash-MTL, Aligned-MTL).

    Because only G is needed, such a method can also run on the gradients with respect to the
    shared *representation* instead of the shared parameters (the "upper bound" trick of
    MGDA-UB): pass ``jacobian_of="representation"`` to the trainer. Subclasses implement
    :meth:`weights_from_gram`.
    """

    def weights_from_gram(self, gram: torch.Tensor, **kwargs: Any) -> torch.Tensor:  # pragma: no cover
        """The weights w; receives ``losses=`` as well when ``needs_losses`` is True."""
        raise NotImplementedError

    def gram_weights(self, gram: torch.Tensor, losses: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`weights_from_gram`, handing it the losses when the method reads them (the
        trainer's representation-level path calls this)."""
        if not self.needs_losses:
            return self.weights_from_gram(gram)
        return self.weights_from_gram(gram, losses=self._checked_losses(gram, losses))

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        weights = self.gram_weights(jacobian @ jacobian.T, losses)
        return Aggregation(direction=weights @ jacobian, weights=weights)


class Sum(Aggregator):
    """No aggregation: the direction is the sum of the task gradients (equal weighting).

    Useful as a reference and to exercise the Jacobian path with EW's result."""

    exposes_task_gradients = True

    def aggregate(self, jacobian: torch.Tensor) -> Aggregation:
        return Aggregation(direction=jacobian.sum(0), task_gradients=jacobian)


AGGREGATORS: Registry[Aggregator] = Registry("gradient aggregator")
AGGREGATORS.register("sum")(Sum)
