import pytest
import torch

from mtl_lib.aggregators import PCD
from tests.aggregators._agreement import SEEDS, TASK_COUNTS, check_agreement
from tests.aggregators._common import train_20_steps


@pytest.mark.parametrize("tau", [0.02, 0.3])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("num_tasks", TASK_COUNTS)
def test_agrees_with_torchjd_over_five_steps(num_tasks, seed, tau):
    tj = pytest.importorskip("torchjd.aggregation")
    check_agreement(
        lambda: PCD(tau=tau),
        lambda: tj.PCD(tau=tau),
        num_tasks=num_tasks,
        seed=seed,
        sum_scale=False,
        steps=5,
    )


def test_constraints_hold_and_primary_norm_is_kept():
    gen = torch.Generator().manual_seed(0)
    jac = torch.randn(4, 30, generator=gen, dtype=torch.float64)
    jac[1] = -0.9 * jac[0] + 0.1 * jac[1]  # a secondary task that conflicts with the primary
    agg = PCD(tau=0.2, beta=0.0, eps=0.0)  # β = 0: the scales are this step's 1/‖g_i‖
    d = agg(jac).direction
    torch.testing.assert_close(d.norm(), jac[0].norm())
    units = jac / jac.norm(dim=1, keepdim=True)
    # the constraint holds for d̃ (before rescaling); rescaling keeps the ratio of both sides
    d_tilde_ratio = (units[1:] @ d) / (units[0] @ d).abs().clamp_min(1e-12)
    assert torch.all(units[1:] @ d >= -1e-9) and torch.isfinite(d_tilde_ratio).all()


def test_special_cases():
    # primary gradient zero → zero update
    jac = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=torch.float64)
    assert torch.equal(PCD()(jac).direction, torch.zeros(2, dtype=torch.float64))
    # opposite secondaries → infeasible → the primary gradient itself
    jac = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -1.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(PCD()(jac).direction, jac[0])
    # no conflict → the primary gradient (the constraints are inactive)
    jac = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(PCD()(jac).direction, jac[0])


def test_state_resets():
    jac = torch.randn(3, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    agg = PCD()
    first = agg(jac).direction
    agg(2 * jac)
    agg.reset()
    torch.testing.assert_close(agg(jac).direction, first)


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    train_20_steps("pcd", num_tasks)


def test_reference_jacobian_agrees_with_torchjd():
    from tests.aggregators._agreement import check_reference_agreement

    tj = pytest.importorskip("torchjd.aggregation")
    check_reference_agreement(PCD, tj.PCD, sum_scale=False)


@pytest.mark.parametrize("factor", [1e-2, 1e-4, 1e-6, 1e3])
def test_invariant_to_rescaling_one_secondary_task(factor):
    # g̃_i = g_i / sqrt(v̂_i) does not change when g_i is multiplied by c > 0. With the former
    # default ε = 1e-8 (ε·max_j v̂_j) the direction moved by 1.8 % at c = 1e-4 (issue 24); the default ε = 1e-60 acts only beyond a 1e30 ratio.
    gen = torch.Generator().manual_seed(0)
    jac = torch.randn(3, 30, generator=gen, dtype=torch.float64)
    jac[1] = -0.9 * jac[0] + 0.3 * jac[1]
    rescaled = jac.clone()
    rescaled[1] *= factor
    aggregator, other = PCD(), PCD()
    for _ in range(3):  # over steps, so the norm averages see the rescaled task too
        torch.testing.assert_close(other(rescaled).direction, aggregator(jac).direction, rtol=1e-9, atol=0)


def test_rescaling_the_primary_scales_the_direction():
    gen = torch.Generator().manual_seed(1)
    jac = torch.randn(3, 30, generator=gen, dtype=torch.float64)
    rescaled = jac.clone()
    rescaled[0] *= 1e-5
    torch.testing.assert_close(PCD()(rescaled).direction, 1e-5 * PCD()(jac).direction, rtol=1e-9, atol=0)
