"""Gradient aggregators: the task Jacobian of the shared parameters → an update direction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from mtl_lib.core.errors import require_finite_rows
from mtl_lib.core.options import validating_init
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

    Calling it first checks that every entry is finite (:class:`~mtl_lib.core.errors.NonFiniteError`
    naming the task row otherwise), before any method touches its state.

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

    #: How the direction responds to scaling the whole Jacobian by s > 0: d(sJ) = s^p · d(J)
    #: with p = ``scale_equivariance`` (1 for methods on the sum scale; 0 for scale-free ones
    #: such as Nash-MTL; an instance may set a non-integer p, e.g. FairGrad's (1 − α)/(1 + α)),
    #: or ``None`` when there is no such rule (MoCo's step sizes act on JJᵀ).
    #: The fault tests use it to check extreme-scale inputs against well-scaled ones.
    scale_equivariance: float | None = 1

    #: Fewest tasks (rows of J) the method is defined for with its settings; fewer raise a
    #: ValueError naming the requirement (Krum and TrimmedMean need 3 by definition).
    min_tasks: int = 1

    #: True when the method also reads the step's per-task loss values (MGDA's ``loss``
    #: normalisations, MoCo's loss-scaled gradients, DB-MTL's log-loss gradients). The trainer
    #: then calls ``aggregator(jacobian, losses=...)`` with the detached values whose gradients
    #: are the Jacobian's rows (the weighted terms; the raw losses under EW), and
    #: :meth:`aggregate` receives them as ``losses``. An instance may set it in ``__init__`` when
    #: only some options need the losses.
    needs_losses: bool = False

    #: Options (``__init__`` arguments hinted ``float``) that may be ±inf on purpose; every
    #: other float option must be finite (:mod:`mtl_lib.core.options`).
    infinite_options: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # every method's options are checked against its type hints before its __init__ runs:
        # NaN/inf floats and non-integer ints are refused with the option's name
        super().__init_subclass__(**kwargs)
        validating_init(cls)

    def bind_all_parameters(self, names: list[str], sizes: list[int], shared: list[bool]) -> None:
        """Called instead of :meth:`bind_shared_parameters` when ``acts_on_all_parameters``."""

    def bind_shared_parameters(self, names: list[str], sizes: list[int]) -> None:
        """Called once by the trainer with the name and size of every shared parameter tensor,
        in the Jacobian's column order. Layer-wise methods (GradVac) override it to learn the
        block structure; the default ignores it."""

    def __call__(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        if jacobian.dim() != 2:
            raise ValueError(f"expected a (K, P) Jacobian, got shape {tuple(jacobian.shape)}")
        # Once here for every method, before any of them touches its state (EMA targets, tracked
        # gradients, cached weights): a NaN would otherwise poison it or break a solver obscurely.
        require_finite_rows(
            jacobian,
            "jacobian",
            owner=type(self).__name__,
            advice="A task's loss or gradient diverged or the batch holds NaN/inf: lower the "
            "learning rate, check the batch, or train with Trainer(..., nonfinite='skip').",
        )
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


def gram_matrix(jacobian: torch.Tensor) -> torch.Tensor:
    """G = J Jᵀ as a float64 tensor on J's device, accurate at any scale of the rows.

    Forming JJᵀ in float32 overflows for gradient norms above ~1e19 and loses tiny ones
    (below ~1e-19 their squares are subnormal). So each row is first divided by its largest
    absolute entry (its values then lie in [-1, 1]), the product is taken in J's dtype, and the
    row scales are multiplied back in float64: G_ij = s_i s_j (J_i/s_i)·(J_j/s_j). Cost: one
    reduction and one division over J besides the product itself. Detached: aggregators treat
    their weights as constants. On a device without float64 (Apple's MPS) the K×K result is on
    the CPU."""
    rows = jacobian.detach()
    scales = rows.abs().amax(dim=1) if rows.shape[1] else rows.new_zeros(rows.shape[0])
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    unit = rows / scales[:, None]
    product, s = unit @ unit.T, scales
    if product.device.type == "mps":
        product, s = product.cpu(), s.cpu()
    s = s.to(torch.float64)
    return product.to(torch.float64) * s[:, None] * s[None, :]


class GramianWeightedAggregator(Aggregator):
    """An aggregator whose direction is a combination of the task gradients, d = Jᵀw, with the
    weights w a function of the Gram matrix G = JJᵀ alone (MGDA, IMTL-G, Nash-MTL, Aligned-MTL).

    G is formed by :func:`gram_matrix` (float64, row-scaled, so extreme gradient norms neither
    overflow nor vanish); :meth:`weights_from_gram` may return any float dtype.

    Because only G is needed, such a method can also run on the gradients with respect to the
    shared *representation* instead of the shared parameters (the "upper bound" trick of
    MGDA-UB): pass ``jacobian_of="representation"`` to the trainer. Subclasses implement
    :meth:`weights_from_gram`.
    """

    #: While :meth:`weights_for` runs: the dtype of the gradients behind the (float64) Gram
    #: matrix, so that rank cut-offs follow their precision (float32 round-off is ~1e-7 of the
    #: largest eigenvalue, whatever the dtype the Gram matrix is held in). ``None`` otherwise.
    source_dtype: torch.dtype | None = None

    def weights_from_gram(self, gram: torch.Tensor, **kwargs: Any) -> torch.Tensor:  # pragma: no cover
        """The weights w; receives ``losses=`` as well when ``needs_losses`` is True."""
        raise NotImplementedError

    def gram_weights(self, gram: torch.Tensor, losses: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`weights_from_gram`, handing it the losses when the method reads them."""
        if not self.needs_losses:
            return self.weights_from_gram(gram)
        return self.weights_from_gram(gram, losses=self._checked_losses(gram, losses))

    def weights_for(self, gradients: torch.Tensor, losses: torch.Tensor | None = None) -> torch.Tensor:
        """Weights for the rows of a ``(K, N)`` gradient matrix (parameters or representation),
        from its row-scaled float64 Gram matrix (:func:`gram_matrix`), in the rows' dtype."""
        self.source_dtype = gradients.dtype
        try:
            weights = self.gram_weights(gram_matrix(gradients), losses)
        finally:
            self.source_dtype = None
        return weights.to(device=gradients.device, dtype=gradients.dtype)

    def eps_for(self, gram: torch.Tensor) -> float:
        """Machine epsilon of the gradients' dtype (see :attr:`source_dtype`)."""
        return torch.finfo(self.source_dtype or gram.dtype).eps

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        weights = self.weights_for(jacobian, losses)
        return Aggregation(direction=weights @ jacobian, weights=weights)


class Sum(Aggregator):
    """No aggregation: the direction is the sum of the task gradients (equal weighting).

    Useful as a reference and to exercise the Jacobian path with EW's result."""

    exposes_task_gradients = True

    def aggregate(self, jacobian: torch.Tensor) -> Aggregation:
        return Aggregation(direction=jacobian.sum(0), task_gradients=jacobian)


AGGREGATORS: Registry[Aggregator] = Registry("gradient aggregator")
AGGREGATORS.register("sum")(Sum)
