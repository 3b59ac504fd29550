import math

import pytest
import torch

from mtl_lib.weighting.stch import STCH
from tests._asserts import train_and_check


def _after_warmup(nadir, **kwargs):
    stch = STCH(warmup_epochs=1, **kwargs)
    stch.end_epoch(torch.tensor(nadir))
    assert not stch.in_warmup
    return stch


def test_defaults_are_the_authors():
    stch = STCH()
    assert (stch.mu, stch.warmup_epochs, stch.nadir_epochs, stch.log_losses, stch.ideal) == (1.0, 5, 1, True, "zero")


def test_warmup_trains_on_log_losses_and_records_the_nadir_in_its_last_epoch():
    stch = STCH()
    losses = torch.tensor([2.0, 0.5])
    for epoch in range(5):
        assert stch.in_warmup
        torch.testing.assert_close(stch(losses), torch.log(losses))
        stch.end_epoch(torch.tensor([10.0 + epoch, 20.0 + epoch]))
    assert not stch.in_warmup
    # Only the fifth (last) warm-up epoch's means make the nadir, as in the authors' code.
    torch.testing.assert_close(stch.nadir, torch.tensor([14.0, 24.0], dtype=torch.float64))


def test_nadir_averages_the_last_nadir_epochs():
    stch = STCH(warmup_epochs=3, nadir_epochs=2)
    for means in ([100.0, 100.0], [2.0, 4.0], [4.0, 8.0]):
        stch.end_epoch(torch.tensor(means))
    torch.testing.assert_close(stch.nadir, torch.tensor([3.0, 6.0], dtype=torch.float64))
    with pytest.raises(ValueError):
        STCH(warmup_epochs=2, nadir_epochs=3)


def test_objective_on_hand_values():
    stch = _after_warmup([2.0, 4.0])
    # f = log(L/n) = [log 0.5, 0]; K·μ·log(e^{log 0.5} + e^0) = 2 log 1.5.
    terms = stch(torch.tensor([1.0, 4.0]))
    torch.testing.assert_close(terms.sum(), torch.tensor(2 * math.log(1.5)))
    stch_mu = _after_warmup([2.0, 4.0], mu=0.5)
    expected = 2 * 0.5 * math.log(math.exp(math.log(0.5) / 0.5) + 1.0)
    torch.testing.assert_close(stch_mu(torch.tensor([1.0, 4.0])).sum(), torch.tensor(expected))
    plain = _after_warmup([2.0, 4.0], log_losses=False, sum_scale=False)
    torch.testing.assert_close(plain(torch.tensor([1.0, 4.0])).sum(), torch.tensor(math.log(math.exp(0.5) + math.e)))


def test_gradient_of_the_terms_is_the_gradient_of_the_objective():
    gen = torch.Generator().manual_seed(0)
    theta = torch.randn(6, generator=gen, requires_grad=True)
    features = torch.randn(3, 6, generator=gen)

    def losses_of(t):
        return (features @ t) ** 2 + 0.2

    for kwargs in ({}, {"mu": 0.3}, {"log_losses": False}, {"preference": [0.2, 1.0, 3.0]}):
        stch = _after_warmup([1.5, 0.7, 2.0], **kwargs)
        terms = stch(losses_of(theta))
        objective = stch.objective(losses_of(theta))
        torch.testing.assert_close(terms.sum(), objective)
        (ours,) = torch.autograd.grad(terms.sum(), theta)
        (reference,) = torch.autograd.grad(objective, theta)
        torch.testing.assert_close(ours, reference)


def test_per_task_terms_carry_the_softmax_share():
    stch = _after_warmup([1.0, 1.0, 1.0])
    losses = torch.tensor([1.0, 2.0, 4.0], requires_grad=True)
    terms = stch(losses)
    jac = torch.stack([torch.autograd.grad(terms[k], losses, retain_graph=True)[0] for k in range(3)])
    # dΦ/dL_k = K·softmax_k(log L)·(1/L_k) = K / Σ_j L_j: diagonal, equal for every task here.
    torch.testing.assert_close(jac, torch.eye(3) * 3 / 7)


def test_small_mu_approaches_k_times_the_max_and_favours_the_worst_task():
    stch = _after_warmup([1.0, 1.0], mu=1e-3, log_losses=False)
    losses = torch.tensor([0.5, 2.0], requires_grad=True)
    terms = stch(losses)
    torch.testing.assert_close(terms.sum(), torch.tensor(4.0), atol=1e-2, rtol=0)
    (grad,) = torch.autograd.grad(terms.sum(), losses)
    torch.testing.assert_close(grad, torch.tensor([0.0, 2.0]), atol=1e-4, rtol=0)


def test_equal_normalised_losses_give_weights_summing_to_k():
    stch = _after_warmup([2.0, 3.0, 4.0], log_losses=False)
    losses = torch.tensor([2.0, 3.0, 4.0], requires_grad=True)
    (grad,) = torch.autograd.grad(stch(losses).sum(), losses)
    # ∂Φ/∂f_k = 1 for each task; ∂f_k/∂L_k = 1/n_k.
    torch.testing.assert_close(grad * torch.tensor([2.0, 3.0, 4.0]), torch.ones(3))


def test_tracked_ideal_point():
    stch = _after_warmup([1.0, 1.0], ideal="min", log_losses=False)
    stch(torch.tensor([3.0, 1.0]))
    stch(torch.tensor([2.0, 5.0]))
    torch.testing.assert_close(stch.ideal_point, torch.tensor([2.0, 1.0]))
    # f − z = [1, 1]: value 2·log(2e).
    torch.testing.assert_close(stch(torch.tensor([3.0, 2.0])).sum(), torch.tensor(2 * math.log(2 * math.e)))
    with pytest.raises(ValueError):
        STCH(ideal="nadir")


def test_no_warmup_means_no_normalisation():
    stch = STCH(warmup_epochs=0, log_losses=False)
    assert not stch.in_warmup
    torch.testing.assert_close(stch(torch.tensor([1.0, 2.0])).sum(), torch.tensor(2 * math.log(math.e + math.e**2)))


def test_plain_warmup_is_equal_weighting_and_zero_losses_stay_finite():
    stch = STCH(warmup_epochs=1, log_losses=False)
    torch.testing.assert_close(stch(torch.tensor([1.0, 2.0])), torch.tensor([1.0, 2.0]))
    stch.end_epoch(torch.tensor([0.0, 1.0]))
    losses = torch.tensor([0.0, 1.0], requires_grad=True)
    terms = STCH(warmup_epochs=1)(losses)
    assert torch.isfinite(terms).all()
    for module in (stch, _after_warmup([0.0, 1.0])):
        terms = module(losses)
        (grad,) = torch.autograd.grad(terms.sum(), losses)
        assert torch.isfinite(terms).all() and torch.isfinite(grad).all()


def test_permuting_tasks_permutes_terms():
    losses = torch.tensor([0.3, 5.0, 1.7])
    perm = torch.tensor([2, 0, 1])
    nadir = torch.tensor([1.0, 2.0, 3.0])
    a, b = _after_warmup(nadir[perm].tolist()), _after_warmup(nadir.tolist())
    torch.testing.assert_close(a(losses[perm]), b(losses)[perm])


def test_state_dict_round_trip_and_reset():
    stch = STCH(warmup_epochs=2, ideal="min")
    stch.end_epoch(torch.tensor([3.0, 1.0]))
    stch.end_epoch(torch.tensor([2.0, 4.0]))
    stch(torch.tensor([1.0, 1.0]))
    fresh = STCH(warmup_epochs=2, ideal="min")
    fresh.load_state_dict(stch.state_dict())
    losses = torch.tensor([1.5, 0.5])
    torch.testing.assert_close(fresh(losses), stch(losses))
    stch.reset()
    assert stch.in_warmup and stch.nadir is None and stch.ideal_point is None
    torch.testing.assert_close(stch(losses), torch.log(losses))


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine_past_its_warmup(num_tasks):
    trainer = train_and_check(num_tasks, weighting="stch", weighting_kwargs={"warmup_epochs": 2})
    stch = trainer.weighting
    assert stch.epochs_seen == 5 and not stch.in_warmup
    second = torch.tensor([trainer.history[1][f"t{k}/train_loss"] for k in range(num_tasks)], dtype=torch.float64)
    torch.testing.assert_close(stch.nadir, second)


def test_default_warmup_through_the_engine():
    trainer = train_and_check(2, weighting="stch")
    assert trainer.weighting.nadir is not None and not trainer.weighting.in_warmup


def test_works_with_an_aggregator():
    train_and_check(3, weighting="stch", aggregator="pcgrad", weighting_kwargs={"warmup_epochs": 1, "ideal": "min"})


def test_a_zero_loss_is_reported():
    # log-losses: the zero task's slope 1/(L + eps) outweighs every other task's (issue 25)
    from mtl_lib.weighting import ZeroLossWarning

    with pytest.warns(ZeroLossWarning, match=r"task\(s\) \[1\]"):
        STCH()(torch.tensor([2.0, 0.0], requires_grad=True))
