"""Evaluation: per-task scores (accuracy, weighted F1, RMSE, mIoU, depth errors, Δp) and the
statistics the book reports them with (mean and 95 % confidence interval over seeds/folds)."""

from mtl_lib.metrics.scores import (
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
from mtl_lib.metrics.stats import format_mean_ci, mean_ci95, t_quantile_975

__all__ = [
    "accuracy",
    "confusion_matrix",
    "delta_p",
    "delta_p_bounds",
    "depth_errors",
    "format_mean_ci",
    "mean_ci95",
    "miou",
    "pixel_accuracy",
    "rmse",
    "t_quantile_975",
    "task_normalized_rmse",
    "weighted_f1",
]
