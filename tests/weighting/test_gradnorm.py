import pytest
import torch

from mtl_lib.weighting import WEIGHTINGS
from mtl_lib.weighting.gradnorm import GradNorm
from tests._asserts import train_and_check


def _problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    layer = torch.randn(3, 4, generator=gen, requires_grad=True)
    x = torch.randn(4, generator=gen)

    def losses(scales):
        # Every task's loss is a multiple of one function of the layer: ‖∇L_k‖ ∝ scale_k.
        q = (layer @ x).pow(2).sum()
        return torch.stack([s * q for s in scales])

    return layer, losses


def test_equalises_gradient_norms_when_one_task_is_ten_times_larger():
    layer, losses = _problem()
    gradnorm = GradNorm()
    gradnorm.bind(layer)
    gaps = []
    for _ in range(300):
        gradnorm(losses([1.0, 10.0]))
        norms = gradnorm.last_gradient_norms
        gaps.append(float((norms[0] - norms[1]).abs() / norms.mean()))
        torch.testing.assert_close(gradnorm.weights.sum(), torch.tensor(2.0))
    assert gaps[0] > 1.5  # G = [g, 10 g] at the start
    assert max(gaps[-50:]) < 0.1
    # Loss ratios stay 1 here, so the targets are equal: w_1 ‖∇L_1‖ = w_2 ‖∇L_2‖, w ∝ [10, 1].
    torch.testing.assert_close(gradnorm.weights, torch.tensor([20 / 11, 2 / 11]), atol=0.03, rtol=0)


@pytest.mark.parametrize(("alpha", "expected"), [(0.0, [1.6, 0.4]), (1.0, [1.0, 1.0]), (2.0, [0.5161, 1.4839])])
def test_alpha_and_the_relative_inverse_training_rate(alpha, expected):
    """Task 2's loss is 4× its initial value, task 1's unchanged: r = [0.4, 1.6], and task 2's
    gradient norm is 4× task 1's (G = [w_1 g, 4 w_2 g]).

    α = 0: targets mean(G) for both → w ∝ [4, 1]. α = 1: targets ∝ r, which G already is at
    w = [1, 1]. α = 2: the targets mean(G)·r² sum to more than ΣG (mean r² = 1.36), so not
    both can be met; task 1 settles on its target, w_1 g = 0.16 (w_1 g + 4 w_2 g)/2, i.e.
    w_1/w_2 = 0.32/0.92, while task 2 stays below its own.
    """
    layer, losses = _problem(1)
    gradnorm = GradNorm(alpha=alpha)
    gradnorm.bind(layer)
    gradnorm(losses([1.0, 1.0]))  # L(0)
    for _ in range(400):
        gradnorm(losses([1.0, 4.0]))
    torch.testing.assert_close(gradnorm.weights, torch.tensor(expected), atol=0.04, rtol=0)


def test_first_update_follows_the_sign_of_the_gradnorm_loss_gradient():
    """Adam's first step is −lr·sign(grad): compare with autograd on L_grad (targets constant)."""
    layer, losses = _problem(2)
    gradnorm = GradNorm(lr=1e-3)
    gradnorm.bind(layer)
    scales = [1.0, 3.0, 0.5]
    terms = gradnorm(losses(scales))
    torch.testing.assert_close(terms.detach(), losses(scales).detach())  # w(0) = 1 used this step

    w = torch.ones(3, requires_grad=True)
    task_losses = losses(scales)
    norms = torch.stack(
        [
            torch.autograd.grad(w[k] * task_losses[k], layer, retain_graph=True, create_graph=True)[0].norm()
            for k in range(3)
        ]
    )
    target = (norms.mean() * torch.ones(3) ** 1.5).detach()  # r = 1 at the first step
    (grad,) = torch.autograd.grad((norms - target).abs().sum(), w)
    stepped = 1 - 1e-3 * torch.sign(grad)
    torch.testing.assert_close(gradnorm.weights, 3 * stepped / stepped.sum(), atol=1e-6, rtol=0)
    torch.testing.assert_close(gradnorm.last_gradient_norms, norms.detach())


def test_returned_terms_use_the_weights_before_the_update():
    layer, losses = _problem()
    gradnorm = GradNorm()
    gradnorm.bind(layer)
    gradnorm(losses([1.0, 10.0]))
    before = gradnorm.weights
    task_losses = losses([1.0, 10.0])
    terms = gradnorm(task_losses)
    torch.testing.assert_close(terms.detach(), before * task_losses.detach())
    (grad,) = torch.autograd.grad(terms.sum(), task_losses)
    torch.testing.assert_close(grad, before)
    assert not torch.equal(gradnorm.weights, before)


def test_no_update_without_gradients_and_an_error_without_a_layer():
    layer, losses = _problem()
    gradnorm = GradNorm()
    with torch.no_grad():
        terms = gradnorm(losses([1.0, 2.0]))
    torch.testing.assert_close(terms, losses([1.0, 2.0]).detach())
    assert gradnorm.steps == 0
    with pytest.raises(RuntimeError, match="bind"):
        gradnorm(losses([1.0, 2.0]))


def test_zero_gradients_stay_finite():
    layer = torch.zeros(2, 2, requires_grad=True)
    gradnorm = GradNorm()
    gradnorm.bind(layer)
    losses = torch.stack([(layer.sum()) ** 2, torch.tensor(0.0) * layer.sum()]) + torch.tensor([0.0, 0.0])
    for _ in range(3):
        terms = gradnorm(losses)
    assert torch.isfinite(terms).all() and torch.isfinite(gradnorm.weights).all()


def test_weights_are_not_parameters():
    gradnorm = WEIGHTINGS.build("gradnorm")
    layer, losses = _problem()
    gradnorm.bind(layer)
    gradnorm(losses([1.0, 2.0]))
    assert list(gradnorm.parameters()) == []
    assert set(gradnorm.state_dict()) == {"_extra_state"}


def test_state_dict_round_trip_and_reset():
    layer, losses = _problem()
    gradnorm = GradNorm(alpha=0.5)
    gradnorm.bind(layer)
    for _ in range(5):
        gradnorm(losses([1.0, 3.0]))
    fresh = GradNorm()
    fresh.load_state_dict(gradnorm.state_dict())
    fresh.bind(layer)
    assert fresh.alpha == 0.5 and fresh.steps == 5
    for _ in range(5):
        torch.testing.assert_close(fresh(losses([1.0, 3.0])), gradnorm(losses([1.0, 3.0])))
        torch.testing.assert_close(fresh.weights, gradnorm.weights)
    gradnorm.reset()
    assert gradnorm.weights is None and gradnorm.initial_losses is None and gradnorm.layer is layer
    torch.testing.assert_close(gradnorm(losses([1.0, 3.0])), losses([1.0, 3.0]))


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine_on_the_last_shared_layer(num_tasks):
    trainer = train_and_check(num_tasks, weighting="gradnorm")
    gradnorm = trainer.weighting
    assert gradnorm.layer is trainer.model.encoder[2].weight
    assert gradnorm.steps == 20
    in_optimizer = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert id(gradnorm._weights) not in in_optimizer
    torch.testing.assert_close(gradnorm.weights.sum(), torch.tensor(float(num_tasks)))
    # Task k's targets are 10**k larger, so its gradients are larger: its weight goes down.
    assert gradnorm.weights[-1] < 1 < gradnorm.weights[0]


def test_works_with_an_aggregator():
    trainer = train_and_check(3, weighting="gradnorm", aggregator="pcgrad")
    assert trainer.weighting.steps == 20
