import math

import pytest
import torch

from mtl_lib.aggregators.base import ConvergenceWarning
from mtl_lib.aggregators.cagrad import CAGrad
from tests.aggregators._common import (
    REFERENCE_J,
    SIZES,
    random_jacobian,
    relative_difference,
    train_20_steps,
)


def _dual_objective(gram: torch.Tensor, weights: torch.Tensor, c: float) -> float:
    """g_wᵀg0 + c‖g0‖‖g_w‖ for the simplex weights w recovered from CAGrad's weights
    1/K + λ w (mean scale, rescale=0)."""
    k = gram.shape[0]
    w = weights - 1.0 / k
    w = w / w.sum()
    g0_norm = math.sqrt(float(gram.sum())) / k
    return float(w @ gram.sum(1) / k + c * g0_norm * torch.sqrt(w @ gram @ w))


def _mean_scale_direction(jac: torch.Tensor, c: float) -> torch.Tensor:
    return CAGrad(c=c, rescale=0)(jac).direction / jac.shape[0]


def test_reference_value_from_torchjd_tests():
    # TorchJD's test_values: CAGrad(c=0.5)(J) = [0.1835, 1.2041, 1.2041] (mean scale, no rescale).
    torch.testing.assert_close(
        CAGrad(c=0.5, rescale=0)(REFERENCE_J).direction,
        2 * torch.tensor([0.1835, 1.2041, 1.2041]),
        atol=2e-4,
        rtol=0,
    )
    gram = REFERENCE_J @ REFERENCE_J.T
    torch.testing.assert_close(
        CAGrad(c=0.5, rescale=0).weights_from_gram(gram),
        2 * torch.tensor([0.7041, 0.5000]),
        atol=2e-4,
        rtol=0,
    )
    # rescale=1 (default) divides by 1 + c².
    torch.testing.assert_close(
        CAGrad(c=0.5)(REFERENCE_J).direction, CAGrad(c=0.5, rescale=0)(REFERENCE_J).direction / 1.25
    )


@pytest.mark.parametrize(("num_tasks", "num_params"), SIZES)
def test_agrees_with_torchjd(num_tasks, num_params):
    torchjd = pytest.importorskip("torchjd.aggregation")
    pytest.importorskip("cvxpy")
    pytest.importorskip("clarabel")
    jac = random_jacobian(num_tasks, num_params)
    gram = jac @ jac.T
    for c in (0.1, 0.4, 0.9):
        ours = CAGrad(c=c, rescale=0).weights_from_gram(gram) / num_tasks
        theirs = torchjd.CAGradWeighting(c=c)(gram)
        # Clarabel (TorchJD) solves the dual to ~1e-8 in objective, which leaves up to ~1e-4 in
        # the direction; our solver reaches a lower (better) dual objective every time.
        assert relative_difference(ours @ jac, theirs @ jac) < 2e-4
        assert _dual_objective(gram, ours, c) <= _dual_objective(gram, theirs, c) + 1e-12 * float(gram.diagonal().max())


@pytest.mark.parametrize(("num_tasks", "num_params"), [(2, 10), (3, 10), (5, 10), (5, 1000), (8, 20)])
@pytest.mark.parametrize("c", [0.1, 0.4, 0.9])
def test_solves_the_primal(num_tasks, num_params, c):
    # d maximises min_k g_kᵀd over the ball ‖d − g0‖ ≤ c‖g0‖: it lies on the sphere, and
    # no point of the ball does better (strong duality: min_k g_kᵀd equals the dual optimum,
    # which bounds every feasible point's worst-case value from above).
    jac = random_jacobian(num_tasks, num_params, seed=11)
    gram = jac @ jac.T
    d = _mean_scale_direction(jac, c)
    g0 = jac.mean(0)
    radius = c * g0.norm()
    assert abs(float((d - g0).norm() - radius)) <= 1e-8 * float(radius)
    weights = CAGrad(c=c, rescale=0).weights_from_gram(gram) / num_tasks
    dual_value = _dual_objective(gram, weights, c)  # max-min = min-max = min_w g_wᵀg0 + c‖g0‖‖g_w‖
    assert float((jac @ d).min()) == pytest.approx(dual_value, rel=1e-7, abs=1e-9)
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        u = torch.randn(num_params, generator=gen, dtype=torch.float64)
        candidate = g0 + radius * u / u.norm()
        assert float((jac @ candidate).min()) <= float((jac @ d).min()) + 1e-9


def test_never_worse_than_g0_and_common_descent_for_c_above_one():
    for seed in range(20):
        jac = random_jacobian(3, 30, seed=seed)
        jac[1] = -0.8 * jac[0] + 0.3 * jac[1]  # strong conflict: g0 itself hurts a task
        for c in (0.01, 0.4):
            # g0 lies in the ball, so the optimum's worst task is at least g0's (sum scale: K·g0).
            d = CAGrad(c=c, rescale=0)(jac).direction
            assert (jac @ d).min() >= (jac @ jac.sum(0)).min() - 1e-9
        # For c > 1 the ball contains small multiples of MGDA's direction, so the worst task's
        # value is positive: a common descent direction. (For small c it need not be: the update
        # stays within c‖g0‖ of g0, which may conflict with a task.)
        d = CAGrad(c=1.5)(jac).direction
        assert torch.all(jac @ d > 0)


def test_large_c_approaches_mgda():
    from mtl_lib.aggregators.mgda import MGDA

    jac = random_jacobian(3, 15, seed=3)
    d = CAGrad(c=1e4, rescale=0)(jac).direction
    mgda = MGDA()(jac).direction
    cosine = float(d @ mgda / (d.norm() * mgda.norm()))
    assert cosine > 1 - 1e-6


@pytest.mark.parametrize("num_tasks", [2, 3, 5])
def test_identical_gradients_give_the_documented_scale(num_tasks):
    g = torch.randn(17, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    jac = g.repeat(num_tasks, 1)
    c = 0.4
    torch.testing.assert_close(CAGrad(c=c)(jac).direction, num_tasks * (1 + c) / (1 + c**2) * g)
    torch.testing.assert_close(CAGrad(c=c, rescale=2)(jac).direction, num_tasks * g)
    torch.testing.assert_close(CAGrad(c=0.0)(jac).direction, num_tasks * g)


def test_zero_in_the_hull_returns_g0_not_zero_deliberately():
    # g_w* = 0 is optimal here; the direction of g_w* is undefined. We return g0 (optimal: its
    # worst task value is 0 and it is the ball's centre), like the authors' code; TorchJD returns
    # 0, which lies outside the ball ‖d − g0‖ ≤ c‖g0‖.
    jac = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    d = CAGrad(c=0.4, rescale=0)(jac).direction
    torch.testing.assert_close(d, jac.sum(0))
    torchjd = pytest.importorskip("torchjd.aggregation")
    pytest.importorskip("cvxpy")
    assert torch.count_nonzero(torchjd.CAGrad(c=0.4)(jac)) == 0


def test_scale_invariance_of_the_weights():
    jac = random_jacobian(4, 25, seed=7)
    torch.testing.assert_close(CAGrad()(5.0 * jac).direction, 5.0 * CAGrad()(jac).direction)


def test_non_convergence_warns_and_counts():
    # The root-finding fallback runs when the active set cannot certify the optimum (here:
    # rank-deficient Gramians, five tasks in two dimensions); cut it short to see the warning.
    from mtl_lib.aggregators.cagrad import cagrad_active_set

    for seed in range(50):
        jac = random_jacobian(5, 2, seed=seed)
        gram, sqrt_phi, _ = _scaled_problem(jac, 0.4)
        if cagrad_active_set(gram.numpy(), sqrt_phi) is None:
            break
    else:
        pytest.fail("no problem needing the fallback among 50 seeds")
    cagrad = CAGrad(max_iters=1)
    with pytest.warns(ConvergenceWarning):
        out = cagrad(jac).direction
    assert cagrad.last_solver == "root_finding"
    assert cagrad.failures == 1 and torch.isfinite(out).all()


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    train_20_steps("cagrad", num_tasks)


def _scaled_problem(jac: torch.Tensor, c: float):
    from mtl_lib.aggregators._linalg import solver_copy

    k = jac.shape[0]
    gram = solver_copy(jac @ jac.T)
    gram = gram / float(gram.diagonal().max())
    sqrt_phi = c * math.sqrt(float(gram.sum())) / k
    b = gram.sum(1) / k

    def objective(w: torch.Tensor) -> float:
        return float(w @ b + sqrt_phi * torch.sqrt(torch.clamp(w @ gram @ w, min=0.0)))

    return gram, sqrt_phi, objective


@pytest.mark.parametrize("num_tasks", [2, 3, 5, 8])
@pytest.mark.parametrize("num_params", [2, 10, 1000])
def test_fast_solvers_are_no_worse_than_the_root_finding_reference(num_tasks, num_params):
    # The closed form (K = 2) and the active set (K ≥ 3) must reach a dual objective at least as
    # low as the bracketing root finder (the solver before them, kept as the fallback), and the
    # full-rank problems must not need the fallback.
    from mtl_lib.aggregators.cagrad import cagrad_dual_weights

    solvers = set()
    for seed in range(8):
        jac = random_jacobian(num_tasks, num_params, seed=seed)
        if seed % 3 == 0:
            jac[1] = -0.8 * jac[0] + 0.3 * jac[1]  # strong conflict
        for c in (0.1, 0.4, 0.9, 2.0):
            gram, sqrt_phi, objective = _scaled_problem(jac, c)
            cagrad = CAGrad(c=c)
            fast = cagrad._solve(gram, sqrt_phi)
            reference, _, _ = cagrad_dual_weights(gram, sqrt_phi, 1e-12, 200)
            assert objective(fast) <= objective(reference) + 1e-14
            assert float(fast.min()) >= 0.0 and abs(float(fast.sum()) - 1.0) < 1e-12
            solvers.add(cagrad.last_solver)
    if num_tasks == 2:
        assert solvers == {"closed_form"}
    elif num_params >= num_tasks:
        assert solvers == {"active_set"}


def test_active_set_warm_start_reuses_the_support():
    jac = random_jacobian(3, 100, seed=4)
    cagrad = CAGrad()
    first = cagrad(jac).direction
    support = list(cagrad._support)
    second = cagrad(jac + 1e-3 * random_jacobian(3, 100, seed=5)).direction
    assert cagrad.last_solver == "active_set" and cagrad._support == support
    assert relative_difference(second, first) < 1e-2
    cagrad.reset()
    assert cagrad._support is None
