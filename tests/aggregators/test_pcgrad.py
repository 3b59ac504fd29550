import pytest
import torch

from mtl_lib.aggregators import PCGrad
from tests.helpers import REFERENCE_JACOBIAN as REFERENCE_J


def test_reference_value_from_torchjd_tests():
    # TorchJD's test_values lists PCGrad([[-4, 1, 1], [6, 1, 1]]) = [0.5848, 3.8012, 3.8012].
    out = PCGrad()(REFERENCE_J)
    torch.testing.assert_close(out.direction, torch.tensor([0.5848, 3.8012, 3.8012]), atol=1e-4, rtol=0)


def test_two_conflicting_tasks_no_longer_conflict():
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        jac = torch.randn(2, 20, generator=gen)
        jac[1] = -jac[0] + 0.3 * torch.randn(20, generator=gen)  # force a conflict
        assert jac[0] @ jac[1] < 0
        rows = PCGrad()(jac).task_gradients
        # Each projected gradient is orthogonal to (hence not against) the other original.
        assert rows[0] @ jac[1] >= -1e-5
        assert rows[1] @ jac[0] >= -1e-5


def test_non_conflicting_gradients_are_unchanged():
    jac = torch.tensor([[1.0, 2.0, 0.0], [0.5, 0.1, 3.0], [2.0, 0.0, 1.0]])
    assert torch.all(jac @ jac.T >= 0)
    out = PCGrad()(jac)
    torch.testing.assert_close(out.task_gradients, jac)
    torch.testing.assert_close(out.direction, jac.sum(0))


def test_zero_and_opposite_gradients_stay_finite():
    jac = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 3.0], [-1.0, 2.0, -3.0]])
    out = PCGrad()(jac)
    assert torch.isfinite(out.direction).all()


def test_seeded_order_is_reproducible_and_reset_restarts_it():
    jac = torch.randn(5, 30, generator=torch.Generator().manual_seed(1))
    a, b = PCGrad(seed=7), PCGrad(seed=7)
    first = [a(jac).direction for _ in range(3)]
    second = [b(jac).direction for _ in range(3)]
    for x, y in zip(first, second):
        torch.testing.assert_close(x, y)
    a.reset()
    torch.testing.assert_close(a(jac).direction, first[0])
    state = b.state_dict()
    c = PCGrad(seed=0)
    c.load_state_dict(state)
    torch.testing.assert_close(c(jac).direction, b(jac).direction)


@pytest.mark.parametrize("num_params", [10, 1000, 10_000])
def test_agrees_with_torchjd_for_two_tasks(num_params):
    torchjd = pytest.importorskip("torchjd.aggregation")
    gen = torch.Generator().manual_seed(num_params)
    jac = torch.randn(2, num_params, generator=gen, dtype=torch.float64)
    expected = torchjd.PCGrad()(jac)
    torch.testing.assert_close(PCGrad()(jac).direction, expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("num_tasks", [2, 3, 5, 8])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gramian_space_equals_row_space(num_tasks, dtype):
    from mtl_lib.aggregators.pcgrad import pcgrad_rows

    gen = torch.Generator().manual_seed(num_tasks)
    for step in range(5):
        jac = torch.randn(num_tasks, 500, generator=gen, dtype=dtype)
        jac[1] = -0.7 * jac[0] + 0.5 * jac[1]  # make conflicts certain
        out = PCGrad(seed=step)(jac)
        reference = pcgrad_rows(jac, torch.Generator().manual_seed(step))
        tol = 1e-12 if dtype == torch.float64 else 1e-6
        assert float((out.task_gradients - reference).norm() / reference.norm()) < tol
        assert float((out.direction - reference.sum(0)).norm() / reference.sum(0).norm()) < tol
        torch.testing.assert_close(out.weights @ jac, out.direction, rtol=tol, atol=tol)
