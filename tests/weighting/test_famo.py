"""FAMO against a plain re-statement of the paper's Algorithm 1, and through the engine."""

import math
import warnings

import pytest
import torch

from mtl_lib.core.errors import NonFiniteError
from mtl_lib.engine import Trainer
from mtl_lib.weighting import FAMO, WEIGHTINGS, ZeroLossWarning
from tests._asserts import train_and_check
from tests.helpers import regression_batches, regression_tasks, tiny_model

A = torch.tensor([[1.0, 2.0, -1.0], [0.5, -1.0, 3.0]], dtype=torch.float64)


def _losses(theta):
    # two quadratic tasks of very different size, both strictly positive
    return torch.stack([(A[0] @ theta - 1.0) ** 2 + 0.1, 10.0 * (A[1] @ theta + 2.0) ** 2 + 0.1])


def _paper_famo(steps, alpha, beta, gamma):
    """Algorithm 1 of Liu et al. (2023), written out: plain gradient steps on θ and on ξ."""
    theta = torch.zeros(3, dtype=torch.float64)
    xi = torch.zeros(2, dtype=torch.float64)
    for _ in range(steps):
        point = theta.clone().requires_grad_(True)
        losses = _losses(point)
        z = torch.softmax(xi, 0)
        c = 1.0 / (z / losses.detach()).sum()
        (grad,) = torch.autograd.grad((c * z * losses.log()).sum(), point)
        theta = theta - alpha * grad
        decrease = losses.detach().log() - _losses(theta).log()
        jac_softmax = torch.diag(z) - torch.outer(z, z)  # ∂z/∂ξ
        xi = xi - beta * (jac_softmax.T @ decrease + gamma * xi)
    return theta, xi


def test_matches_the_papers_algorithm():
    alpha, beta, gamma = 0.02, 0.5, 0.01
    expected_theta, expected_xi = _paper_famo(30, alpha, beta, gamma)
    famo = FAMO(lr=beta, gamma=gamma, logit_optimizer="sgd", eps=0.0)
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    for _ in range(30):
        terms = famo(_losses(theta))
        (grad,) = torch.autograd.grad(terms.sum(), theta)
        with torch.no_grad():
            theta -= alpha / 2 * grad  # ours is on the sum scale: K × the paper's direction
        famo.update(_losses(theta.detach()))
    torch.testing.assert_close(theta.detach(), expected_theta)
    torch.testing.assert_close(famo.logits.detach(), expected_xi)
    assert not torch.allclose(expected_xi, torch.zeros(2, dtype=torch.float64))


def test_weights_sum_to_k_and_balance_log_gradients():
    famo = FAMO()
    losses = torch.tensor([0.5, 4.0, 2.0], requires_grad=True)
    terms = famo(losses)
    (grad,) = torch.autograd.grad(terms.sum(), losses)
    # with ξ = 0: w_k ∝ 1/L_k, summing to K
    expected = 3 * (1 / losses.detach()) / (1 / losses.detach()).sum()
    torch.testing.assert_close(grad, expected)
    torch.testing.assert_close(famo.last_weights, expected)
    with pytest.raises(ValueError, match="logit_optimizer"):
        FAMO(logit_optimizer="rmsprop")
    assert isinstance(WEIGHTINGS.build("famo"), FAMO)


def test_engine_one_extra_forward_and_no_task_gradients():
    model = tiny_model(3)
    forwards = []
    model.register_forward_hook(lambda *args: forwards.append(1))
    trainer = Trainer(model, regression_tasks(3), weighting="famo", device="cpu", progress=False)
    assert not trainer.needs_task_gradients  # O(1) in K: one backward of the summed terms
    trainer.fit(regression_batches(3), epochs=2)
    assert len(forwards) == 2 * trainer.step_count  # the step's forward + the re-evaluation
    logits = trainer.weighting.logits.detach()
    assert not torch.allclose(logits, torch.zeros(3)) and math.isfinite(float(logits.sum()))


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    train_and_check(num_tasks, weighting="famo")


def test_state_round_trip():
    trainer_a = Trainer(tiny_model(2), regression_tasks(2), weighting="famo", device="cpu", progress=False)
    trainer_a.fit(regression_batches(2), epochs=1)
    fresh = FAMO()
    fresh.load_state_dict(trainer_a.weighting.state_dict())
    torch.testing.assert_close(fresh.logits, trainer_a.weighting.logits)


def test_permutation_equivariance():
    losses = torch.tensor([0.5, 4.0, 2.0])
    perm = torch.tensor([2, 0, 1])
    a, b = FAMO(), FAMO()
    a(losses.clone().requires_grad_(True))
    b(losses[perm].clone().requires_grad_(True))
    torch.testing.assert_close(b.last_weights, a.last_weights[perm])
    a.update(losses * 0.5)
    b.update((losses * 0.5)[perm])
    torch.testing.assert_close(b.logits.detach(), a.logits.detach()[perm])


def test_a_zero_loss_is_reported_with_its_consequence():
    # issue 25: with one task's loss identically 0 FAMO gives the other task weight ~ε/L
    famo = FAMO()
    losses = torch.tensor([0.0, 5.0], dtype=torch.float64, requires_grad=True)
    with pytest.warns(ZeroLossWarning, match=r"task\(s\) \[0\].*other tasks stop training.*min_losses"):
        famo(losses)
    assert float(famo.last_weights[1]) < 1e-6
    # the fix the message names: a lower bound below the losses' infimum
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZeroLossWarning)
        FAMO(min_losses=[-1.0, -1.0])(losses)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_update_refuses_non_finite_losses_and_keeps_the_logits(bad):
    famo = FAMO()
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    famo(_losses(theta))
    famo.update(_losses(theta.detach() + 0.1))
    famo(_losses(theta))
    before = famo.logits.detach().clone()
    with pytest.raises(NonFiniteError, match=r"FAMO: losses after the step has .*task 1.*logits were left unchanged"):
        famo.update(torch.tensor([1.0, bad], dtype=torch.float64))
    torch.testing.assert_close(famo.logits.detach(), before)
    assert torch.isfinite(famo(_losses(theta))).all()
