"""Summaries over seeds or folds: mean and a 95 % confidence interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.stats import t as student_t


def t_quantile_975(dof: int) -> float:
    """The 97.5 % quantile of Student's t with ``dof`` degrees of freedom (the factor of a
    two-sided 95 % interval), exact from :func:`scipy.stats.t.ppf` for every ``dof`` (a table cut
    at 30 with 1.96 beyond, as before, was 4 % short at 31 degrees of freedom)."""
    if isinstance(dof, bool) or not isinstance(dof, int) or dof < 1:
        raise ValueError(f"need a whole number ≥ 1 of degrees of freedom, got {dof!r}")
    return float(student_t.ppf(0.975, dof))


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t-interval (``nan`` half-width for one value)."""
    n = len(values)
    if n == 0:
        raise ValueError("mean_ci95 of no values")
    mean = sum(values) / n
    if n == 1:
        return mean, math.nan
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, t_quantile_975(n - 1) * math.sqrt(var / n)


def format_mean_ci(values: Sequence[float], digits: int = 4, *, signed: bool = False) -> str:
    """``mean ± half-width`` of the 95 % interval (the mean alone without one); ``signed`` prints
    the mean's sign (for differences such as Δm)."""
    mean, half = mean_ci95(values)
    shown = f"{mean:+.{digits}f}" if signed else f"{mean:.{digits}f}"
    return shown if math.isnan(half) else f"{shown} ± {half:.{digits}f}"
