import pytest
import torch

from mtl_lib.aggregators import AGGREGATORS, UPGrad
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
    return UPGrad(regularisation="trace")


def _theirs():
    from torchjd.aggregation import UPGrad as TorchJDUPGrad

    return TorchJDUPGrad()


def test_reference_value():
    # TorchJD's documented example: [0.2929, 1.9004, 1.9004] at its mean scale; ours is ×K.
    torch.testing.assert_close(
        _torchjd_ridge()(REFERENCE_J).direction,
        2 * torch.tensor([0.2929, 1.9004, 1.9004]),
        atol=2e-4,
        rtol=0,
    )
    check_reference_agreement(_torchjd_ridge, _theirs)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("num_tasks", TASK_COUNTS)
def test_agrees_with_torchjd(num_tasks, seed):
    check_agreement(_torchjd_ridge, _theirs, num_tasks=num_tasks, seed=seed)


def test_non_conflicting():
    check_non_conflicting_up_to_regularisation(UPGrad)


def test_linear_scale_and_permutation_equivariance():
    (jac,) = conflicting_jacobians(4, seed=5)
    check_scale(UPGrad, jac, power=1.0)
    check_permutation(UPGrad, jac)


def test_leaves_non_conflicting_gradients_almost_alone():
    # orthogonal gradients are already in the dual cone: the sum comes back (up to reg_eps)
    jac = torch.eye(3, 6, dtype=torch.float64)
    torch.testing.assert_close(UPGrad()(jac).direction, jac.sum(0), atol=1e-3, rtol=0)
    torch.testing.assert_close(UPGrad(reg_eps=0.0)(jac).direction, jac.sum(0))


def test_bad_preferences_are_named():
    with pytest.raises(ValueError, match="pref_vector"):
        UPGrad(pref_vector=[1.0, 2.0])(torch.ones(3, 4))
    assert isinstance(AGGREGATORS.build("upgrad"), UPGrad)


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    train_20_steps("upgrad", num_tasks)
    train_20_steps("upgrad", num_tasks, jacobian_of="representation")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_non_conflicting_at_a_spread_of_norms(dtype):
    # Issue 24: norms 1 / 0.1 / 0.01 gave min cos(g_k, d) = −0.25 with the ridge ε·tr(G)·I
    # (TorchJD's too: the regularisation, not the normalisation, is the cause). The per-task
    # ridge ε·G_kk hurts a task by at most ~ε in cosine.
    jacobians = spread_jacobians(dtype)
    assert worst_cosine(lambda j: UPGrad()(j).direction, jacobians) > -1e-3
    assert worst_cosine(lambda j: UPGrad(reg_eps=0.0)(j).direction, jacobians) > -1e-6


def test_torchjd_ridge_conflicts_at_a_spread_of_norms():
    tj = pytest.importorskip("torchjd.aggregation")
    jacobians = spread_jacobians(torch.float64)
    ours = worst_cosine(lambda j: _torchjd_ridge()(j).direction, jacobians)
    theirs = worst_cosine(tj.UPGrad(), jacobians)
    assert ours < -0.1 and abs(ours - theirs) < 1e-6
