import pytest
import torch

from mtl_lib.aggregators import AGGREGATORS, DualProj
from tests.aggregators._agreement import (
    SEEDS,
    TASK_COUNTS,
    check_agreement,
    check_non_conflicting_up_to_regularisation,
    check_permutation,
    check_reference_agreement,
    check_scale,
    conflicting_jacobians,
    spread_jacobians,
    worst_cosine,
)
from tests.aggregators._common import REFERENCE_J, train_20_steps


def _torchjd_ridge():
    """Ours with TorchJD's regularisation (ε·tr(G)·I), the one to compare with TorchJD."""
    return DualProj(regularisation="trace")


def _theirs():
    from torchjd.aggregation import DualProj as TorchJDDualProj

    return TorchJDDualProj()


def test_projects_a_conflicting_sum_onto_the_cone():
    # g1 = (1, 0), g2 = (-2, 1): the sum (-1, 1) conflicts with g1; its projection onto
    # {x : g1·x ≥ 0, g2·x ≥ 0} is (0, 1)
    jac = torch.tensor([[1.0, 0.0], [-2.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(
        DualProj(reg_eps=0.0)(jac).direction,
        torch.tensor([0.0, 1.0], dtype=torch.float64),
        atol=1e-9,
        rtol=0,
    )


def test_reference_value():
    # the sum [2, 2, 2] conflicts with g1 = [-4, 1, 1]; its projection does not
    direction = DualProj()(REFERENCE_J).direction
    assert float(REFERENCE_J[1] @ direction) > 0
    exact = DualProj(reg_eps=0.0)(REFERENCE_J).direction
    assert abs(float(REFERENCE_J[0] @ exact)) < 1e-9 and float(REFERENCE_J[1] @ exact) > 0
    check_reference_agreement(_torchjd_ridge, _theirs)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("num_tasks", TASK_COUNTS)
def test_agrees_with_torchjd(num_tasks, seed):
    check_agreement(_torchjd_ridge, _theirs, num_tasks=num_tasks, seed=seed)


def test_non_conflicting():
    check_non_conflicting_up_to_regularisation(DualProj)


def test_linear_scale_and_permutation_equivariance():
    (jac,) = conflicting_jacobians(4, seed=5)
    check_scale(DualProj, jac, power=1.0)
    check_permutation(DualProj, jac)


def test_leaves_a_non_conflicting_sum_almost_alone():
    jac = torch.eye(3, 6, dtype=torch.float64)
    torch.testing.assert_close(DualProj()(jac).direction, jac.sum(0), atol=1e-3, rtol=0)
    torch.testing.assert_close(DualProj(reg_eps=0.0)(jac).direction, jac.sum(0))
    assert isinstance(AGGREGATORS.build("dualproj"), DualProj)


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    train_20_steps("dualproj", num_tasks)
    train_20_steps("dualproj", num_tasks, jacobian_of="representation")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_non_conflicting_at_a_spread_of_norms(dtype):
    # Issue 24: norms 1 / 0.1 / 0.01 gave min cos(g_k, d) = −0.25 with the ridge ε·tr(G)·I
    # (TorchJD's too: the regularisation, not the normalisation, is the cause). The per-task
    # ridge ε·G_kk hurts a task by at most ~ε in cosine.
    jacobians = spread_jacobians(dtype)
    assert worst_cosine(lambda j: DualProj()(j).direction, jacobians) > -1e-3
    assert worst_cosine(lambda j: DualProj(reg_eps=0.0)(j).direction, jacobians) > -1e-6


def test_torchjd_ridge_conflicts_at_a_spread_of_norms():
    tj = pytest.importorskip("torchjd.aggregation")
    jacobians = spread_jacobians(torch.float64)
    ours = worst_cosine(lambda j: _torchjd_ridge()(j).direction, jacobians)
    theirs = worst_cosine(tj.DualProj(), jacobians)
    assert ours < -0.1 and abs(ours - theirs) < 1e-6
