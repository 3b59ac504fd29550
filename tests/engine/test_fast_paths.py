"""The fast paths change the cost of a step, never its numbers.

* ``jacobian_of="gramian"`` gives the weights and direction of ``jacobian_of="parameters"``
  for every aggregator whose weights depend on JJᵀ alone (1e-6 relative in float32, 1e-10 in
  float64), and task parameters the same gradients;
* the head split (the default Jacobian path on head-per-task models) gives every parameter the
  gradient of the full vmapped Jacobian, for every aggregator, and switches itself off when a
  task's loss reads another task's head.
"""

import warnings

import pytest
import torch
from torch import nn

from mtl_lib.aggregators import AGGREGATORS, GramianWeightedAggregator
from mtl_lib.core import NonFiniteError, Task
from mtl_lib.core.model import MultiTaskModel
from mtl_lib.engine import Trainer
from tests.helpers import NaNGradient, regression_batches, regression_tasks, tiny_model

RTOL = {torch.float32: 1e-6, torch.float64: 1e-10}


def _gram_only(name: str) -> bool:
    aggregator = AGGREGATORS.build(name)
    if not isinstance(aggregator, GramianWeightedAggregator) or aggregator.acts_on_all_parameters:
        return False
    try:
        check = getattr(aggregator, "check_gram_only", None)
        if callable(check):
            check()
    except ValueError:
        return False
    return True


GRAM_METHODS = [name for name in AGGREGATORS.names() if _gram_only(name)]


def _gradients(model: nn.Module) -> torch.Tensor:
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in model.parameters()])


def _relative(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours - reference).abs().max() / reference.abs().max().clamp_min(1e-300))


def _steps(num_tasks, dtype, aggregator, jacobian_of="parameters", split=True, model=None, steps=3):
    model = (model or tiny_model(num_tasks)).to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = Trainer(
            model, regression_tasks(num_tasks), aggregator=aggregator, optimizer="sgd", lr=0.0,
            device="cpu", progress=False, jacobian_of=jacobian_of,
        )  # fmt: skip
        if not split:
            trainer._split = None
        grads, weights = [], []
        for batch in regression_batches(num_tasks, n_batches=steps)[:steps]:
            trainer.train_step(tuple(t.to(dtype) for t in batch))
            grads.append(_gradients(trainer.model))
            w = getattr(trainer.last_aggregation, "weights", None)
            weights.append(None if w is None else w.detach().clone())
    return trainer, grads, weights


def test_the_gramian_methods_are_the_expected_ones():
    assert {"mgda", "imtl_g", "upgrad", "dualproj", "nash_mtl", "aligned_mtl", "cagrad", "pcgrad"} <= set(GRAM_METHODS)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("method", GRAM_METHODS)
def test_gramian_path_equals_the_jacobian_path(method, dtype):
    num_tasks = max(3, AGGREGATORS.build(method).min_tasks)
    _, reference, ref_weights = _steps(num_tasks, dtype, method, "parameters", split=False)
    trainer, ours, our_weights = _steps(num_tasks, dtype, method, "gramian")
    assert trainer.last_jacobian is None  # the K×P Jacobian was never formed
    for step, (a, b) in enumerate(zip(ours, reference)):
        assert _relative(a, b) < RTOL[dtype], f"step {step + 1}"
    for a, b in zip(our_weights, ref_weights):
        if a is not None and b is not None:
            assert _relative(a, b) < RTOL[dtype] * 10


@pytest.mark.parametrize("method", [None, *AGGREGATORS.names()])
def test_head_split_equals_the_full_jacobian_for_every_aggregator(method):
    num_tasks = 3 if method is None else max(3, AGGREGATORS.build(method).min_tasks)
    trainer, ours, _ = _steps(num_tasks, torch.float64, method, split=True, model=tiny_model(num_tasks))
    _, reference, _ = _steps(num_tasks, torch.float64, method, split=False, model=tiny_model(num_tasks))
    if method not in (None, "pcgrad_wrapper"):  # no per-task gradients / acts on all parameters
        assert trainer.task_split["task_split"] == "heads"
    for a, b in zip(ours, reference):
        assert _relative(a, b) < 1e-10


class LeakyHeads(MultiTaskModel):
    """Task 1's prediction also reads head 0's output: the split's assumption fails."""

    def __init__(self) -> None:
        super().__init__()
        base = tiny_model(2)
        self.encoder, self.heads, self.task_names = base.encoder, base.heads, ["t0", "t1"]

    def forward(self, x):
        z = self.encoder(x)
        first = self.heads[0](z)
        return [first, self.heads[1](z) + first]

    def shared_parameters(self):
        return list(self.encoder.parameters())

    def task_parameters(self, task):
        return list(self.heads[task].parameters())


def test_head_split_switches_itself_off_when_a_loss_reads_another_head():
    trainer, ours, _ = _steps(2, torch.float64, "mgda", model=LeakyHeads())
    _, reference, _ = _steps(2, torch.float64, "mgda", split=False, model=LeakyHeads())
    assert trainer.task_split["task_split"] == "none" and "disagreed" in trainer.task_split["reason"]
    for a, b in zip(ours, reference):
        assert _relative(a, b) < 1e-10


def test_gramian_path_refuses_what_it_cannot_do():
    model, tasks = tiny_model(2), regression_tasks(2)
    with pytest.raises(ValueError, match="Gram matrix only"):
        Trainer(model, tasks, aggregator="graddrop", jacobian_of="gramian", device="cpu", progress=False)
    with pytest.raises(ValueError, match="optimizer or the loss"):
        Trainer(model, tasks, aggregator="mgda", optimizer="adatask_adam", jacobian_of="gramian", device="cpu")


@pytest.mark.parametrize("method", GRAM_METHODS)
def test_gramian_path_names_the_task_whose_gradient_is_nan(method):
    num_tasks = max(2, AGGREGATORS.build(method).min_tasks)
    trigger = {"on": False}

    def broken(pred, target):
        value = nn.functional.mse_loss(pred, target)
        return NaNGradient.apply(value) if trigger["on"] else value

    tasks = [Task("depth", nn.functional.mse_loss), Task("normals", broken)]
    tasks += [Task(f"extra{k}", nn.functional.mse_loss) for k in range(2, num_tasks)]
    trainer = Trainer(
        tiny_model(num_tasks), tasks, aggregator=method, jacobian_of="gramian", device="cpu", progress=False
    )
    batches = regression_batches(num_tasks, n_batches=2)
    trainer.fit(batches, epochs=1)
    trigger["on"] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(NonFiniteError, match="'normals'") as caught:
            trainer.fit(batches, epochs=1)
    assert caught.value.quantity == "jacobian"
    assert all(bool(torch.isfinite(p).all()) for p in trainer.model.parameters())
