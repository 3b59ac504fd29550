"""Every registered loss weighting and aggregator trains through the engine: on AdaTask's
synthetic regression (2 tasks) and on a 3-task problem, 20 steps, finite losses, and the shared
encoder always moves. New methods are picked up from the registries automatically."""

import math

import pytest
import torch

from mtl_lib import AGGREGATORS, WEIGHTINGS
from mtl_lib.engine import Trainer
from mtl_lib.problems import PROBLEMS
from tests.helpers import regression_batches, regression_tasks, tiny_model


def _shared_snapshot(model):
    return [p.detach().clone() for p in model.shared_parameters()]


def _train_20_steps(model, tasks, batches, **method):
    before = _shared_snapshot(model)
    trainer = Trainer(model, tasks, optimizer="adam", lr=1e-3, device="cpu", progress=False, **method)
    steps = 0
    while steps < 20:
        history = trainer.fit(batches, epochs=1)
        steps = trainer.step_count
    losses = [v for k, v in history[-1].items() if k.startswith("train_loss/")]
    assert all(math.isfinite(v) for v in losses), history[-1]
    moved = [not torch.equal(a, b) for a, b in zip(before, model.shared_parameters())]
    assert all(moved), "every shared parameter tensor must receive an update"


def _synthetic(seed=0):
    return PROBLEMS.get("synthetic_regression")(
        seed=seed, batch_size=32, device=torch.device("cpu"), n_train=160, n_test=32, hidden=(32, 32)
    )


METHODS = [("aggregator", name) for name in AGGREGATORS.names()] + [
    ("weighting", name) for name in WEIGHTINGS.names()
]


@pytest.mark.parametrize(("kind", "name"), METHODS, ids=[f"{k}:{n}" for k, n in METHODS])
def test_method_trains_on_synthetic_regression(kind, name):
    if kind == "aggregator" and getattr(AGGREGATORS.get(name), "min_tasks", 1) > 2:
        pytest.skip(f"{name} needs at least {AGGREGATORS.get(name).min_tasks} tasks (declared min_tasks)")
    torch.manual_seed(0)
    problem = _synthetic()
    _train_20_steps(problem.model, problem.tasks, problem.train_data, **{kind: name})


@pytest.mark.parametrize(("kind", "name"), METHODS, ids=[f"{k}:{n}" for k, n in METHODS])
def test_method_trains_on_three_tasks(kind, name):
    _train_20_steps(tiny_model(3), regression_tasks(3), regression_batches(3, n_batches=5), **{kind: name})
