import warnings

import pytest
import torch

from mtl_lib.aggregators._linalg import min_norm_two, min_norm_weights
from mtl_lib.aggregators.base import ConvergenceWarning
from mtl_lib.aggregators.mgda import MGDA
from tests.aggregators._common import (
    REFERENCE_J,
    SIZES,
    random_jacobian,
    relative_difference,
    train_20_steps,
)


def test_reference_value_from_torchjd_tests():
    # TorchJD's test_values: MGDA(J) = [0, 1, 1] with weights [0.6, 0.4] (mean scale); ours is ×K.
    gram = REFERENCE_J @ REFERENCE_J.T
    torch.testing.assert_close(MGDA().weights_from_gram(gram), torch.tensor([1.2, 0.8]), atol=1e-6, rtol=0)
    torch.testing.assert_close(MGDA()(REFERENCE_J).direction, torch.tensor([0.0, 2.0, 2.0]), atol=1e-4, rtol=0)


@pytest.mark.parametrize(("num_tasks", "num_params"), SIZES)
def test_agrees_with_torchjd(num_tasks, num_params):
    torchjd = pytest.importorskip("torchjd.aggregation")
    jac = random_jacobian(num_tasks, num_params)
    ours = MGDA()(jac).direction / num_tasks  # TorchJD returns the min-norm point itself
    if num_tasks == 2:  # both closed form / one exact line search
        assert relative_difference(ours, torchjd.MGDA()(jac)) < 1e-10
        return
    # TorchJD's plain Frank–Wolfe stops early at its defaults (ε = 1e-3: up to ~10 % off for K = 5
    # here); with a tight ε it converges to the same point except where plain Frank–Wolfe stalls,
    # and there ours is the better (smaller-norm) point of the hull.
    tight = torchjd.MGDA(epsilon=1e-12, max_iters=5000)(jac)
    if relative_difference(ours, tight) > 1e-5:
        assert ours @ ours < tight @ tight
    else:
        assert relative_difference(ours, tight) < 1e-5
    assert ours @ ours <= torchjd.MGDA()(jac) @ torchjd.MGDA()(jac) * (1 + 1e-12)


@pytest.mark.parametrize(("num_tasks", "num_params"), [(3, 10), (5, 10), (5, 1000), (8, 3), (8, 50)])
def test_solution_is_optimal(num_tasks, num_params):
    # KKT of min wᵀGw on the simplex: (Gw)_k ≥ wᵀGw for all k, with equality where w_k > 0.
    jac = random_jacobian(num_tasks, num_params, seed=5)
    gram = jac @ jac.T
    w = MGDA().weights_from_gram(gram) / num_tasks
    assert torch.all(w >= 0) and abs(float(w.sum()) - 1) < 1e-12
    value, gw = w @ gram @ w, gram @ w
    scale = gram.diagonal().max()
    assert torch.all(gw >= value - 1e-10 * scale)
    assert torch.all((gw[w > 1e-9] - value).abs() <= 1e-9 * scale)


def test_non_negative_inner_product_with_every_task():
    for seed in range(20):
        jac = random_jacobian(4, 30, seed=seed)
        jac[1] = -jac[0] + 0.5 * jac[1]  # force conflict
        direction = MGDA()(jac).direction
        assert torch.all(jac @ direction >= -1e-9 * jac.norm(dim=1).max() ** 2)


@pytest.mark.parametrize("num_tasks", [2, 3, 5])
def test_identical_gradients_give_k_times_g(num_tasks):
    g = torch.randn(17, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    jac = g.repeat(num_tasks, 1)
    torch.testing.assert_close(MGDA()(jac).direction, num_tasks * g)
    torch.testing.assert_close(MGDA().weights_from_gram(jac @ jac.T), torch.ones(num_tasks, dtype=torch.float64))


def test_zero_and_opposite_gradients_stay_finite():
    for jac in (
        torch.zeros(3, 5),
        torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 3.0], [-1.0, 2.0, -3.0]]),
        torch.tensor([[1.0, -2.0, 3.0], [-1.0, 2.0, -3.0]]),
        torch.tensor([[1.0, 2.0], [2.0, 4.0], [-3.0, -6.0]]),
    ):
        out = MGDA()(jac).direction
        assert torch.isfinite(out).all()
        # 0 is in the hull of these gradients (Pareto stationary): the min-norm point is 0.
        torch.testing.assert_close(out, torch.zeros_like(out), atol=1e-6, rtol=0)


def test_l2_normalisation_uses_unit_gradients_for_the_weights():
    jac = random_jacobian(3, 20, seed=4)
    unit = jac / jac.norm(dim=1, keepdim=True)
    expected_weights = MGDA().weights_from_gram(unit @ unit.T)
    torch.testing.assert_close(MGDA(normalization="l2").weights_from_gram(jac @ jac.T), expected_weights)
    # Rescaling one task's gradient does not change the l2-normalised weights.
    scaled = jac.clone()
    scaled[0] *= 100.0
    torch.testing.assert_close(MGDA(normalization="l2").weights_from_gram(scaled @ scaled.T), expected_weights)
    with pytest.raises(ValueError, match="normalization"):
        MGDA(normalization="losses")


@pytest.mark.parametrize("normalization", ["loss", "loss+"])
def test_loss_normalisations_divide_by_the_losses(normalization):
    jac = random_jacobian(3, 20, seed=4)
    losses = torch.tensor([0.5, 2.0, 4.0], dtype=torch.float64)
    scale = losses * (jac.norm(dim=1) if normalization == "loss+" else 1.0)
    normalised = jac / scale[:, None]
    expected = MGDA().weights_from_gram(normalised @ normalised.T)
    agg = MGDA(normalization=normalization)
    assert agg.needs_losses
    torch.testing.assert_close(agg(jac, losses=losses).weights, expected)
    # applied to the raw gradients, as in the authors' code
    torch.testing.assert_close(agg(jac, losses=losses).direction, expected @ jac)
    with pytest.raises(ValueError, match="losses"):
        agg(jac)


def test_loss_normalisation_trains_through_the_engine():
    # the trainer hands the losses over generically (needs_losses), on both Jacobian paths
    train_20_steps("mgda", 2, aggregator_kwargs={"normalization": "loss+"})
    train_20_steps("mgda", 2, aggregator_kwargs={"normalization": "loss"}, jacobian_of="representation")


def test_non_convergence_warns_and_counts():
    jac = random_jacobian(5, 10, seed=0)
    mgda = MGDA(max_iters=1)
    with pytest.warns(ConvergenceWarning):
        out = mgda(jac).direction
    assert mgda.failures == 1 and torch.isfinite(out).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MGDA()(jac)


def test_float32_and_closed_form_helpers():
    jac = random_jacobian(3, 50, seed=1).float()
    out = MGDA()(jac)
    assert out.direction.dtype == torch.float32
    assert min_norm_two(1.0, 2.0, 9.0) == 1.0  # a·b ≥ ‖a‖²: a itself is the min-norm point
    assert min_norm_two(1.0, 1.0, 1.0) == 0.5
    w, converged, _ = min_norm_weights(torch.eye(4, dtype=torch.float64), 1e-12, 50)
    assert converged
    torch.testing.assert_close(w, torch.full((4,), 0.25, dtype=torch.float64))


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    train_20_steps("mgda", num_tasks)


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_mgda_ub_through_the_representation(num_tasks):
    trainer = train_20_steps("mgda", num_tasks, jacobian_of="representation")
    # The recorded direction is K × the min-norm point of the representation gradients.
    jac = trainer.last_jacobian
    direction = trainer.last_aggregation.direction
    assert jac.shape[0] == num_tasks and direction.shape == jac.shape[1:]
    torch.testing.assert_close(direction, MGDA()(jac).direction)
    assert torch.all(jac @ direction >= -1e-6 * jac.norm(dim=1).max() ** 2)
