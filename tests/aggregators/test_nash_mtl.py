import math
import warnings

import pytest
import torch

from mtl_lib.aggregators.base import ConvergenceWarning
from mtl_lib.aggregators.nash_mtl import NashMTL
from tests.aggregators._common import (
    REFERENCE_J,
    SIZES,
    random_jacobian,
    relative_difference,
    train_20_steps,
)


def test_reference_value_from_torchjd_tests():
    # TorchJD's test_values: NashMTL(n_tasks=2)(J) = [0.0542, 0.7061, 0.7061] (max_norm = 1:
    # clipped to unit norm). Same scale as ours (Nash-MTL keeps its own scale).
    torch.testing.assert_close(
        NashMTL()(REFERENCE_J).direction, torch.tensor([0.0542, 0.7061, 0.7061]), atol=1e-4, rtol=0
    )


@pytest.mark.parametrize(("num_tasks", "num_params"), SIZES)
@pytest.mark.parametrize("max_norm", [0.0, 1.0])
def test_alpha_solves_the_bargaining_system(num_tasks, num_params, max_norm):
    jac = random_jacobian(num_tasks, num_params)
    gram = jac @ jac.T
    nash = NashMTL(max_norm=0.0)
    alpha = nash.weights_from_gram(gram)
    assert torch.all(alpha > 0)
    torch.testing.assert_close(alpha * (gram @ alpha), torch.ones(num_tasks, dtype=torch.float64), rtol=0, atol=1e-9)
    # Every task's directional derivative is 1/α_k.
    d = nash(jac).direction
    torch.testing.assert_close(jac @ d, 1.0 / nash.alpha, rtol=1e-9, atol=0)
    clipped = NashMTL(max_norm=max_norm)(jac).direction
    if max_norm > 0:
        assert float(clipped.norm()) <= max_norm * (1 + 1e-12)
        torch.testing.assert_close(clipped, d * min(1.0, max_norm / float(d.norm())))


@pytest.mark.parametrize(("num_tasks", "num_params"), SIZES)
def test_agrees_with_torchjd(num_tasks, num_params):
    torchjd = pytest.importorskip("torchjd.aggregation")
    pytest.importorskip("cvxpy")
    pytest.importorskip("ecos")
    jac = random_jacobian(num_tasks, num_params)
    for max_norm in (0.0, 1.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cvxpy's "not DPP" notice
            theirs = torchjd.NashMTL(n_tasks=num_tasks, max_norm=max_norm)(jac)
        # TorchJD's concave-convex procedure stops at ‖Gα − 1/α‖ < 1e-3; measured ≤ 6e-7 here.
        assert relative_difference(NashMTL(max_norm=max_norm)(jac).direction, theirs) < 1e-5


def test_descent_for_every_task():
    for seed in range(20):
        jac = random_jacobian(4, 30, seed=seed)
        jac[1] = -0.8 * jac[0] + 0.5 * jac[1]
        assert torch.all(jac @ NashMTL()(jac).direction > 0)


@pytest.mark.parametrize("num_tasks", [2, 3, 5])
def test_identical_gradients_give_the_documented_scale(num_tasks):
    g = torch.randn(17, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    jac = g.repeat(num_tasks, 1)
    # α_k = 1/(√K‖g‖), d = √K g/‖g‖, then clipped to max_norm.
    torch.testing.assert_close(NashMTL(max_norm=0)(jac).direction, math.sqrt(num_tasks) * g / g.norm())
    torch.testing.assert_close(NashMTL()(jac).direction, g / g.norm())


def test_invariant_to_the_scale_of_the_losses():
    jac = random_jacobian(3, 20, seed=4)
    scaled = jac.clone()
    scaled[1] *= 100.0
    torch.testing.assert_close(NashMTL(max_norm=0)(10.0 * jac).direction, NashMTL(max_norm=0)(jac).direction)
    # Rescaling one task's loss rescales its α inversely: the same direction.
    torch.testing.assert_close(NashMTL(max_norm=0)(scaled).direction, NashMTL(max_norm=0)(jac).direction)


def test_zero_gradient_gets_zero_weight():
    jac = random_jacobian(3, 10, seed=1)
    jac[0] = 0.0
    nash = NashMTL(max_norm=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        out = nash(jac).direction
    assert nash.alpha[0] == 0
    torch.testing.assert_close(out, NashMTL(max_norm=0)(jac[1:]).direction)


def test_opposite_gradients_warn_and_stay_finite():
    for jac in (
        torch.tensor([[1.0, -2.0, 3.0], [-1.0, 2.0, -3.0]]),
        torch.tensor([[1.0, 2.0], [2.0, 4.0], [-3.0, -6.0]]),
    ):
        nash = NashMTL()
        with pytest.warns(ConvergenceWarning):
            out = nash(jac).direction
        assert nash.failures == 1
        assert torch.isfinite(out).all()
    assert torch.count_nonzero(NashMTL()(torch.zeros(3, 4)).direction) == 0


def test_update_weights_every_reuses_alpha_and_state_round_trips():
    jacs = [random_jacobian(3, 12, seed=s) for s in range(5)]
    nash = NashMTL(update_weights_every=2, max_norm=0)
    first = nash(jacs[0]).direction
    alpha0 = nash.alpha.clone()
    second = nash(jacs[1]).direction  # reuses α from jacs[0]
    torch.testing.assert_close(second, alpha0 @ jacs[1])
    assert not torch.allclose(second, NashMTL(max_norm=0)(jacs[1]).direction)
    nash(jacs[2])  # recomputes
    assert not torch.equal(nash.alpha, alpha0)
    state = nash.state_dict()
    other = NashMTL(update_weights_every=2, max_norm=0)
    other.load_state_dict(state)
    torch.testing.assert_close(other(jacs[3]).direction, nash(jacs[3]).direction)
    nash.reset()
    torch.testing.assert_close(nash(jacs[0]).direction, first)


def test_non_convergence_warns_and_counts():
    jac = random_jacobian(4, 10, seed=0)
    nash = NashMTL(max_iters=1)
    with pytest.warns(ConvergenceWarning):
        out = nash(jac).direction
    assert nash.failures == 1 and torch.isfinite(out).all()


def test_float32_input():
    out = NashMTL()(random_jacobian(3, 50).float()).direction
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    train_20_steps("nash_mtl", num_tasks)
