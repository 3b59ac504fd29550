"""Krum and TrimmedMean: TorchJD's Byzantine-robust aggregators."""

import pytest
import torch

from mtl_lib.aggregators import Krum, TrimmedMean
from tests.aggregators._agreement import (
    SEEDS,
    check_agreement,
    check_permutation,
    conflicting_jacobians,
)
from tests.aggregators._common import train_20_steps


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("num_tasks", "n_byzantine", "n_selected"),
    [(3, 0, 1), (4, 0, 2), (4, 1, 1), (5, 1, 2), (5, 2, 1)],
)
def test_krum_agrees_with_torchjd(num_tasks, n_byzantine, n_selected, seed):
    tj = pytest.importorskip("torchjd.aggregation")
    check_agreement(
        lambda: Krum(n_byzantine, n_selected),
        lambda: tj.Krum(n_byzantine, n_selected),
        num_tasks=num_tasks,
        seed=seed,
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("num_tasks", "trim"), [(2, 0), (3, 1), (4, 1), (5, 1), (5, 2)])
def test_trimmed_mean_agrees_with_torchjd(num_tasks, trim, seed):
    tj = pytest.importorskip("torchjd.aggregation")
    check_agreement(lambda: TrimmedMean(trim), lambda: tj.TrimmedMean(trim), num_tasks=num_tasks, seed=seed)


def test_krum_picks_the_central_gradient_and_resists_an_outlier():
    jac = torch.tensor([[1.0, 0.0], [1.1, 0.1], [0.9, -0.1], [100.0, -50.0]])
    # scores over the 2 nearest others: g0 has the smallest; the outlier never wins
    torch.testing.assert_close(Krum()(jac).direction, 4 * jac[0])
    # per coordinate, the largest and smallest entries are dropped: x from {1.0, 1.1}, y from
    # {0.0, -0.1}
    torch.testing.assert_close(TrimmedMean(1)(jac).direction, 4 * torch.tensor([1.05, -0.05]))


def test_scale_permutation_and_errors():
    (jac,) = conflicting_jacobians(5, seed=1)
    for factory in (Krum, TrimmedMean):
        torch.testing.assert_close(factory()(2.0 * jac).direction, 2.0 * factory()(jac).direction)
        check_permutation(factory, jac)
    with pytest.raises(ValueError, match="at least 3 tasks"):
        Krum()(jac[:2])
    with pytest.raises(ValueError, match="at least 3 tasks"):
        TrimmedMean()(jac[:2])


@pytest.mark.parametrize("name", ["krum", "trimmed_mean"])
def test_trains_through_the_engine(name):
    train_20_steps(name, 3)


def test_fixed_jacobian_agrees_with_torchjd():
    tj = pytest.importorskip("torchjd.aggregation")
    jac = torch.tensor([[1.0, 2, 0, -1], [-2, 1, 1, 0], [0.5, -1, 2, 1]], dtype=torch.float64)
    torch.testing.assert_close(Krum()(jac).direction / 3, tj.Krum(0)(jac))
    torch.testing.assert_close(TrimmedMean()(jac).direction / 3, tj.TrimmedMean(1)(jac))
