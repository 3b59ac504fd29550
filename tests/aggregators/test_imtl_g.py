import pytest
import torch

from mtl_lib.aggregators.imtl_g import IMTLG
from tests.aggregators._common import (
    REFERENCE_J,
    SIZES,
    random_jacobian,
    relative_difference,
    train_20_steps,
)


def test_reference_value_from_torchjd_tests():
    # TorchJD's test_values: IMTLG(J) = [0.0767, 1, 1], weights [0.5923, 0.4077] (sum 1); ours ×K.
    torch.testing.assert_close(IMTLG()(REFERENCE_J).direction, 2 * torch.tensor([0.0767, 1.0, 1.0]), atol=2e-4, rtol=0)
    gram = REFERENCE_J @ REFERENCE_J.T
    torch.testing.assert_close(IMTLG().weights_from_gram(gram), 2 * torch.tensor([0.5923, 0.4077]), atol=2e-4, rtol=0)


@pytest.mark.parametrize(("num_tasks", "num_params"), SIZES)
def test_agrees_with_torchjd(num_tasks, num_params):
    torchjd = pytest.importorskip("torchjd.aggregation")
    jac = random_jacobian(num_tasks, num_params)
    assert relative_difference(IMTLG()(jac).direction, num_tasks * torchjd.IMTLG()(jac)) < 1e-5
    # Linearly dependent rows (TorchJD's generalisation): still the same.
    dependent = torch.cat([jac, jac[:1] + 2 * jac[1:2]])
    assert relative_difference(IMTLG()(dependent).direction, (num_tasks + 1) * torchjd.IMTLG()(dependent)) < 1e-5


@pytest.mark.parametrize(("num_tasks", "num_params"), [(2, 10), (3, 10), (4, 100)])
def test_matches_the_papers_closed_form(num_tasks, num_params):
    jac = random_jacobian(num_tasks, num_params, seed=3)
    u = jac / jac.norm(dim=1, keepdim=True)
    d_mat = jac[:1] - jac[1:]  # rows g_1 − g_k
    u_mat = u[:1] - u[1:]
    alpha_rest = jac[0] @ u_mat.T @ torch.linalg.inv(d_mat @ u_mat.T)
    alpha = torch.cat([1 - alpha_rest.sum(0, keepdim=True), alpha_rest])
    torch.testing.assert_close(IMTLG().weights_from_gram(jac @ jac.T), num_tasks * alpha)


def test_equal_projections_on_unit_gradients():
    for seed in range(10):
        jac = random_jacobian(4, 30, seed=seed)
        d = IMTLG()(jac).direction
        projections = (jac / jac.norm(dim=1, keepdim=True)) @ d
        torch.testing.assert_close(projections, projections.mean().expand(4), rtol=1e-9, atol=0)


def test_zero_and_opposite_gradients_stay_finite():
    opposite = torch.tensor([[1.0, -2.0, 3.0], [-1.0, 2.0, -3.0]])
    torch.testing.assert_close(IMTLG()(opposite).direction, torch.zeros(3))  # no equal positive projection
    with_zero = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    weights = IMTLG().weights_from_gram(with_zero @ with_zero.T)
    assert weights[0] == 0 and torch.isfinite(weights).all()
    for jac in (torch.zeros(3, 5), torch.tensor([[1.0, 2.0], [2.0, 4.0], [-3.0, -6.0]]), with_zero):
        assert torch.isfinite(IMTLG()(jac).direction).all()
    # Scale-free zero test (TorchJD's is an absolute 1e-12): tiny gradients still get weights.
    tiny = 1e-8 * random_jacobian(3, 10).float()
    assert torch.count_nonzero(IMTLG()(tiny).direction) > 0


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    train_20_steps("imtl_g", num_tasks)


def test_equal_projections_stay_positive_when_the_weights_sum_is_negative():
    # Issue 24 (properties table): after rescaling one task, Σv < 0 for this Jacobian; the
    # paper's α = v/Σv then gives equal *negative* projections (every loss increases).
    from mtl_lib.studies.method_properties import conflicting_jacobians

    jac = conflicting_jacobians(10)[14].clone()
    jac[2] *= 0.1
    out = IMTLG()(jac)
    units = jac / jac.norm(dim=1, keepdim=True)
    projections = units @ out.direction
    assert torch.all(projections > 0), projections.tolist()
    torch.testing.assert_close(projections, projections.mean().expand(3))
