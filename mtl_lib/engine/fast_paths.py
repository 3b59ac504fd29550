"""Cheaper exact ways to the same step: task gradients split at the heads, and the Gramian path.

* :class:`TaskSplit` (used by :func:`~mtl_lib.engine.backward.backward_through_jacobian` when
  the model's task parameters form one head per task reading one shared tensor z): one plain
  backward gives each head its own task's gradient and ∂L_k/∂z, and the vmapped backward runs
  through the trunk only (:mod:`mtl_lib.core.heads`). The first step it applies to is checked
  against the full vmapped Jacobian; a mismatch switches it off for good (``info`` says why).
* :func:`backward_through_gramian` (``Trainer(jacobian_of="gramian")``): the K×K Gramian from
  :class:`~mtl_lib.core.gramian.LayerwiseGramian`, weights from the aggregator's Gramian entry
  point (``gram_weights``), then Σ_k w_k ∂L_k/∂z (or Σ_k w_k L_k) back-propagated once. The K×P
  Jacobian is never formed; its non-finite check is on diag(G) (a NaN/inf in task k's
  gradient makes G_kk NaN), so it costs K numbers instead of a pass over K×P.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from mtl_lib.aggregators import Aggregation
from mtl_lib.core.errors import NonFiniteError, kind_of
from mtl_lib.core.gramian import GramianPathError, LayerwiseGramian, scaled_gram, verify_gramian
from mtl_lib.core.heads import HeadSplit
from mtl_lib.core.jacobian import BatchedJacobianFallbackWarning, task_jacobians, vector_jacobian_rows

#: Relative tolerance of the one-time check of the head split against the full Jacobian.
_SPLIT_RTOL = {torch.float64: 1e-9}


class TaskSplit:
    """The head split of one model (``None`` heads: the model does not have that shape)."""

    def __init__(self, model: torch.nn.Module, layout: Any) -> None:
        self.heads = HeadSplit.for_model(model, layout.per_task)
        self.verified = False
        #: What the trainer records: whether the split is used, and why not when it is not.
        self.info: dict[str, Any] = (
            {"task_split": "heads", "reason": "one head per task on one shared tensor (checked on first use)"}
            if self.heads is not None
            else {"task_split": "none", "reason": "task parameters do not form one module per task"}
        )

    def _disable(self, reason: str) -> None:
        if self.heads is not None:
            self.heads.close()
        self.heads = None
        self.info = {"task_split": "none", "reason": reason}

    def gradients(self, terms: torch.Tensor, layout: Any, path: Any) -> list[torch.Tensor] | None:
        """Shared parameters' ``(K, *shape)`` task rows, then every task parameter's own task's
        gradient and every weighting parameter's summed gradient (in ``layout.all()`` order);
        ``None`` when the split does not apply to this step (the caller takes the full path)."""
        heads = self.heads
        if heads is None or getattr(path, "probe", None) is not None or not heads.usable:
            return None
        own = layout.task_flat + layout.weighting
        zeta, own_grads = heads.representation_gradients(terms, own)
        assert heads.features is not None
        shared = vector_jacobian_rows(
            heads.features, layout.shared, zeta, retain_graph=not self.verified, batched=path.batched
        )
        own_filled = [g if g is not None else torch.zeros_like(p) for g, p in zip(own_grads, own)]
        if self.verified:
            return shared + own_filled
        self.verified = True
        reference = task_jacobians(terms, layout.all(), batched=path.batched)
        own_reference = _own_rows(reference[len(layout.shared) :], layout)
        if _close(shared, reference[: len(layout.shared)]) and _close(own_filled, own_reference):
            return shared + own_filled
        self._disable("the head split disagreed with the full Jacobian on its first step (a loss reads another head)")
        return reference[: len(layout.shared)] + own_reference


def _own_rows(grads: list[torch.Tensor], layout: Any) -> list[torch.Tensor]:
    """From full ``(K, *shape)`` rows: task k's parameters' row k, the weighting's row sum."""
    rows, offset = [], 0
    for k, params in enumerate(layout.per_task):
        rows += [g[k] for g in grads[offset : offset + len(params)]]
        offset += len(params)
    return rows + [g.sum(0) for g in grads[offset:]]


def _close(ours: list[torch.Tensor], reference: list[torch.Tensor]) -> bool:
    for a, b in zip(ours, reference):
        scale = float(b.abs().max()) if b.numel() else 0.0
        rtol = _SPLIT_RTOL.get(b.dtype, 1e-4)
        if b.numel() and float((a - b).abs().max()) > rtol * max(scale, 1e-30):
            return False
    return True


def check_gramian_level(aggregator: Any, weighting: Any, optimizer_consumes_rows: bool) -> None:
    """``jacobian_of="gramian"`` needs an aggregator whose weights depend on G alone and no
    ingredient that reads the Jacobian's rows."""
    if aggregator is None or not callable(getattr(aggregator, "gram_weights", None)):
        raise ValueError(
            "jacobian_of='gramian' needs an aggregator whose weights depend on the Gram matrix only "
            f"(a GramianWeightedAggregator such as 'mgda', 'upgrad', 'imtl_g'), got {aggregator!r}; "
            "use jacobian_of='parameters' for the others"
        )
    check = getattr(aggregator, "check_gram_only", None)
    if callable(check):
        check()
    if getattr(aggregator, "acts_on_all_parameters", False):
        raise ValueError(f"{aggregator!r} acts on all parameters; use jacobian_of='parameters'")
    if optimizer_consumes_rows or getattr(weighting, "needs_task_gradients", False):
        raise ValueError(
            "jacobian_of='gramian' never forms the task gradients, but the optimizer or the loss "
            "weighting reads them; use jacobian_of='parameters'"
        )


def gramian_weights(aggregator: Any, gram: torch.Tensor, losses: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The aggregator's weights from G, with its precision cut-offs set for ``dtype`` gradients."""
    aggregator.source_dtype = dtype
    try:
        weights = aggregator.gram_weights(gram, losses)
    finally:
        aggregator.source_dtype = None
    return weights.detach().to(device=losses.device, dtype=dtype)


def _check_gram(gram: torch.Tensor) -> None:
    diagonal = torch.diagonal(gram)
    if bool(torch.isfinite(diagonal).all()):
        return
    bad = torch.nonzero(~torch.isfinite(diagonal)).flatten().tolist()
    raise NonFiniteError(
        f"the task Gramian has {kind_of(diagonal)} values on the diagonal of task row(s) {bad}: that "
        "task's gradient of the shared parameters is not finite",
        quantity="jacobian",
        index=bad[0],
    )


_warned_vmap = False


def _layerwise_or_rows(
    gramian: LayerwiseGramian,
    terms: torch.Tensor,
    features: torch.Tensor | None,
    zeta: torch.Tensor | None,
    shared: list[torch.nn.Parameter],
) -> torch.Tensor:
    """The layer-wise G; when ``torch.vmap`` cannot run the model's backward (an operator or an
    old-style autograd.Function without a batching rule), G from the Jacobian's rows instead
    (same numbers, K×P memory), with one warning."""
    global _warned_vmap
    try:
        return gramian.compute(terms) if features is None else gramian.compute(features, zeta)
    except GramianPathError:
        raise
    except RuntimeError as error:
        if not _warned_vmap:
            warnings.warn(
                f"the layer-wise Gramian needs torch.vmap over the backward, which failed "
                f"({str(error).splitlines()[0][:200]}); forming G from the task Jacobian instead "
                "(same result, K×P memory)",
                BatchedJacobianFallbackWarning,
                stacklevel=3,
            )
            _warned_vmap = True
    if features is None:
        rows = task_jacobians(terms, shared, retain_graph=True)
    else:
        rows = vector_jacobian_rows(features, shared, zeta, retain_graph=True)
    return scaled_gram(torch.cat([g.reshape(g.shape[0], -1) for g in rows], dim=1))


def backward_through_gramian(
    terms: torch.Tensor, layout: Any, gramian: LayerwiseGramian, split: TaskSplit | None, aggregator: Any
) -> tuple[None, Aggregation]:
    """G layer by layer → weights w → Σ_k w_k (task gradient) back-propagated once; task and
    weighting parameters get the same gradients as on the Jacobian path."""
    heads = split.heads if split is not None else None
    own = layout.task_flat + layout.weighting
    features: torch.Tensor | None = None
    zeta: torch.Tensor | None = None
    if heads is not None and heads.usable:
        zeta, own_grads = heads.representation_gradients(terms, own)
        features = heads.features
    else:
        own_grads = _own_rows(task_jacobians(terms, own, retain_graph=True), layout) if own else []
    verify = gramian.verify
    gramian.verify = False  # checked below against the losses' own Jacobian instead
    gram = _layerwise_or_rows(gramian, terms, features, zeta, layout.shared)
    _check_gram(gram)
    if verify:
        reference = task_jacobians(terms, layout.shared, retain_graph=True)
        try:
            verify_gramian(gram, torch.cat([g.reshape(g.shape[0], -1) for g in reference], dim=1))
        except GramianPathError:
            gramian.close()
            raise
    dtype = layout.shared[0].dtype
    weights = gramian_weights(aggregator, gram, terms.detach(), dtype)
    if features is not None and zeta is not None:
        combined = torch.tensordot(weights.to(zeta.dtype), zeta, dims=1)
        torch.autograd.backward(features, grad_tensors=combined, inputs=layout.shared)
    else:
        torch.autograd.backward(weights.to(terms.dtype) @ terms, inputs=layout.shared)
    for param, grad in zip(own, own_grads):
        param.grad = grad if grad is not None else torch.zeros_like(param)
    direction = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in layout.shared])
    return None, Aggregation(direction=direction, weights=weights)
