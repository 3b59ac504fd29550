import math

import pytest
import torch

from mtl_lib.weighting import WEIGHTINGS
from mtl_lib.weighting.uw import UncertaintyWeighting
from tests._asserts import train_and_check


def test_formula_on_hand_values():
    uw = UncertaintyWeighting(num_tasks=2)
    with torch.no_grad():
        uw.log_vars.copy_(torch.tensor([0.0, math.log(2.0)]))
    terms = uw(torch.tensor([3.0, 4.0]))
    torch.testing.assert_close(terms, torch.tensor([3.0, 2.0 + math.log(2.0)]))
    torch.testing.assert_close(uw.weights, torch.tensor([1.0, 0.5]))


def test_half_with_libmtl_init_is_libmtls_form():
    # LibMTL: L / (2 exp(s)) + s / 2 with s initialised to -0.5.
    uw = UncertaintyWeighting(init=-0.5, half=True)
    losses = torch.tensor([3.0, 4.0, 0.5])
    s = torch.full((3,), -0.5)
    torch.testing.assert_close(uw(losses), losses / (2 * s.exp()) + s / 2)
    # Exactly half of the default form at the same s.
    full = UncertaintyWeighting(init=-0.5)
    torch.testing.assert_close(uw(losses), 0.5 * full(losses))


def test_starts_as_equal_weighting_on_the_sum_scale():
    uw = UncertaintyWeighting()
    losses = torch.tensor([0.3, 7.0, 2.0], requires_grad=True)
    terms = uw(losses)
    torch.testing.assert_close(terms, losses.detach())
    (grad,) = torch.autograd.grad(terms.sum(), losses)
    torch.testing.assert_close(grad, torch.ones(3))  # weights 1, summing to K


def test_log_variance_is_stationary_where_its_weight_is_one_over_the_loss():
    losses = torch.tensor([0.5, 4.0])
    uw = UncertaintyWeighting(num_tasks=2)
    with torch.no_grad():
        uw.log_vars.copy_(losses.log())
    (grad,) = torch.autograd.grad(uw(losses).sum(), uw.log_vars)
    torch.testing.assert_close(grad, torch.zeros(2))
    torch.testing.assert_close(uw.weights, 1 / losses)


def test_parameters_are_created_lazily_and_sized_checked():
    uw = WEIGHTINGS.build("uw")
    assert isinstance(uw.log_vars, torch.nn.parameter.UninitializedParameter)
    parameter = uw.log_vars
    uw(torch.tensor([1.0, 2.0, 3.0]))
    assert uw.log_vars is parameter  # an optimizer built before the first step still holds it
    assert uw.log_vars.shape == (3,)
    with pytest.raises(ValueError, match="3 task scales"):
        uw(torch.tensor([1.0, 2.0]))


def test_state_dict_round_trip_into_a_fresh_module_and_reset():
    uw = UncertaintyWeighting(init=0.25)
    uw(torch.ones(2))
    with torch.no_grad():
        uw.log_vars.copy_(torch.tensor([0.3, -1.2]))
    fresh = UncertaintyWeighting(init=0.25)
    fresh.load_state_dict(uw.state_dict())
    torch.testing.assert_close(fresh.log_vars, uw.log_vars)
    losses = torch.tensor([2.0, 5.0])
    torch.testing.assert_close(fresh(losses), uw(losses))
    uw.reset()
    torch.testing.assert_close(uw.log_vars.detach(), torch.full((2,), 0.25))


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine_and_learns_its_log_variances(num_tasks):
    trainer = train_and_check(num_tasks, weighting="uw")
    log_vars = trainer.weighting.log_vars
    assert any(p is log_vars for group in trainer.optimizer.param_groups for p in group["params"])
    assert torch.all(log_vars.detach() != 0)
    # Task k's targets are 10**k larger, so its loss is larger and its learned weight smaller.
    assert trainer.weighting.weights[-1] < trainer.weighting.weights[0]


def test_works_with_an_aggregator():
    trainer = train_and_check(3, weighting="uw", aggregator="pcgrad")
    assert torch.all(trainer.weighting.log_vars.detach() != 0)
