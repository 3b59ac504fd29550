"""Tests for mtl_lib.metrics with small hand-computed examples."""

from __future__ import annotations

import math

import pytest
import torch

from mtl_lib.metrics import (
    accuracy,
    confusion_matrix,
    delta_p,
    delta_p_bounds,
    depth_errors,
    miou,
    pixel_accuracy,
    rmse,
    task_normalized_rmse,
    weighted_f1,
)
from mtl_lib.metrics.scores import loss_ratio, rmse_ratio


def one_hot_logits(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Logits whose arg-max over dim 1 is ``labels`` ((N, ...) -> (N, C, ...))."""
    oh = torch.nn.functional.one_hot(labels, num_classes).float()
    return oh.movedim(-1, 1) * 3.0 - 1.0


# --------------------------------------------------------------------------- #
# confusion matrix
# --------------------------------------------------------------------------- #
def test_confusion_matrix_rows_true_cols_pred():
    targets = torch.tensor([0, 0, 1, 2, 2, 2])
    preds = torch.tensor([0, 1, 1, 2, 0, 2])
    cm = confusion_matrix(preds, targets, 3)
    expected = torch.tensor([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert cm.dtype == torch.int64
    assert torch.equal(cm, expected)
    assert cm.sum().item() == 6


def test_confusion_matrix_rejects_out_of_range_and_shape_mismatch():
    with pytest.raises(ValueError, match="range"):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        confusion_matrix(torch.tensor([0, 1, 2]), torch.tensor([0, 1]), 3)


# --------------------------------------------------------------------------- #
# accuracy
# --------------------------------------------------------------------------- #
def test_accuracy_hand_example_logits_equal_labels():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 0.5], [0.0, 0.0, 1.0]])
    targets = torch.tensor([0, 1, 2, 2])
    # argmax = [0, 1, 0, 2] -> 3 of 4 correct
    assert accuracy(logits, targets) == pytest.approx(0.75)
    assert accuracy(logits.argmax(1), targets) == pytest.approx(0.75)


def test_accuracy_random_logits_equal_argmax():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 5, generator=g)
    targets = torch.randint(0, 5, (50,), generator=g)
    assert accuracy(logits, targets) == accuracy(logits.argmax(dim=1), targets)


def test_accuracy_perfect_and_shape_errors():
    targets = torch.tensor([2, 0, 1])
    assert accuracy(targets.clone(), targets) == 1.0
    assert accuracy(one_hot_logits(targets, 3), targets) == 1.0
    with pytest.raises(ValueError, match="shape"):
        accuracy(torch.zeros(4, 3), targets)
    with pytest.raises(ValueError, match="shape"):
        accuracy(torch.tensor([0, 1]), targets)


# --------------------------------------------------------------------------- #
# weighted F1
# --------------------------------------------------------------------------- #
def test_weighted_f1_hand_example_three_classes():
    targets = torch.tensor([0, 0, 0, 1, 1, 2])
    preds = torch.tensor([0, 0, 1, 1, 2, 2])
    # class 0: tp=2, predicted=2, support=3 -> F1 = 2*2/(2+3) = 0.8
    # class 1: tp=1, predicted=2, support=2 -> F1 = 2*1/(2+2) = 0.5
    # class 2: tp=1, predicted=2, support=1 -> F1 = 2*1/(2+1) = 2/3
    # weighted = (3*0.8 + 2*0.5 + 1*2/3) / 6 = 0.677777...
    expected = (3 * 0.8 + 2 * 0.5 + 1 * (2 / 3)) / 6
    assert weighted_f1(preds, targets) == pytest.approx(expected, abs=1e-6)
    assert weighted_f1(one_hot_logits(preds, 3), targets) == pytest.approx(expected, abs=1e-6)
    assert weighted_f1(preds, targets, num_classes=5) == pytest.approx(expected, abs=1e-6)


def test_weighted_f1_zero_support_and_zero_prediction_classes():
    targets = torch.tensor([0, 0, 1, 1])
    preds = torch.tensor([0, 0, 0, 3])
    # class 0: tp=2, predicted=3, support=2 -> F1 = 4/5 = 0.8
    # class 1: support 2 but never predicted -> F1 = 0
    # class 2: neither predicted nor present -> contributes nothing
    # class 3: predicted once, support 0 -> weight 0
    # weighted = (2*0.8 + 2*0) / 4 = 0.4
    assert weighted_f1(preds, targets, num_classes=4) == pytest.approx(0.4, abs=1e-6)
    assert weighted_f1(preds, targets) == pytest.approx(0.4, abs=1e-6)


def test_weighted_f1_perfect_and_errors():
    targets = torch.tensor([0, 1, 2, 2, 1])
    assert weighted_f1(targets.clone(), targets) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        weighted_f1(torch.tensor([0, 1]), targets)
    with pytest.raises(ValueError):
        weighted_f1(targets, targets, num_classes=2)  # label 2 out of range


def test_weighted_f1_matches_sklearn():
    sk_metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(123)
    for n, c in [(20, 3), (100, 7), (37, 10)]:
        targets = torch.randint(0, c, (n,), generator=g)
        preds = torch.randint(0, c, (n,), generator=g)
        ref = sk_metrics.f1_score(targets.numpy(), preds.numpy(), average="weighted", zero_division=0)
        assert weighted_f1(preds, targets, num_classes=c) == pytest.approx(ref, abs=1e-6)


# --------------------------------------------------------------------------- #
# regression
# --------------------------------------------------------------------------- #
def test_rmse_hand_example_and_perfect():
    pred = torch.tensor([1.0, 2.0, 3.0])
    target = torch.tensor([1.0, 2.0, 5.0])
    assert rmse(pred, target) == pytest.approx(math.sqrt(4.0 / 3.0))
    assert rmse(target, target) == 0.0
    with pytest.raises(ValueError, match=r"\(3,\).*\(3, 1\)"):
        rmse(pred, target.unsqueeze(1))


def test_task_normalized_rmse():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    # rmse = sqrt(4 / 4) = 1
    assert task_normalized_rmse(pred, target, 2.0) == pytest.approx(0.5)
    assert task_normalized_rmse(pred, target, 0.25) == pytest.approx(4.0)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="scale"):
            task_normalized_rmse(pred, target, bad)


# The four definitions of a task-normalized error (issue 22), each on one hand-computed example:
# pred - target = [0, 2, 0, 0] → squared errors [0, 4, 0, 0], L = MSE = 1, RMSE = 1.
HAND_PRED = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
HAND_TARGET = torch.tensor([[1.0, 0.0], [3.0, 4.0]])


def test_rmse_over_target_std_hand_example():
    # targets 1, 0, 3, 4: mean 2, deviations -1 -2 1 2, unbiased variance 10/3
    std = float(HAND_TARGET.std())
    assert std == pytest.approx(math.sqrt(10 / 3))
    assert task_normalized_rmse(HAND_PRED, HAND_TARGET, std) == pytest.approx(1 / math.sqrt(10 / 3))


def test_rmse_over_target_rms_hand_example():
    # root mean square of 1, 0, 3, 4 = sqrt(26 / 4)
    rms = float(HAND_TARGET.square().mean().sqrt())
    assert rms == pytest.approx(math.sqrt(6.5))
    assert task_normalized_rmse(HAND_PRED, HAND_TARGET, rms) == pytest.approx(1 / math.sqrt(6.5))


def test_loss_ratio_hand_example():
    # L(T) = 1; with L(0) = 4 the ratio is 1/4, with L(0) = 1 no progress (1)
    assert loss_ratio(HAND_PRED, HAND_TARGET, initial_loss=4.0) == pytest.approx(0.25)
    assert loss_ratio(HAND_PRED, HAND_TARGET, initial_loss=1.0) == pytest.approx(1.0)
    assert loss_ratio(HAND_TARGET, HAND_TARGET, initial_loss=4.0) == 0.0


def test_rmse_ratio_hand_example_is_the_square_root_of_the_loss_ratio():
    # RMSE(T) / RMSE(0) = 1 / 2 when L(0) = 4
    assert rmse_ratio(HAND_PRED, HAND_TARGET, initial_loss=4.0) == pytest.approx(0.5)
    assert rmse_ratio(HAND_PRED, HAND_TARGET, 9.0) == pytest.approx(math.sqrt(loss_ratio(HAND_PRED, HAND_TARGET, 9.0)))


@pytest.mark.parametrize("metric", [loss_ratio, rmse_ratio])
def test_loss_ratios_refuse_a_meaningless_initial_loss_and_bad_shapes(metric):
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="initial_loss must be a finite number > 0"):
            metric(HAND_PRED, HAND_TARGET, bad)
    with pytest.raises(ValueError, match="shape mismatch"):
        metric(HAND_PRED, HAND_TARGET.flatten(), 1.0)
    with pytest.raises(ValueError, match="empty"):
        metric(torch.zeros(0), torch.zeros(0), 1.0)


# --------------------------------------------------------------------------- #
# segmentation
# --------------------------------------------------------------------------- #
SEG_TARGET = torch.tensor([[[0, 0, 1], [1, -1, 2]]])  # (1, 2, 3), one ignored pixel
SEG_PRED = torch.tensor([[[0, 1, 1], [1, 2, 0]]])


def test_miou_hand_example():
    # valid (target, pred) pairs: (0,0) (0,1) (1,1) (1,1) (2,0)
    # class 0: inter 1, union 2 + 2 - 1 = 3 -> 1/3
    # class 1: inter 2, union 2 + 3 - 2 = 3 -> 2/3
    # class 2: inter 0, union 1 (its only prediction is on the ignored pixel) -> 0
    # mIoU = (1/3 + 2/3 + 0) / 3 = 1/3
    assert miou(SEG_PRED, SEG_TARGET, 3) == pytest.approx(1 / 3, abs=1e-6)
    assert miou(one_hot_logits(SEG_PRED, 3), SEG_TARGET, 3) == pytest.approx(1 / 3, abs=1e-6)
    # classes absent from prediction and target are not averaged over
    assert miou(SEG_PRED, SEG_TARGET, 7) == pytest.approx(1 / 3, abs=1e-6)


def test_miou_ignores_ignore_index_pixels():
    other = SEG_PRED.clone()
    other[0, 1, 1] = 0  # change the prediction on the ignored pixel only
    assert miou(other, SEG_TARGET, 3) == pytest.approx(miou(SEG_PRED, SEG_TARGET, 3))
    # custom ignore index
    target255 = SEG_TARGET.masked_fill(SEG_TARGET == -1, 255)
    assert miou(SEG_PRED, target255, 3, ignore_index=255) == pytest.approx(1 / 3, abs=1e-6)
    # without ignoring, 255 is an invalid class
    with pytest.raises(ValueError):
        miou(SEG_PRED, target255, 3)


def test_miou_perfect_and_errors():
    target = torch.tensor([[[0, 1], [2, -1]], [[1, 1], [0, 2]]])
    pred = target.clamp_min(0)
    assert miou(pred, target, 3) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        miou(torch.zeros(2, 3, 2, 3), target, 3)
    with pytest.raises(ValueError, match="shape"):
        miou(pred[:, :1], target, 3)
    with pytest.raises(ValueError, match="valid"):
        miou(pred, torch.full_like(target, -1), 3)


def test_pixel_accuracy_hand_example_and_ignore():
    # valid pixels: 5, correct: (0,0) (1,1) (1,1) -> 3/5
    assert pixel_accuracy(SEG_PRED, SEG_TARGET) == pytest.approx(0.6)
    assert pixel_accuracy(one_hot_logits(SEG_PRED, 3), SEG_TARGET) == pytest.approx(0.6)
    other = SEG_PRED.clone()
    other[0, 1, 1] = 1
    assert pixel_accuracy(other, SEG_TARGET) == pytest.approx(0.6)
    assert pixel_accuracy(SEG_TARGET.clamp_min(0), SEG_TARGET) == 1.0
    with pytest.raises(ValueError, match="shape"):
        pixel_accuracy(SEG_PRED, SEG_TARGET[:, :1])


# --------------------------------------------------------------------------- #
# depth
# --------------------------------------------------------------------------- #
def test_depth_errors_hand_example_ignores_zero_depth():
    pred = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    target = torch.tensor([[[2.0, 0.0], [1.0, 4.0]]])
    # valid pixels (target != 0): |1-2| = 1, |3-1| = 2, |4-4| = 0
    # abs_err = 3 / 3 = 1 ; rel_err = (1/2 + 2/1 + 0/4) / 3 = 5/6
    abs_err, rel_err = depth_errors(pred, target)
    assert abs_err == pytest.approx(1.0)
    assert rel_err == pytest.approx(5 / 6)
    # changing the prediction on the zero-depth pixel changes nothing
    other = pred.clone()
    other[0, 0, 1] = 100.0
    assert depth_errors(other, target) == pytest.approx((1.0, 5 / 6))
    # (N, 1, H, W) shapes, possibly mixed with (N, H, W)
    assert depth_errors(pred.unsqueeze(1), target.unsqueeze(1)) == pytest.approx((1.0, 5 / 6))
    assert depth_errors(pred.unsqueeze(1), target) == pytest.approx((1.0, 5 / 6))


def test_depth_errors_perfect_and_errors():
    target = torch.tensor([[[1.0, 0.0], [2.5, 4.0]]])
    assert depth_errors(target.clone(), target) == (0.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        depth_errors(torch.zeros(1, 2, 3), target)
    with pytest.raises(ValueError, match="shape"):
        depth_errors(torch.zeros(1, 3, 2, 2), target)
    with pytest.raises(ValueError, match="valid"):
        depth_errors(target, torch.zeros_like(target))


# --------------------------------------------------------------------------- #
# delta_p
# --------------------------------------------------------------------------- #
HIB = {"miou": True, "pix_acc": True, "abs_err": False, "rel_err": False}
BASE = {"miou": 0.50, "pix_acc": 0.80, "abs_err": 0.020, "rel_err": 0.50}


def test_delta_p_zero_for_baseline():
    assert delta_p(BASE, BASE, HIB) == 0.0


def test_delta_p_sign_convention():
    better_lower = dict(BASE, abs_err=0.010)  # halved error: better
    worse_lower = dict(BASE, abs_err=0.030)
    better_higher = dict(BASE, miou=0.60)
    assert delta_p(better_lower, BASE, HIB) > 0
    assert delta_p(worse_lower, BASE, HIB) < 0
    assert delta_p(better_higher, BASE, HIB) > 0
    # a single lower-is-better metric improved by 50 % over 4 metrics -> +12.5 %
    assert delta_p(better_lower, BASE, HIB) == pytest.approx(12.5)


def test_delta_p_hand_example():
    method = {"miou": 0.55, "pix_acc": 0.76, "abs_err": 0.018, "rel_err": 0.55}
    # miou:    +(0.55 - 0.50) / 0.50   = +0.10
    # pix_acc: +(0.76 - 0.80) / 0.80   = -0.05
    # abs_err: -(0.018 - 0.020) / 0.020 = +0.10
    # rel_err: -(0.55 - 0.50) / 0.50   = -0.10
    # Delta_p = 100 * (0.10 - 0.05 + 0.10 - 0.10) / 4 = 1.25 %
    assert delta_p(method, BASE, HIB) == pytest.approx(1.25)


def test_delta_p_key_mismatch_and_zero_baseline():
    missing = {k: v for k, v in BASE.items() if k != "rel_err"}
    with pytest.raises(ValueError, match="rel_err"):
        delta_p(missing, BASE, HIB)
    extra = dict(BASE, normal_err=1.0)
    with pytest.raises(ValueError, match="normal_err"):
        delta_p(extra, BASE, HIB)
    with pytest.raises(ValueError, match="pix_acc"):
        delta_p(BASE, BASE, {k: v for k, v in HIB.items() if k != "pix_acc"})
    with pytest.raises(ValueError, match="zero"):
        delta_p(BASE, dict(BASE, miou=0.0), HIB)


def test_delta_p_averages_over_metrics_not_tasks():
    """AdaTask: Δp = (1/4) Σ_p over the four metrics. With two metrics of one task and one of
    another the two readings differ: per metric (+30 + 0 − 30)/3 = 0 %, per task
    ((+30 + 0)/2 − 30)/2 = −7.5 %."""
    higher = {"a1": True, "a2": True, "b1": True}
    base = {"a1": 1.0, "a2": 2.0, "b1": 4.0}
    method = {"a1": 1.3, "a2": 2.0, "b1": 2.8}
    assert delta_p(method, base, higher) == pytest.approx(0.0, abs=1e-12)


def test_delta_p_is_minus_cagrads_delta_m():
    """CAGrad's Table 2 (CityScapes, Liu et al. 2021): its CAGrad row against the single-task
    'Independent' row prints Δm = 11.64 % (a drop, lower is better). delta_p with that baseline
    is its negative, within what the printed digits allow."""
    independent = {"miou": 74.01, "pix_acc": 93.16, "abs_err": 0.0125, "rel_err": 27.77}
    cagrad = {"miou": 75.16, "pix_acc": 93.48, "abs_err": 0.0141, "rel_err": 37.60}
    half = {"miou": 0.005, "pix_acc": 0.005, "abs_err": 0.00005, "rel_err": 0.005}
    low, high = delta_p_bounds(cagrad, independent, HIB, half)
    assert low <= -11.64 <= high
    assert low < delta_p(cagrad, independent, HIB) < high
    assert not low <= 11.64 <= high  # CAGrad's sign is the opposite one


def test_delta_p_bounds_by_hand():
    # higher is better, m = 1.0 ± 0.1, b = 0.5 ± 0.1: (0.9 − 0.6)/0.6 = 50 %, (1.1 − 0.4)/0.4 = 175 %
    assert delta_p_bounds({"x": 1.0}, {"x": 0.5}, {"x": True}, {"x": 0.1}) == pytest.approx((50.0, 175.0))
    # lower is better, m = 0.5 ± 0.1, b = 1.0 ± 0.1: 1 − 0.6/0.9 = 33.3 %, 1 − 0.4/1.1 = 63.6 %
    low, high = delta_p_bounds({"x": 0.5}, {"x": 1.0}, {"x": False}, {"x": 0.1})
    assert (low, high) == pytest.approx((100 / 3, 100 * 7 / 11))
    assert delta_p_bounds(BASE, BASE, HIB, {k: 0.0 for k in BASE}) == (0.0, 0.0)
    with pytest.raises(ValueError, match="half_width keys"):
        delta_p_bounds(BASE, BASE, HIB, {"miou": 0.1})
    with pytest.raises(ValueError, match="reaches 0"):
        delta_p_bounds(BASE, BASE, HIB, dict({k: 0.0 for k in BASE}, abs_err=0.02))


# --------------------------------------------------------------------------- #
# device
# --------------------------------------------------------------------------- #
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_metrics_on_cuda_match_cpu():
    dev = torch.device("cuda")
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 4, generator=g)
    targets = torch.randint(0, 4, (64,), generator=g)
    assert accuracy(logits.to(dev), targets.to(dev)) == pytest.approx(accuracy(logits, targets))
    assert weighted_f1(logits.to(dev), targets.to(dev)) == pytest.approx(weighted_f1(logits, targets))
    seg = torch.randn(2, 3, 5, 5, generator=g)
    seg_t = torch.randint(-1, 3, (2, 5, 5), generator=g)
    assert miou(seg.to(dev), seg_t.to(dev), 3) == pytest.approx(miou(seg, seg_t, 3))
    depth = torch.rand(2, 1, 5, 5, generator=g)
    depth_t = torch.rand(2, 1, 5, 5, generator=g).masked_fill(depth > 0.8, 0.0)
    assert depth_errors(depth.to(dev), depth_t.to(dev)) == pytest.approx(depth_errors(depth, depth_t))
