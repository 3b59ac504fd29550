import pytest
import torch

from mtl_lib.weighting.rlw import RLW
from tests._asserts import train_and_check


def test_weights_are_k_times_softmax_of_seeded_standard_normals():
    rlw = RLW(seed=3)
    losses = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    reference = torch.Generator().manual_seed(3)
    for _ in range(3):
        terms = rlw(losses)
        expected = 3 * torch.softmax(torch.randn(3, generator=reference, dtype=torch.float64), dim=0)
        torch.testing.assert_close(rlw.last_weights, expected)
        torch.testing.assert_close(terms.detach(), expected.float() * losses.detach())
        (grad,) = torch.autograd.grad(terms.sum(), losses)
        torch.testing.assert_close(grad, expected.float())  # constants: no gradient through them


def test_sum_scale_and_mean_weight_one():
    rlw = RLW()
    draws = torch.stack([rlw.sample_weights(4) for _ in range(4000)])
    torch.testing.assert_close(draws.sum(1), torch.full((4000,), 4.0, dtype=torch.float64))
    assert torch.all(draws > 0)
    torch.testing.assert_close(draws.mean(0), torch.ones(4, dtype=torch.float64), atol=0.05, rtol=0)
    assert draws.std(0).min() > 0.1  # actually random


def test_new_weights_every_step_and_reset_restarts_the_sequence():
    rlw = RLW(seed=1)
    losses = torch.ones(2)
    first = [rlw(losses) for _ in range(3)]
    assert not torch.equal(first[0], first[1])
    rlw.reset()
    for a in first:
        torch.testing.assert_close(rlw(losses), a)
    assert not torch.equal(RLW(seed=2)(losses), first[0])


def test_state_dict_round_trip_resumes_the_sequence():
    rlw = RLW(seed=5)
    losses = torch.ones(3)
    rlw(losses)
    rlw(losses)
    state = rlw.state_dict()
    fresh = RLW(seed=0)
    fresh.load_state_dict(state)
    assert fresh.seed == 5
    for _ in range(3):
        torch.testing.assert_close(fresh(losses), rlw(losses))


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    trainer = train_and_check(num_tasks, weighting="rlw", weighting_kwargs={"seed": 7})
    assert trainer.weighting.last_weights.shape == (num_tasks,)


def test_works_with_an_aggregator():
    train_and_check(2, weighting="rlw", aggregator="pcgrad")


@pytest.mark.parametrize("distribution", ["uniform", "dirichlet", "bernoulli", "constrained_bernoulli"])
def test_other_distributions(distribution):
    rlw = RLW(seed=1, distribution=distribution)
    draws = torch.stack([rlw.sample_weights(3) for _ in range(3000)])
    if distribution in ("uniform", "dirichlet"):
        # K·softmax of a draw in [0, 1]^K: sums to K, every weight within [K/(1+(K-1)e), K·e/(e+K-1)]
        torch.testing.assert_close(draws.sum(1), torch.full((3000,), 3.0, dtype=torch.float64))
        e = torch.e
        assert draws.min() >= 3 / (1 + 2 * e) - 1e-12 and draws.max() <= 3 * e / (e + 2) + 1e-12
        if distribution == "dirichlet":  # the softmax input sums to 1
            assert draws.std(0).min() > 0.05
    elif distribution == "bernoulli":
        assert set(draws.unique().tolist()) == {0.0, 1.0} and bool((draws.sum(1) > 0).all())
        # P(w_k = 1 | not all zero) = (1/2) / (1 - 1/8) = 4/7
        torch.testing.assert_close(draws.mean(0), torch.full((3,), 4 / 7, dtype=torch.float64), atol=0.04, rtol=0)
    else:
        torch.testing.assert_close(draws.sum(1), torch.ones(3000, dtype=torch.float64))
        torch.testing.assert_close(draws.mean(0), torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.04, rtol=0)
    rlw.reset()
    first = rlw.sample_weights(3)
    rlw.reset()
    torch.testing.assert_close(rlw.sample_weights(3), first)
    train_and_check(2, weighting="rlw", weighting_kwargs={"distribution": distribution})


def test_unknown_distribution_is_named():
    with pytest.raises(ValueError, match="constrained_bernoulli"):
        RLW(distribution="gamma")
