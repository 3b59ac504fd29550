"""Every registered loss weighting and aggregator trains through the engine: on AdaTask's
synthetic regression (2 tasks) and on a 3-task problem, 20 steps, finite losses, and the shared
encoder always moves. New methods are picked up from the registries automatically."""

import pytest
import torch

from mtl_lib import AGGREGATORS, WEIGHTINGS
from mtl_lib.problems import PROBLEMS
from tests._asserts import train_and_check
from tests.helpers import regression_batches


def _synthetic(seed=0):
    return PROBLEMS.get("synthetic_regression")(
        seed=seed, batch_size=32, device=torch.device("cpu"), n_train=160, n_test=32, hidden=(32, 32)
    )


METHODS = [("aggregator", name) for name in AGGREGATORS.names()] + [("weighting", name) for name in WEIGHTINGS.names()]


@pytest.mark.parametrize(("kind", "name"), METHODS, ids=[f"{k}:{n}" for k, n in METHODS])
def test_method_trains_on_synthetic_regression(kind, name):
    if kind == "aggregator" and getattr(AGGREGATORS.get(name), "min_tasks", 1) > 2:
        pytest.skip(f"{name} needs at least {AGGREGATORS.get(name).min_tasks} tasks (declared min_tasks)")
    torch.manual_seed(0)
    problem = _synthetic()
    train_and_check(model=problem.model, tasks=problem.tasks, batches=problem.train_data, **{kind: name})


@pytest.mark.parametrize(("kind", "name"), METHODS, ids=[f"{k}:{n}" for k, n in METHODS])
def test_method_trains_on_three_tasks(kind, name):
    train_and_check(3, batches=regression_batches(3, n_batches=5), **{kind: name})
