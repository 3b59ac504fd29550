import copy
import math

import pytest
import torch

from mtl_lib.engine import Trainer
from mtl_lib.weighting.imtl_l import IMTLL
from tests._asserts import train_and_check
from tests.helpers import regression_batches, regression_tasks, tiny_model


def test_formula_on_hand_values():
    imtl = IMTLL(num_tasks=2)
    with torch.no_grad():
        imtl.log_scales.copy_(torch.tensor([0.0, math.log(2.0)]))
    terms = imtl(torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(terms, torch.tensor([3.0, 8.0 - math.log(2.0)]))
    torch.testing.assert_close(imtl.weights, torch.tensor([1.0, 2.0]))


def test_starts_as_equal_weighting():
    losses = torch.tensor([0.3, 7.0, 2.0], requires_grad=True)
    terms = IMTLL()(losses)
    torch.testing.assert_close(terms, losses.detach())
    (grad,) = torch.autograd.grad(terms.sum(), losses)
    torch.testing.assert_close(grad, torch.ones(3))


def test_stationary_where_every_scaled_loss_is_one():
    losses = torch.tensor([0.5, 4.0, 10.0])
    imtl = IMTLL(num_tasks=3)
    with torch.no_grad():
        imtl.log_scales.copy_(-losses.log())
    (grad,) = torch.autograd.grad(imtl(losses).sum(), imtl.log_scales)
    torch.testing.assert_close(grad, torch.zeros(3))
    torch.testing.assert_close(imtl.weights * losses, torch.ones(3))


def test_is_uw_with_the_sign_of_s_flipped():
    """exp(s) L − s with s = −s' is exp(−s') L + s': same model under Adam (sign-symmetric)."""
    batches = regression_batches(2)

    def train(name):
        model = tiny_model(2)
        trainer = Trainer(model, regression_tasks(2), weighting=name, device="cpu", progress=False)
        trainer.fit(batches, epochs=2)
        return copy.deepcopy(model.state_dict()), trainer.weighting

    imtl_state, imtl = train("imtl_l")
    uw_state, uw = train("uw")
    torch.testing.assert_close(imtl.log_scales.detach(), -uw.log_vars.detach())
    for key in imtl_state:
        torch.testing.assert_close(imtl_state[key], uw_state[key])


def test_state_dict_round_trip_and_reset():
    imtl = IMTLL()
    imtl(torch.ones(3))
    with torch.no_grad():
        imtl.log_scales.copy_(torch.tensor([0.3, -1.2, 2.0]))
    fresh = IMTLL()
    fresh.load_state_dict(imtl.state_dict())
    losses = torch.tensor([2.0, 5.0, 1.0])
    torch.testing.assert_close(fresh(losses), imtl(losses))
    imtl.reset()
    torch.testing.assert_close(imtl.log_scales.detach(), torch.zeros(3))


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    trainer = train_and_check(num_tasks, weighting="imtl_l")
    assert torch.all(trainer.weighting.log_scales.detach() != 0)
    assert trainer.weighting.weights[-1] < trainer.weighting.weights[0]


def test_works_with_an_aggregator():
    train_and_check(2, weighting="imtl_l", aggregator="pcgrad")
