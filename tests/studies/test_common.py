"""The reproduction protocol's verdicts on a paired difference (mtl_lib.studies._common)."""

import math

import pandas as pd
import pytest

from mtl_lib.metrics.stats import t_quantile_975
from mtl_lib.studies._common import (
    NOT_REPRODUCED,
    REPRODUCED,
    SAME_DIRECTION,
    UNDECIDED,
    Claim,
    PairedDifference,
    paired_difference,
)


def _difference(mean: float, se: float, n: int = 3) -> PairedDifference:
    return PairedDifference(mean, se * t_quantile_975(n - 1), n)


@pytest.mark.parametrize(
    ("mean", "se", "expected"),
    [
        (10.0, 1.0, REPRODUCED),  # lower end of the interval far above zero
        (2.0, 1.0, SAME_DIRECTION),  # mean 2 SE above zero, interval (half-width 4.3 SE) reaches below
        (-3.0, 1.0, NOT_REPRODUCED),  # clearly the other way
        (0.5, 1.0, UNDECIDED),  # mean within one SE of zero: its sign is noise
        (-0.5, 1.0, UNDECIDED),
        (4.3 + 0.5, 1.0, UNDECIDED),  # interval's lower end within one SE of zero
    ],
)
def test_verdict_bands(mean, se, expected):
    assert _difference(mean, se).verdict() == expected
    assert _difference(-mean, se).verdict("negative") == expected  # the claim's sign is symmetric


def test_verdict_is_scale_free():
    for scale in (1e-6, 1.0, 1e6):
        assert _difference(2.0 * scale, 1.0 * scale).verdict() == SAME_DIRECTION
        assert _difference(0.5 * scale, 1.0 * scale).verdict() == UNDECIDED


def test_identical_runs_and_single_pairs_keep_the_plain_rule():
    # no spread at all (two methods that coincide): a definite "no difference", not the edge
    assert PairedDifference(0.0, 0.0, 5).verdict() == NOT_REPRODUCED
    assert PairedDifference(0.1, math.nan, 1).verdict() == SAME_DIRECTION
    assert PairedDifference(-0.1, math.nan, 1).verdict() == NOT_REPRODUCED
    assert PairedDifference(math.nan, math.nan, 0).verdict() == NOT_REPRODUCED


def test_claim_carries_the_edge_verdict():
    frame = pd.DataFrame({"method": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2,
                          "value": [1.0, 2.0, 3.05, 1.0, 2.1, 2.9]})  # fmt: skip
    diff = paired_difference(frame, "a", "b", "value")
    assert diff.n == 3 and abs(diff.mean - 0.0167) < 1e-3
    claim = Claim.difference("a beats b", "+1", diff.describe(), diff)
    assert claim.verdict == UNDECIDED and not claim.reproduced


@pytest.mark.parametrize(
    ("mean", "se", "expected"),
    [
        (-10.0, 1.0, NOT_REPRODUCED),  # significantly on the excluded side
        (-1.0, 1.0, REPRODUCED),  # interval reaches well across zero: no detectable effect
        (3.0, 1.0, REPRODUCED),
        (-4.3 - 0.5, 1.0, UNDECIDED),  # the interval's far end within one SE of zero
        (-4.3 + 0.5, 1.0, UNDECIDED),
    ],
)
def test_no_effect_verdict(mean, se, expected):
    assert _difference(mean, se).verdict_no_effect("negative") == expected
    assert _difference(-mean, se).verdict_no_effect("positive") == expected
