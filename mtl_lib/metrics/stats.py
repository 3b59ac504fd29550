"""Summaries over seeds or folds: mean and a 95 % confidence interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

# Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom (standard tables);
# beyond 30 the normal quantile 1.96 is within 2 %.
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t_quantile_975(dof: int) -> float:
    if dof < 1:
        raise ValueError(f"need at least 1 degree of freedom, got {dof}")
    return _T975[dof - 1] if dof <= len(_T975) else 1.96


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


def format_mean_ci(values: Sequence[float], digits: int = 4) -> str:
    mean, half = mean_ci95(values)
    return f"{mean:.{digits}f}" if math.isnan(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"
