import math

import pytest

from mtl_lib.metrics.stats import format_mean_ci, mean_ci95, t_quantile_975


def test_mean_ci_against_hand_computation():
    # values 1, 2, 3: mean 2, sample sd 1, se 1/sqrt(3), t(2) = 4.303
    mean, half = mean_ci95([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.303 / math.sqrt(3), rel=1e-4)  # t(0.975, 2) = 4.3027


def test_single_value_has_no_interval():
    mean, half = mean_ci95([5.0])
    assert mean == 5.0 and math.isnan(half)
    assert format_mean_ci([5.0], 2) == "5.00"


def test_quantiles():
    # exact quantiles (the old table said 2.042 at 30 and 1.96 from 31 on, 4 % short at 31)
    assert t_quantile_975(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile_975(30) == pytest.approx(2.0423, abs=1e-4)
    assert t_quantile_975(31) == pytest.approx(2.0395, abs=1e-4) and t_quantile_975(100) == pytest.approx(
        1.9840, abs=1e-4
    )
    with pytest.raises(ValueError):
        t_quantile_975(0)
