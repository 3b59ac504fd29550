"""Fault table: the trainer on non-finite losses, gradients, parameters and metrics.

Each case injects one fault and asserts the outcome: with ``nonfinite="raise"`` (default) a
:class:`NonFiniteError` whose message names the epoch, batch, step and the task or parameter;
with ``nonfinite="skip"`` the batch's update is dropped, counted and warned about, and training
carries on with finite parameters. Every registered aggregator and weighting is run through the
engine with a fault (methods added later are covered automatically).
"""

from __future__ import annotations

import pickle
import warnings

import pytest
import torch
from torch import nn

from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.core import NonFiniteError, NonFiniteStepWarning, Task
from mtl_lib.engine import Trainer
from mtl_lib.weighting import WEIGHTINGS
from tests.helpers import regression_batches, regression_tasks, tiny_model

NAN, INF = float("nan"), float("inf")


class Epochs:
    """Yields the same batches every epoch, with ``fault(batch)`` applied at (epoch, batch)."""

    def __init__(self, batches, epoch: int | None = None, batch: int | None = None, fault=None) -> None:
        self.batches, self.at, self.fault = batches, (epoch, batch), fault
        self.epoch = 0

    def __iter__(self):
        self.epoch += 1
        for index, batch in enumerate(self.batches, start=1):
            yield self.fault(batch) if (self.epoch, index) == self.at else batch


def with_target(task: int, value: float):
    def fault(batch):
        x, *ys = batch
        ys = [y.clone() for y in ys]
        ys[task][0, 0] = value
        return (x, *ys)

    return fault


def with_input(value: float):
    def fault(batch):
        x, *ys = batch
        x = x.clone()
        x[1, 2] = value
        return (x, *ys)

    return fault


class _NaNGradient(torch.autograd.Function):
    """Identity forward; NaN gradient backward (a finite loss whose gradient breaks). Only where
    the incoming gradient is non-zero, so the other tasks' Jacobian rows stay clean."""

    @staticmethod
    def forward(ctx, value):
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.where(grad != 0, torch.full_like(grad, NAN), torch.zeros_like(grad))


def nan_gradient_loss(trigger: dict):
    """An MSE loss whose gradient is NaN while ``trigger["on"]`` is set."""

    def loss(pred, target):
        value = nn.functional.mse_loss(pred, target)
        return _NaNGradient.apply(value) if trigger.get("on") else value

    return loss


def make_trainer(num_tasks: int = 2, **kwargs) -> Trainer:
    kwargs.setdefault("device", "cpu")
    kwargs.setdefault("progress", False)
    return Trainer(tiny_model(num_tasks), kwargs.pop("tasks", regression_tasks(num_tasks)), **kwargs)


def parameters_finite(trainer: Trainer) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in trainer.model.parameters())


# ----------------------------------------------------------------------------- raise: data faults
RAISE_CASES = [
    # (case, fault, epoch, batch, words the message must contain)
    (
        "nan_target_task1_epoch2",
        with_target(1, NAN),
        2,
        3,
        ["epoch 2", "batch 3", "step 7", "'t1'", "targets of task 't1'"],
    ),
    (
        "inf_target_task0_epoch1",
        with_target(0, INF),
        1,
        2,
        ["epoch 1", "batch 2", "step 2", "'t0'"],
    ),
    (
        "minus_inf_target_task1",
        with_target(1, -INF),
        3,
        1,
        ["epoch 3", "batch 1", "step 9", "'t1'"],
    ),
    ("nan_input", with_input(NAN), 2, 1, ["epoch 2", "batch 1", "'t0'", "'t1'", "inputs"]),
    ("inf_input", with_input(INF), 1, 4, ["epoch 1", "batch 4", "inputs"]),
]


@pytest.mark.parametrize(("case", "fault", "epoch", "batch", "words"), RAISE_CASES, ids=[c[0] for c in RAISE_CASES])
@pytest.mark.parametrize("aggregator", [None, "mgda"])
def test_nan_injected_mid_run_raises_naming_epoch_step_and_task(case, fault, epoch, batch, words, aggregator):
    trainer = make_trainer(aggregator=aggregator)
    data = Epochs(regression_batches(2, n_batches=4), epoch, batch, fault)
    with pytest.raises(NonFiniteError) as caught:
        trainer.fit(data, epochs=3)
    message = str(caught.value)
    for word in words:
        assert word in message, (word, message)
    assert "lower the learning rate" in message and "nonfinite='skip'" in message
    assert (caught.value.epoch, caught.value.batch) == (epoch, batch)
    assert caught.value.quantity == "loss"
    assert len(trainer.history) == epoch - 1  # completed epochs are kept, nothing after
    assert parameters_finite(trainer)  # the bad batch was never applied


# ----------------------------------------------------------------------------- every aggregator
def nan_gradient_tasks(aggregator: str, trigger: dict) -> tuple[int, list[Task]]:
    """Two tasks, the second with a NaN gradient while triggered; plus plain MSE tasks up to the
    aggregator's declared ``min_tasks`` (Krum and TrimmedMean need three)."""
    num_tasks = max(2, AGGREGATORS.build(aggregator).min_tasks)
    tasks = [Task("depth", nn.functional.mse_loss), Task("normals", nan_gradient_loss(trigger))]
    tasks += [Task(f"extra{k}", nn.functional.mse_loss) for k in range(2, num_tasks)]
    return num_tasks, tasks


@pytest.mark.parametrize("aggregator", AGGREGATORS.names())
def test_every_aggregator_names_the_task_whose_gradient_is_nan(aggregator):
    trigger: dict = {}
    num_tasks, tasks = nan_gradient_tasks(aggregator, trigger)
    trainer = make_trainer(num_tasks, tasks=tasks, aggregator=aggregator)
    batches = regression_batches(num_tasks, n_batches=3)
    trainer.fit(batches, epochs=1)
    trigger["on"] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(NonFiniteError, match="'normals'") as caught:
            trainer.fit(batches, epochs=1)
    assert "epoch 2, batch 1, step 4" in str(caught.value)
    assert caught.value.quantity == "jacobian"


@pytest.mark.parametrize("aggregator", AGGREGATORS.names())
def test_every_aggregator_survives_a_skipped_nan_step_with_finite_state(aggregator):
    trigger: dict = {}
    num_tasks, tasks = nan_gradient_tasks(aggregator, trigger)
    trainer = make_trainer(num_tasks, tasks=tasks, aggregator=aggregator, nonfinite="skip")
    batches = regression_batches(num_tasks, n_batches=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        trainer.fit(batches, epochs=1)
        trigger["on"] = True
        trainer.train_step(batches[0])
        assert trainer.last_step_skipped and trainer.skipped_steps == 1
        trigger["on"] = False
        history = trainer.fit(batches, epochs=1)
    assert parameters_finite(trainer)
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in history[-1].values() if isinstance(v, float))
    state = trainer.aggregator.state_dict()
    for value in state.values():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            assert bool(torch.isfinite(value).all())


# ----------------------------------------------------------------------------- every weighting
@pytest.mark.parametrize("weighting", WEIGHTINGS.names())
def test_every_weighting_names_the_task_with_a_nan_loss(weighting):
    trainer = make_trainer(weighting=weighting)
    data = Epochs(regression_batches(2, n_batches=3), 2, 2, with_target(0, NAN))
    with pytest.raises(NonFiniteError, match="'t0'") as caught:
        trainer.fit(data, epochs=3)
    assert "epoch 2, batch 2, step 5" in str(caught.value)


# ----------------------------------------------------------------------------- skip policy
def test_skip_policy_counts_the_skipped_batch_and_trains_as_without_it():
    batches = regression_batches(2, n_batches=4)
    trainer = make_trainer(nonfinite="skip")
    data = Epochs(batches, 2, 3, with_target(1, NAN))
    with pytest.warns(NonFiniteStepWarning, match=r"epoch 2: skipped 1 of 4 batches") as record:
        history = trainer.fit(data, epochs=3)
    assert len([w for w in record if issubclass(w.category, NonFiniteStepWarning)]) == 1
    assert trainer.skipped_steps == 1
    assert [r["skipped_steps"] for r in history] == [0, 1, 0]
    assert trainer.step_count == 11
    assert all(torch.isfinite(torch.tensor(r["t1/train_loss"])) for r in history)

    # The same run with that batch simply absent in epoch 2: identical parameters.
    reference = make_trainer()
    for epoch in (1, 2, 3):
        reference.fit([b for i, b in enumerate(batches, start=1) if (epoch, i) != (2, 3)], epochs=1)
    for p, q in zip(trainer.model.parameters(), reference.model.parameters()):
        assert torch.equal(p, q)


def test_skip_policy_epoch_means_exclude_the_skipped_batch():
    batches = regression_batches(2, n_batches=3)
    skip = make_trainer(nonfinite="skip")
    with pytest.warns(NonFiniteStepWarning):
        record = skip.fit(Epochs(batches, 1, 2, with_target(0, NAN)), epochs=1)[-1]
    plain = make_trainer()
    expected = plain.fit([batches[0], batches[2]], epochs=1)[-1]
    assert record["t0/train_loss"] == pytest.approx(expected["t0/train_loss"], rel=1e-6)


def test_skip_policy_raises_when_every_batch_of_an_epoch_is_bad():
    trainer = make_trainer(nonfinite="skip")
    bad = [with_target(0, NAN)(b) for b in regression_batches(2, n_batches=2)]
    with pytest.raises(NonFiniteError, match="every batch of epoch 1"):
        trainer.fit(bad, epochs=1)


def test_skip_policy_cannot_undo_a_nonfinite_parameter():
    trainer = make_trainer(nonfinite="skip")
    batches = regression_batches(2, n_batches=2)
    trainer.fit(batches, epochs=1)
    name, param = next(iter(trainer.model.named_parameters()))
    with torch.no_grad():
        param[0] = INF
    with pytest.raises(NonFiniteError, match=f"Parameter '{name}'") as caught:
        trainer.fit(batches, epochs=1)
    assert caught.value.quantity == "parameter" and caught.value.name == name
    assert "after step 2" in str(caught.value)


def test_parameter_overflowed_by_the_last_step_of_an_epoch_is_caught_at_epoch_end():
    class Overflow(torch.optim.SGD):
        """SGD whose 3rd step writes inf into the first parameter (an overflowing update)."""

        calls = 0

        def step(self, closure=None):
            Overflow.calls += 1
            super().step(closure)
            if Overflow.calls == 3:
                with torch.no_grad():
                    self.param_groups[0]["params"][0].fill_(INF)

    trainer = make_trainer()
    trainer.optimizer = Overflow(trainer.model.parameters(), lr=0.0)
    name = next(iter(trainer.model.named_parameters()))[0]
    with pytest.raises(NonFiniteError, match=f"Parameter '{name}' is inf after step 3 \\(end of epoch 1\\)"):
        trainer.fit(regression_batches(2, n_batches=3), epochs=2)
    assert trainer.history == []


# ----------------------------------------------------------------------------- divergence, gradients
def test_diverging_learning_rate_stops_with_an_error_not_nan_records():
    trainer = make_trainer(optimizer="sgd", lr=1e25)
    with pytest.raises(NonFiniteError, match=r"epoch \d+, batch \d+, step \d+") as caught:
        trainer.fit(regression_batches(2, n_batches=4), epochs=5)
    assert caught.value.quantity in ("loss", "parameter", "gradient")
    assert "learning rate" in str(caught.value)
    for record in trainer.history:
        assert all(torch.isfinite(torch.as_tensor(v)).all() for v in record.values() if isinstance(v, float))


@pytest.mark.parametrize("aggregator", [None, "sum"])
def test_finite_loss_with_nan_gradient_names_the_parameter(aggregator):
    trigger = {"on": True}
    tasks = [Task("t0", nn.functional.mse_loss), Task("t1", nan_gradient_loss(trigger))]
    trainer = make_trainer(tasks=tasks, aggregator=aggregator)
    with pytest.raises(NonFiniteError, match="epoch 1, batch 1, step 1") as caught:
        trainer.fit(regression_batches(2, n_batches=2), epochs=1)
    message = str(caught.value)
    assert ("'t1'" in message) or ("parameter" in message)
    assert "finite losses" in message or caught.value.quantity == "jacobian"


def test_representation_level_jacobian_with_nan_names_the_task():
    trigger = {"on": True}
    tasks = [Task("t0", nn.functional.mse_loss), Task("t1", nan_gradient_loss(trigger))]
    trainer = make_trainer(tasks=tasks, aggregator="mgda", jacobian_of="representation")
    with pytest.raises(NonFiniteError, match="'t1'"):
        trainer.train_step(regression_batches(2)[0])


# ----------------------------------------------------------------------------- evaluation, API
def test_nonfinite_evaluation_metric_is_reported_not_stored():
    trainer = make_trainer()
    eval_data = [with_target(1, NAN)(b) for b in regression_batches(2, n_batches=1, seed=5)]
    with pytest.raises(NonFiniteError, match=r"Evaluation after epoch 1 gave non-finite \['t1/loss'\]"):
        trainer.fit(regression_batches(2, n_batches=2), epochs=1, eval_data=eval_data)
    assert trainer.history == []


def test_unknown_policy_is_a_clear_error():
    with pytest.raises(ValueError, match="nonfinite must be one of"):
        make_trainer(nonfinite="ignore")


def test_error_survives_pickling_with_its_fields():
    error = NonFiniteError("boom", quantity="loss", name="t1", index=1, epoch=2, step=7, batch=3)
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == "boom"
    assert (copy.quantity, copy.name, copy.index, copy.epoch, copy.step, copy.batch) == (
        "loss",
        "t1",
        1,
        2,
        7,
        3,
    )
