"""Evaluation metrics for multi-task learning.

All functions are pure, take ``torch.Tensor`` inputs and (unless stated
otherwise) return Python floats.  They are device-agnostic: every reduction
happens on the device of the inputs and only the final scalar(s) are moved to
the host (via ``.item()`` / ``.tolist()``).

Conventions follow the multi-task literature on NYUv2 / CityScapes:

* segmentation (mIoU, pixel accuracy) and depth (absolute / relative error)
  follow MTAN (Liu et al., 2019) and the evaluation code reused by CAGrad
  (Liu et al., 2021);
* task-normalized errors: RMSE divided by a scale of the targets (``task_normalized_rmse``,
  one reading of AdaTask's "Task-Normalized RMSE, following GradNorm"), and GradNorm's own
  normalisation, the ratio of a task's test loss to its value at initialisation
  (``loss_ratio``, and its square root ``rmse_ratio``; Chen et al., ICML 2018, §4);
* the average relative improvement :math:`\\Delta_p` is AdaTask's (Yang et al., AAAI 2023,
  "CityScapes Dataset Results", under Table 1): the negative of CAGrad's :math:`\\Delta_m`
  (Liu et al., 2021, §5.2, after Maninis et al., 2019), whose baseline is single-task learning.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

__all__ = [
    "accuracy",
    "confusion_matrix",
    "delta_p",
    "delta_p_bounds",
    "depth_errors",
    "loss_ratio",
    "miou",
    "pixel_accuracy",
    "rmse",
    "rmse_ratio",
    "task_normalized_rmse",
    "weighted_f1",
]


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _as_labels(scores_or_labels: Tensor, targets: Tensor) -> Tensor:
    """Turn class scores into hard labels, checking shapes against ``targets``.

    ``scores_or_labels`` may either have the same shape as ``targets`` (already
    labels) or one extra class dimension at position 1 (logits / scores, e.g.
    ``(N, C)`` vs ``(N,)`` or ``(N, C, H, W)`` vs ``(N, H, W)``); in the
    latter case the arg-max over dimension 1 is taken.
    """
    if not isinstance(scores_or_labels, Tensor) or not isinstance(targets, Tensor):
        raise TypeError("predictions and targets must be torch.Tensor")
    x, t = scores_or_labels, targets
    if x.dim() == t.dim() + 1:
        if x.shape[0] != t.shape[0] or x.shape[2:] != t.shape[1:]:
            raise ValueError(
                f"shape mismatch: logits of shape {tuple(x.shape)} are not "
                f"compatible with targets of shape {tuple(t.shape)} "
                "(expected logits (N, C, *rest) for targets (N, *rest))"
            )
        if x.shape[1] == 0:
            raise ValueError(f"logits of shape {tuple(x.shape)} have no classes")
        return x.argmax(dim=1)
    if x.shape == t.shape:
        return x.long()
    raise ValueError(
        f"shape mismatch: predictions of shape {tuple(x.shape)} vs targets of "
        f"shape {tuple(t.shape)} (expected labels of the same shape or logits "
        "with an extra class dimension at position 1)"
    )


def _check_same_shape(pred: Tensor, target: Tensor, what: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"{what}: shape mismatch between pred {tuple(pred.shape)} and target {tuple(target.shape)}")


# --------------------------------------------------------------------------- #
# classification
# --------------------------------------------------------------------------- #
def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Confusion matrix ``M`` of shape ``(C, C)`` with ``M[i, j]`` = number of
    samples with true class ``i`` predicted as class ``j`` (rows = true,
    columns = predicted; the scikit-learn convention).

    ``preds`` and ``targets`` are integer label tensors of identical shape (any
    shape; they are flattened).  Computed as ``bincount(C * t + p)`` on the
    inputs' device; returns an ``int64`` tensor on that device.  Labels outside
    ``[0, C)`` raise ``ValueError`` (this check needs one device sync).
    """
    if num_classes <= 0:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    _check_same_shape(preds, targets, "confusion_matrix")
    p = preds.reshape(-1).long()
    t = targets.reshape(-1).long()
    if p.numel() > 0:
        bad = (p < 0) | (p >= num_classes) | (t < 0) | (t >= num_classes)
        if bool(bad.any()):
            raise ValueError(f"labels must lie in [0, {num_classes}); found out-of-range values in preds or targets")
    counts = torch.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def accuracy(logits_or_labels: Tensor, targets: Tensor) -> float:
    """Top-1 accuracy ``(1/N) * sum_i [yhat_i == y_i]``.

    ``logits_or_labels`` is either logits ``(N, C)`` (arg-max is taken) or
    predicted labels ``(N,)``; ``targets`` are labels ``(N,)``.
    """
    if targets.dim() != 1:
        raise ValueError(f"targets must have shape (N,), got {tuple(targets.shape)}")
    preds = _as_labels(logits_or_labels, targets)
    if targets.numel() == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    return (preds == targets.long()).float().mean().item()


def weighted_f1(logits_or_labels: Tensor, targets: Tensor, num_classes: int | None = None) -> float:
    """Support-weighted F1 score (scikit-learn ``average='weighted'``).

    Per class ``c`` with confusion matrix ``M``: ``tp_c = M[c, c]``,
    ``support_c = sum_j M[c, j]``, ``predicted_c = sum_i M[i, c]`` and
    ``F1_c = 2 tp_c / (predicted_c + support_c)`` (= harmonic mean of precision
    and recall; defined as 0 when the denominator is 0, which matches
    scikit-learn with ``zero_division=0``; a class with support but no
    predictions gets ``F1_c = 0``).  The result is
    ``sum_c support_c * F1_c / sum_c support_c``, so classes with zero support
    get weight zero.

    ``num_classes`` defaults to ``C`` of the logits, or (for labels) to
    ``max(label) + 1`` (which needs a device sync).
    """
    if targets.dim() != 1:
        raise ValueError(f"targets must have shape (N,), got {tuple(targets.shape)}")
    preds = _as_labels(logits_or_labels, targets)
    if targets.numel() == 0:
        raise ValueError("F1 of an empty batch is undefined")
    if num_classes is None:
        inferred = int(torch.maximum(preds.max(), targets.long().max()).item()) + 1
        if logits_or_labels.dim() == targets.dim() + 1:
            inferred = max(inferred, logits_or_labels.shape[1])
        num_classes = inferred
    cm = confusion_matrix(preds, targets, num_classes).double()
    tp = cm.diagonal()
    support = cm.sum(dim=1)
    predicted = cm.sum(dim=0)
    denom = support + predicted
    f1 = torch.where(denom > 0, 2.0 * tp / denom.clamp_min(1.0), torch.zeros_like(tp))
    return ((f1 * support).sum() / support.sum()).item()


# --------------------------------------------------------------------------- #
# regression
# --------------------------------------------------------------------------- #
def rmse(pred: Tensor, target: Tensor) -> float:
    """Root-mean-square error ``sqrt(mean((pred - target)^2))`` over all
    elements (shapes must match exactly)."""
    _check_same_shape(pred, target, "rmse")
    if pred.numel() == 0:
        raise ValueError("rmse of an empty tensor is undefined")
    diff = pred.double() - target.double()
    return diff.square().mean().sqrt().item()


def task_normalized_rmse(pred: Tensor, target: Tensor, scale: float) -> float:
    """Task-normalized RMSE ``rmse(pred, target) / scale``, which makes errors of
    regression tasks with different units comparable.  ``scale`` is chosen by
    the caller, e.g. the standard deviation (or the root mean square) of that
    task's training targets; it must be ``> 0``.  (GradNorm's own normalisation
    is the loss ratio, :func:`loss_ratio`.)"""
    scale = float(scale)
    if not scale > 0:  # also rejects NaN
        raise ValueError(f"scale must be > 0, got {scale}")
    return rmse(pred, target) / scale


def _mse(pred: Tensor, target: Tensor, what: str) -> float:
    _check_same_shape(pred, target, what)
    if pred.numel() == 0:
        raise ValueError(f"{what} of an empty tensor is undefined")
    return (pred.double() - target.double()).square().mean().item()


def _initial(initial_loss: float) -> float:
    initial = float(initial_loss)
    if not (initial > 0 and initial < float("inf")):  # also rejects NaN
        raise ValueError(
            f"initial_loss must be a finite number > 0 (the task's squared loss at initialisation), got {initial}"
        )
    return initial


def loss_ratio(pred: Tensor, target: Tensor, initial_loss: float) -> float:
    """GradNorm's task-normalized loss ``L(T) / L(0)``, with ``L`` the mean
    squared error ``mean((pred - target)^2)`` over all elements and
    ``initial_loss`` = ``L(0)``, the same loss of the *initialised* model on the
    same evaluation set (Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm",
    ICML 2018, arXiv 1711.02257, §4 "A Toy Example": the loss ratio
    ``L_i(t)/L_i(0)`` that also drives its weights).  1 means no progress since
    initialisation; unlike RMSE / std it does not depend on the targets' units,
    only on how far the initial network was from them."""
    return _mse(pred, target, "loss_ratio") / _initial(initial_loss)


def rmse_ratio(pred: Tensor, target: Tensor, initial_loss: float) -> float:
    """``RMSE(T) / RMSE(0) = sqrt(L(T) / L(0))``: the square root of
    :func:`loss_ratio` (``initial_loss`` is ``L(0)``, a mean squared error), an
    RMSE-scaled reading of GradNorm's task normalisation."""
    return (_mse(pred, target, "rmse_ratio") / _initial(initial_loss)) ** 0.5


# --------------------------------------------------------------------------- #
# dense prediction (segmentation / depth)
# --------------------------------------------------------------------------- #
def _valid_seg_labels(seg_logits_or_labels: Tensor, targets: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    if targets.dim() != 3:
        raise ValueError(f"targets must have shape (N, H, W), got {tuple(targets.shape)}")
    preds = _as_labels(seg_logits_or_labels, targets)
    t = targets.long()
    valid = t != ignore_index
    return preds[valid], t[valid]


def miou(
    seg_logits_or_labels: Tensor,
    targets: Tensor,
    num_classes: int,
    ignore_index: int = -1,
) -> float:
    """Mean intersection-over-union for semantic segmentation.

    With the confusion matrix ``M`` over all valid pixels of the batch
    (pixels whose target equals ``ignore_index`` are dropped, together with
    their predictions), ``IoU_c = M[c, c] / (sum_j M[c, j] + sum_i M[i, c] -
    M[c, c])`` and the result is the mean of ``IoU_c`` over the classes whose
    union is non-zero, i.e. that appear in the prediction or the target (the
    MTAN / CAGrad convention, e.g. on the 7-class CityScapes split).

    Input: logits ``(N, C, H, W)`` or labels ``(N, H, W)``; targets
    ``(N, H, W)``.  Pixels are pooled over the whole batch.
    """
    preds, t = _valid_seg_labels(seg_logits_or_labels, targets, ignore_index)
    if t.numel() == 0:
        raise ValueError("mIoU is undefined: no valid (non-ignored) pixels")
    cm = confusion_matrix(preds, t, num_classes).double()
    inter = cm.diagonal()
    union = cm.sum(dim=0) + cm.sum(dim=1) - inter
    present = union > 0
    iou = inter / union.clamp_min(1.0)
    return (iou[present].sum() / present.sum()).item()


def pixel_accuracy(seg_logits_or_labels: Tensor, targets: Tensor, ignore_index: int = -1) -> float:
    """Pixel accuracy ``#{correct valid pixels} / #{valid pixels}``, where a
    pixel is valid iff its target differs from ``ignore_index`` (MTAN).
    Input: logits ``(N, C, H, W)`` or labels ``(N, H, W)``; targets
    ``(N, H, W)``."""
    preds, t = _valid_seg_labels(seg_logits_or_labels, targets, ignore_index)
    if t.numel() == 0:
        raise ValueError("pixel accuracy is undefined: no valid (non-ignored) pixels")
    return (preds == t).double().mean().item()


def _squeeze_depth(x: Tensor, name: str) -> Tensor:
    if x.dim() == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.dim() == 3:
        return x
    raise ValueError(f"{name} must have shape (N, 1, H, W) or (N, H, W), got {tuple(x.shape)}")


def depth_errors(pred: Tensor, target: Tensor) -> tuple[float, float]:
    """Absolute and relative depth error ``(abs_err, rel_err)`` (MTAN).

    Pixels with ``target == 0`` carry no ground truth and are excluded.  Over
    the set ``V`` of valid pixels of the whole batch:
    ``abs_err = mean_V |pred - target|`` and
    ``rel_err = mean_V |pred - target| / target``.

    Shapes ``(N, 1, H, W)`` or ``(N, H, W)`` (the singleton channel is
    squeezed, so the two may be mixed).
    """
    p = _squeeze_depth(pred, "pred")
    t = _squeeze_depth(target, "target")
    if p.shape != t.shape:
        raise ValueError(
            f"depth_errors: shape mismatch between pred {tuple(pred.shape)} and target {tuple(target.shape)}"
        )
    valid = t != 0
    p = p[valid].double()
    t = t[valid].double()
    if t.numel() == 0:
        raise ValueError("depth errors are undefined: no valid (non-zero) depth pixels")
    abs_diff = (p - t).abs()
    abs_err, rel_err = torch.stack([abs_diff.mean(), (abs_diff / t).mean()]).tolist()
    return abs_err, rel_err


# --------------------------------------------------------------------------- #
# multi-task summary
# --------------------------------------------------------------------------- #
def delta_p(
    method: Mapping[str, float],
    baseline: Mapping[str, float],
    higher_is_better: Mapping[str, bool],
) -> float:
    """Average relative improvement over a baseline, in percent.

    ``Delta_p = 100 * (1/M) * sum_p (-1)^{I_p} (M_m,p - M_b,p) / M_b,p``
    over the ``M`` metrics ``p`` (one term per metric, not per task), with ``I_p = 0`` if
    higher is better for metric ``p`` and ``I_p = 1`` otherwise: positive means better than
    the baseline. This is AdaTask's Δp (Yang et al., AAAI 2023, "CityScapes Dataset Results":
    ``1/4`` over Abs Err, Rel Err, mIoU and Pix Acc, baseline ``b`` = EqualWeight; the paper
    prints it in %). CAGrad's ``Delta_m`` (Liu et al., NeurIPS 2021, §5.2, after Maninis et al.,
    CVPR 2019) is the same sum with the opposite sign (``l_i = 1`` if higher is better: a
    *drop*, lower is better) and the single-task baseline; pass that baseline and negate to get
    it. The three mappings must have exactly the same keys; a zero baseline value raises
    ``ValueError``.
    """
    keys = set(baseline)
    for name, mapping in (("method", method), ("higher_is_better", higher_is_better)):
        if set(mapping) != keys:
            missing = sorted(keys - set(mapping))
            extra = sorted(set(mapping) - keys)
            raise ValueError(f"{name} keys do not match baseline keys: missing {missing}, extra {extra}")
    if not keys:
        raise ValueError("delta_p needs at least one metric")
    total = 0.0
    for key in baseline:
        base = float(baseline[key])
        if base == 0.0:
            raise ValueError(f"baseline value for {key!r} is zero; relative change undefined")
        rel = (float(method[key]) - base) / base
        total += rel if higher_is_better[key] else -rel
    return 100.0 * total / len(keys)


def delta_p_bounds(
    method: Mapping[str, float],
    baseline: Mapping[str, float],
    higher_is_better: Mapping[str, bool],
    half_width: Mapping[str, float],
) -> tuple[float, float]:
    """The smallest and largest :func:`delta_p` over all metric values within ``± half_width[p]``
    of the given ones, in both the method and the baseline (e.g. half a unit of the last
    printed digit: what a table's rounded numbers allow). Each term ``±(m - b)/b`` is monotone
    in ``m`` and in ``b`` (for positive values), so the extremes sit at the corners: the best
    case takes the better end of ``m`` and the worse end of ``b``. Used to check a published Δp
    against the published metrics it was computed from."""
    if set(half_width) != set(baseline):
        raise ValueError(f"half_width keys {sorted(half_width)} do not match baseline keys {sorted(baseline)}")
    for key, base in baseline.items():
        if not float(base) - float(half_width[key]) > 0:
            raise ValueError(f"baseline {key!r} = {base} ± {half_width[key]} reaches 0; bounds need b > 0")

    def corner(best: bool) -> dict[str, dict[str, float]]:
        ends: dict[str, dict[str, float]] = {"method": {}, "baseline": {}}
        for key in baseline:
            # best case: the method's value moves towards better, the baseline's towards worse
            up = higher_is_better[key] == best  # does the method's value move up?
            step = float(half_width[key])
            ends["method"][key] = float(method[key]) + (step if up else -step)
            ends["baseline"][key] = float(baseline[key]) - (step if up else -step)
        return ends

    low, high = corner(best=False), corner(best=True)
    return (
        delta_p(low["method"], low["baseline"], higher_is_better),
        delta_p(high["method"], high["baseline"], higher_is_better),
    )
