import pytest
import torch

from mtl_lib.aggregators import AGGREGATORS, ConFIG
from tests.aggregators._agreement import (
    SEEDS,
    TASK_COUNTS,
    check_agreement,
    check_non_conflicting,
    check_permutation,
    check_reference_agreement,
    check_scale,
    conflicting_jacobians,
)
from tests.aggregators._common import train_20_steps


def _theirs():
    from torchjd.aggregation import ConFIG as TorchJDConFIG

    return TorchJDConFIG()


def test_reference_value():
    check_reference_agreement(ConFIG, _theirs, sum_scale=False)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("num_tasks", TASK_COUNTS)
def test_agrees_with_torchjd(num_tasks, seed):
    check_agreement(ConFIG, _theirs, num_tasks=num_tasks, seed=seed, sum_scale=False)


def test_non_conflicting_with_equal_angles():
    check_non_conflicting(ConFIG)
    (jac,) = conflicting_jacobians(3, seed=1)
    direction = ConFIG()(jac).direction
    cosines = (jac @ direction) / (jac.norm(dim=1) * direction.norm())
    torch.testing.assert_close(cosines, cosines.mean().expand(3))


def test_scale_permutation_and_identical_gradients():
    (jac,) = conflicting_jacobians(4, seed=5)
    check_scale(ConFIG, jac, power=1.0)
    check_permutation(ConFIG, jac)
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    torch.testing.assert_close(ConFIG()(g.repeat(3, 1)).direction, 3 * g)


def test_zero_rows_stay_finite():
    jac = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    assert torch.isfinite(ConFIG()(jac).direction).all()
    assert torch.equal(ConFIG()(torch.zeros(2, 3)).direction, torch.zeros(3))
    assert isinstance(AGGREGATORS.build("config"), ConFIG)


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    train_20_steps("config", num_tasks)
