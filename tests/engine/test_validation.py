"""The trainer's input checks (engine/validation.py), one test per case of issue 25 item 1.

Each case names what happened before (a raw Python error from deep inside a step) and checks
that the error now names the problem and the fix, and comes before any optimizer step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtl_lib.core import MultiTaskModel, Task
from mtl_lib.core.errors import UsageError
from mtl_lib.core.options import OptionError
from mtl_lib.core.registry import UnknownNameError
from mtl_lib.engine import Trainer
from tests.helpers import regression_batches, regression_tasks, tiny_model


def _trainer(model=None, tasks=None, **kwargs):
    kwargs.setdefault("device", "cpu")
    return Trainer(
        model if model is not None else tiny_model(2), tasks or regression_tasks(2), progress=False, **kwargs
    )


class _NoTaskNames(MultiTaskModel):
    """A subclass that forgot ``task_names``."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(6, 3)

    def forward(self, x):
        return [self.body(x), self.body(x)]

    def shared_parameters(self):
        return list(self.body.parameters())

    def task_parameters(self, task):
        return []


class _Unimplemented(MultiTaskModel):
    def __init__(self):
        super().__init__()
        self.task_names = ["t0", "t1"]
        self.body = nn.Linear(6, 3)


# ----------------------------------------------------------------------------- the model
def test_plain_sequential_names_the_interface_and_the_fix():
    # Before: AttributeError: 'Sequential' object has no attribute 'num_tasks'
    with pytest.raises(UsageError) as caught:
        _trainer(nn.Sequential(nn.Linear(6, 3)))
    message = str(caught.value)
    assert "Sequential is not a multi-task model" in message
    assert "task_names, shared_parameters(), task_parameters()" in message
    assert "HardSharing(encoder, heads" in message and "subclass mtl_lib.core.MultiTaskModel" in message


def test_subclass_without_task_names():
    # Before: AttributeError: '_NoTaskNames' object has no attribute 'num_tasks'
    with pytest.raises(UsageError, match="_NoTaskNames is not a multi-task model: it has no task_names"):
        _trainer(_NoTaskNames())


def test_subclass_without_the_parameter_methods():
    # Before: NotImplementedError with no message, from check_parameter_partition
    with pytest.raises(UsageError, match=r"_Unimplemented.shared_parameters\(\) is not implemented"):
        _trainer(_Unimplemented())


def test_forward_with_the_wrong_number_of_outputs():
    # Before: zip() silently dropped the third task (no error at all)
    model = tiny_model(3)
    model.decode = lambda features: [head(features) for head in model.heads[:2]]
    with pytest.raises(UsageError, match="returned 2 outputs for 3 tasks"):
        _trainer(model, regression_tasks(3)).train_step(regression_batches(3)[0])


# ----------------------------------------------------------------------------- the tasks
def test_task_count_names_the_model_outputs():
    # Before: ValueError: 3 tasks given for a model with 2 outputs (no names, no fix)
    with pytest.raises(UsageError, match=r"3 tasks given for a model with 2 outputs \(task_names \['t0', 't1'\]\)"):
        _trainer(tasks=regression_tasks(3))


def test_tasks_in_another_order_than_the_outputs():
    # Before: trained silently with each loss on the other task's output
    with pytest.raises(UsageError, match="in another order than the model's outputs"):
        _trainer(tasks=list(reversed(regression_tasks(2))))


def test_something_else_than_a_task():
    # Before: AttributeError: 'function' object has no attribute 'name'
    with pytest.raises(UsageError, match=r"tasks\[1\] is function, not a task: pass mtl_lib.core.Task"):
        _trainer(tasks=[regression_tasks(1)[0], nn.functional.mse_loss])


# ----------------------------------------------------------------------------- losses and data
def _per_feature_loss(prediction, target):
    return ((prediction - target) ** 2).mean(0)  # forgot to reduce over features: shape (3,)


@pytest.mark.parametrize("aggregator", [None, "pcgrad"])
def test_vector_loss_names_the_task_and_the_shape(aggregator):
    # Before: RuntimeError: stack expects each tensor to be equal size, but got [3] at entry 0 ...
    tasks = [Task("t0", _per_feature_loss), Task("t1", nn.functional.mse_loss)]
    trainer = _trainer(tasks=tasks, aggregator=aggregator)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    with pytest.raises(UsageError) as caught:
        trainer.fit(regression_batches(2), epochs=1)
    message = str(caught.value)
    assert "the loss of task 't0' returned a tensor of shape (3,)" in message
    assert "not a scalar" in message and ".mean()" in message
    assert trainer.step_count == 0
    assert all(torch.equal(p, q) for p, q in zip(trainer.model.parameters(), before))


def test_loss_returning_a_python_number():
    # Before: AttributeError: 'float' object has no attribute 'float'
    tasks = [Task("t0", lambda p, t: float(nn.functional.mse_loss(p, t).detach())), Task("t1", nn.functional.mse_loss)]
    with pytest.raises(UsageError, match="returned float, not a tensor: return the loss tensor itself"):
        _trainer(tasks=tasks).train_step(regression_batches(2)[0])


def test_float64_data_on_a_float32_model():
    # Before: RuntimeError: mat1 and mat2 must have the same dtype, but got Double and Float
    batches = [tuple(t.double() for t in batch) for batch in regression_batches(2)]
    trainer = _trainer()
    with pytest.raises(UsageError) as caught:
        trainer.fit(batches, epochs=1)
    message = str(caught.value)
    assert "the inputs are torch.float64 but the model's parameters are torch.float32" in message
    assert "x.to(torch.float32)" in message and "model.to(torch.float64)" in message
    assert trainer.step_count == 0


def test_float64_evaluation_data():
    # Before: RuntimeError: mat1 and mat2 must have the same dtype, after the first epoch's training
    batches = regression_batches(2)
    with pytest.raises(UsageError, match="the inputs are torch.float64"):
        _trainer().fit(batches, epochs=1, eval_data=[tuple(t.double() for t in batches[0])])


def test_a_batch_that_is_not_a_sequence():
    # Before: ValueError: too many values to unpack / a mis-split tensor
    with pytest.raises(UsageError, match=r"a batch must be a sequence \(x, target_1, ..., target_2\)"):
        _trainer().train_step(torch.zeros(5, 6))


def test_a_batch_with_too_few_targets():
    # Before: ValueError: batch has 1 targets for 2 tasks (kept, now with the layout to use)
    with pytest.raises(UsageError, match="batch has 1 targets for 2 tasks: batches are"):
        _trainer().train_step(regression_batches(2)[0][:2])


# ----------------------------------------------------------------------------- options and names
def test_unknown_aggregator_option_lists_the_valid_ones():
    # Before: TypeError: CAGrad.__init__() got an unexpected keyword argument 'alpha'
    with pytest.raises(OptionError, match=r"'cagrad' takes no option\(s\) \['alpha'\]; its options: c, max_iters"):
        _trainer(aggregator="cagrad", aggregator_kwargs={"alpha": 0.5})


def test_unknown_weighting_option_suggests_the_close_one():
    # Before: TypeError: DWA.__init__() got an unexpected keyword argument 'temperatur'
    with pytest.raises(OptionError, match="'temperatur': did you mean 'temperature'"):
        _trainer(weighting="dwa", weighting_kwargs={"temperatur": 2.0})


def test_unknown_optimizer_option():
    # Before: TypeError: Adam.__init__() got an unexpected keyword argument 'momentum'
    with pytest.raises(
        OptionError, match=r"optimizer 'adam' takes no option\(s\) \['momentum'\]; its options: amsgrad"
    ):
        _trainer(optimizer_kwargs={"momentum": 0.9})


def test_unknown_adatask_option_is_checked_through_its_base_class():
    # Before: TypeError from AdaTask.__init__ (the registered class forwards **kwargs)
    with pytest.raises(OptionError, match=r"'adatask_adam' takes no option\(s\) \['bogus'\]"):
        _trainer(optimizer="adatask_adam", optimizer_kwargs={"bogus": 1})


def test_weighting_uncertainty_suggests_uw():
    # Before: Unknown loss weighting 'uncertainty'. Valid names: ... (no suggestion)
    with pytest.raises(UnknownNameError, match=r"Did you mean 'uw' \(UW: uncertainty weighting"):
        _trainer(weighting="uncertainty")


def test_aggregator_options_without_an_aggregator():
    # Before: the options were silently ignored
    with pytest.raises(UsageError, match="aggregator_kwargs \\['seed'\\] given without an aggregator"):
        _trainer(aggregator_kwargs={"seed": 1})


# ----------------------------------------------------------------------------- ranges and device
@pytest.mark.parametrize("lr", [-1.0, float("nan"), float("inf"), "1e-3", True])
def test_learning_rate_range(lr):
    # Before: ValueError: Invalid learning rate: -1 (torch), TypeError for a string, nan accepted
    with pytest.raises(UsageError, match="lr must be a finite number >= 0"):
        _trainer(lr=lr)


@pytest.mark.parametrize(
    ("epochs", "phases", "fragment"),
    [
        (-1, None, "epochs must be an integer >= 0, got -1"),
        (1.5, None, "epochs must be an integer >= 0, got 1.5"),
        (None, [("warmup", -1)], "phases must be (name, epochs >= 0) pairs"),
        (None, "main", "phases must be a list of (name, epochs) pairs"),
    ],
)
def test_schedule_range(epochs, phases, fragment):
    # Before: epochs=-1 trained nothing and returned; 1.5 raised TypeError from range()
    with pytest.raises(UsageError) as caught:
        _trainer().fit(regression_batches(2), epochs=epochs, phases=phases)
    assert fragment in str(caught.value)


def test_unknown_device():
    # Before: RuntimeError: Expected one of cpu, cuda, ipu, xpu, ... device type at start of device string: cdua
    with pytest.raises(UsageError, match="unknown device 'cdua': use 'auto', 'cpu', 'cuda'"):
        _trainer(device="cdua")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it():
    with pytest.raises(UsageError, match="CUDA is not available here: use 'auto' or 'cpu'"):
        _trainer(device="cuda")
