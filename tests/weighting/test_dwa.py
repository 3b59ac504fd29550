import math

import pytest
import torch

from mtl_lib.weighting.dwa import DWA
from tests._asserts import train_and_check


def test_equal_weights_for_the_first_two_epochs():
    dwa = DWA()
    losses = torch.tensor([2.0, 30.0])
    torch.testing.assert_close(dwa(losses), losses)
    dwa.end_epoch(torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(dwa(losses), losses)
    dwa.end_epoch(torch.tensor([0.5, 1.0]))
    assert not torch.equal(dwa(losses), losses)


def test_formula_on_hand_values():
    dwa = DWA(temperature=2.0)
    dwa.end_epoch(torch.tensor([1.0, 1.0]))
    dwa.end_epoch(torch.tensor([0.5, 1.0]))  # ratios r = [0.5, 1.0]
    a, b = math.exp(0.25), math.exp(0.5)
    expected = torch.tensor([2 * a / (a + b), 2 * b / (a + b)], dtype=torch.float64)
    torch.testing.assert_close(dwa.weights, expected)
    losses = torch.tensor([3.0, 4.0], requires_grad=True)
    terms = dwa(losses)
    torch.testing.assert_close(terms.detach(), expected.float() * losses.detach())
    # The weights are constants: d(sum terms)/dL = w.
    (grad,) = torch.autograd.grad(terms.sum(), losses)
    torch.testing.assert_close(grad, expected.float())
    # The task whose loss fell less gets more weight.
    assert dwa.weights[1] > dwa.weights[0]


def test_uses_the_last_two_epochs_and_sums_to_k():
    dwa = DWA(temperature=0.7)
    history = [torch.tensor([4.0, 2.0, 9.0]), torch.tensor([3.0, 2.5, 1.0]), torch.tensor([1.0, 2.0, 1.5])]
    for epoch_losses in history:
        dwa.end_epoch(epoch_losses)
    ratios = (history[2] / history[1]).double()
    torch.testing.assert_close(dwa.weights, 3 * torch.softmax(ratios / 0.7, dim=0))
    torch.testing.assert_close(dwa.weights.sum(), torch.tensor(3.0, dtype=torch.float64))


def test_temperature_controls_the_spread():
    hot, cold = DWA(temperature=100.0), DWA(temperature=0.1)
    for dwa in (hot, cold):
        dwa.end_epoch(torch.tensor([1.0, 1.0]))
        dwa.end_epoch(torch.tensor([0.5, 1.0]))
    assert (hot.weights - 1).abs().max() < 0.01
    assert cold.weights[1] > 1.98
    with pytest.raises(ValueError):
        DWA(temperature=0.0)


def test_zero_loss_history_stays_finite():
    dwa = DWA()
    dwa.end_epoch(torch.tensor([0.0, 1.0]))
    dwa.end_epoch(torch.tensor([0.0, 1.0]))
    assert torch.isfinite(dwa(torch.tensor([1.0, 1.0]))).all()
    dwa.end_epoch(torch.tensor([1.0, 1.0]))
    assert torch.isfinite(dwa(torch.tensor([1.0, 1.0]))).all()


def test_state_dict_round_trip_and_reset():
    dwa = DWA(temperature=1.5)
    dwa.end_epoch(torch.tensor([2.0, 1.0, 1.0]))
    dwa.end_epoch(torch.tensor([1.0, 1.0, 3.0]))
    fresh = DWA()
    fresh.load_state_dict(dwa.state_dict())
    assert fresh.temperature == 1.5 and fresh.epochs_seen == 2
    losses = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(fresh(losses), dwa(losses))
    dwa.reset()
    assert dwa.weights is None and dwa.epochs_seen == 0
    torch.testing.assert_close(dwa(losses), losses)


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine_with_weights_from_the_epoch_records(num_tasks):
    trainer = train_and_check(num_tasks, weighting="dwa")
    dwa = trainer.weighting
    assert dwa.epochs_seen == 5
    means = [
        torch.tensor([r[f"t{k}/train_loss"] for k in range(num_tasks)], dtype=torch.float64) for r in trainer.history
    ]
    torch.testing.assert_close(dwa.weights, num_tasks * torch.softmax(means[-1] / means[-2] / 2.0, dim=0))


def test_works_with_an_aggregator():
    trainer = train_and_check(2, weighting="dwa", aggregator="pcgrad", weighting_kwargs={"temperature": 1.0})
    assert trainer.weighting.weights is not None
