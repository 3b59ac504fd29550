"""The synthetic regression problem records every definition of a task-normalized error (issue 22)."""

from __future__ import annotations

import math

import pytest
import torch

from mtl_lib.engine import Trainer
from mtl_lib.metrics import rmse
from mtl_lib.problems.synthetic import (
    DEFAULT_TASK_NORMALIZATION,
    TASK_NORMALIZATIONS,
    _cached_synthetic,
    synthetic_regression_problem,
    task_normalized_key,
)

SMALL = {"n_train": 256, "n_test": 128, "hidden": (16, 16, 16, 16)}


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _build(seed: int = 0, **options):
    torch.manual_seed(seed)  # what the runner's seed_everything does before building a problem
    return synthetic_regression_problem(seed=seed, batch_size=64, device=torch.device("cpu"), **{**SMALL, **options})


def _data():
    return _cached_synthetic(SMALL["n_train"], SMALL["n_test"], 0, "uniform", "variance", "pooled")


def _trainer(problem) -> Trainer:
    return Trainer(problem.model, problem.tasks, optimizer="adam", lr=1e-3, device="cpu", progress=False)


def test_every_definition_is_recorded_per_task():
    problem = _build()
    for task in problem.tasks:
        assert set(TASK_NORMALIZATIONS.values()) <= set(task.metrics)
    history = _trainer(problem).fit(problem.train_data, epochs=1, eval_data=problem.eval_data)
    for task in ("A", "B"):
        for key in TASK_NORMALIZATIONS.values():
            assert math.isfinite(history[-1][f"{task}/{key}"])


def test_each_definition_equals_its_formula_on_the_problem():
    problem, data = _build(), _data()
    generator = torch.Generator().manual_seed(1)
    for k, task in enumerate(problem.tasks):
        target = data.y_test[k]
        prediction = target + torch.randn(target.shape, generator=generator)
        error = rmse(prediction, target)
        with torch.no_grad():
            initial = float((problem.model(data.x_test)[k].double() - target.double()).square().mean())
        assert task.metrics["nrmse"](prediction, target) == pytest.approx(error / float(data.y_train[k].std()))
        assert task.metrics["nrmse_rms"](prediction, target) == pytest.approx(
            error / float(data.y_train[k].square().mean().sqrt())
        )
        mse = float((prediction.double() - target.double()).square().mean())
        assert task.metrics["loss_ratio"](prediction, target) == pytest.approx(mse / initial, rel=1e-6)
        assert task.metrics["rmse_ratio"](prediction, target) == pytest.approx(math.sqrt(mse / initial), rel=1e-6)


def test_loss_ratio_is_one_at_initialisation_and_falls_with_training():
    """L(0) is the initialised network's loss on the test set: evaluating before any step gives
    exactly 1 (both ratios), and training lowers them."""
    problem = _build()
    trainer = _trainer(problem)
    at_start = trainer.evaluate(problem.eval_data)
    for task in ("A", "B"):
        assert at_start[f"{task}/loss_ratio"] == pytest.approx(1.0, rel=1e-5)
        assert at_start[f"{task}/rmse_ratio"] == pytest.approx(1.0, rel=1e-5)
    history = trainer.fit(problem.train_data, epochs=3, eval_data=problem.eval_data)
    assert all(history[-1][f"{task}/loss_ratio"] < 1.0 for task in ("A", "B"))
    for task in ("A", "B"):
        assert history[-1][f"{task}/rmse_ratio"] == pytest.approx(math.sqrt(history[-1][f"{task}/loss_ratio"]))


def test_initial_loss_is_per_run_seed_and_leaves_the_random_stream_alone():
    """Each seed's network has its own L(0); measuring it draws no random numbers, so the
    training of existing runs (and their recorded nrmse) is unchanged."""
    first, other = _build(seed=0), _build(seed=1)
    data = _data()
    pred = data.y_test[0] * 0.5
    assert first.tasks[0].metrics["loss_ratio"](pred, data.y_test[0]) != other.tasks[0].metrics["loss_ratio"](
        pred, data.y_test[0]
    )
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    synthetic_regression_problem(seed=0, batch_size=64, device=torch.device("cpu"), **SMALL)
    after_build = torch.rand(3)
    torch.manual_seed(0)
    from mtl_lib.architectures import synthetic_mlp

    synthetic_mlp(hidden=SMALL["hidden"], task_names=("A", "B"))
    assert torch.equal(after_build, torch.rand(3)) and not torch.equal(after_build, expected)


def test_the_default_definition_is_the_one_the_chapters_used():
    assert DEFAULT_TASK_NORMALIZATION == "std" and task_normalized_key() == "nrmse"
    assert [task_normalized_key(d) for d in ("std", "rms", "loss_ratio", "rmse_ratio")] == [
        "nrmse",
        "nrmse_rms",
        "loss_ratio",
        "rmse_ratio",
    ]
    with pytest.raises(ValueError, match=r"'loss_ratio'.*did you mean 'loss_ratio'"):
        task_normalized_key("loss-ratio")


# Issue 25: wrong options fail before any data are generated, naming the option and what it takes.
BAD_OPTIONS = [
    ({"n_train": "64"}, "option 'n_train' must be an integer, got '64' (str)"),
    ({"n_test": 0}, "option 'n_test' must be an integer >= 1, got 0"),
    ({"data_seed": -1}, "option 'data_seed' must be an integer >= 0, got -1"),
    (
        {"input_dist": "gaussian"},
        "option 'input_dist' must be one of ['uniform', 'normal', 'uniform_unit_norm', 'uniform01'], got",
    ),
    ({"noise_spread": "var"}, "option 'noise_spread' must be one of ['variance', 'std']"),
    ({"sampling": "fresh_samples"}, "option 'sampling' must be one of ['fixed', 'fresh']"),
    ({"spread": "stdev"}, "option 'spread' must be one of ['variance', 'std'], got 'stdev'; did you mean 'std'?"),
    ({"target_scaling": "pool"}, "did you mean 'pooled'?"),
    ({"hidden": 100}, "option 'hidden' must be a non-empty sequence of layer widths"),
    ({"hidden": (100, 0)}, "option 'hidden[1]' must be an integer >= 1, got 0"),
    ({"rotograd": "yes"}, "option 'rotograd' must be True or False"),
]


@pytest.mark.parametrize(
    "options, fragment", BAD_OPTIONS, ids=[next(iter(o)) + "=" + repr(next(iter(o.values()))) for o, _ in BAD_OPTIONS]
)
def test_bad_option_names_the_option_and_what_it_takes(options, fragment):
    from mtl_lib.core.options import OptionError

    with pytest.raises(OptionError) as info:
        _build(**options)
    assert str(info.value).startswith("synthetic_regression problem: ") and fragment in str(info.value)


def test_unknown_option_suggests_the_close_name_and_lists_the_options():
    with pytest.raises(TypeError) as info:
        _build(input_dis="normal")
    message = str(info.value)
    assert "'input_dis': did you mean 'input_dist'?" in message
    assert (
        "(its options: n_train, n_test, data_seed, input_dist, spread, target_scaling, hidden, rotograd, "
        "noise_spread, sampling, n_val, eval_split)" in message
    )


def test_gradnorm_toy_input_conventions():
    """GradNorm's toy ports: U(-1, 1) divided by its L2 norm (brianlan), U(0, 1) (LucasBoTang)."""
    unit = _cached_synthetic(64, 8, 0, "uniform_unit_norm", "std", "pooled")
    assert torch.allclose(unit.x_train.norm(dim=1), torch.ones(64), atol=1e-5)
    assert unit.x_train.min() < 0
    positive = _cached_synthetic(64, 8, 0, "uniform01", "std", "pooled")
    assert positive.x_train.min() >= 0 and positive.x_train.max() < 1


def test_noise_spread_reads_n_0_01_as_std_or_variance():
    """ε ~ N(0, 0.1): std sqrt(0.1) ≈ 0.316 as a variance, 0.1 as a std (raw targets, same x and W)."""
    as_variance = _cached_synthetic(2000, 8, 0, "uniform", "variance", "none", "variance")
    as_std = _cached_synthetic(2000, 8, 0, "uniform", "variance", "none", "std")
    noise = [(a - b) for a, b in zip(as_variance.y_train, as_std.y_train)]
    # the same draw z scaled by sqrt(0.1) and by 0.1: the difference is (sqrt(0.1) - 0.1) z
    assert float(noise[0].std()) == pytest.approx(math.sqrt(0.1) - 0.1, rel=0.02)


def test_fresh_sampling_draws_new_reproducible_batches_scaled_like_the_training_set():
    problem = _build(sampling="fresh")
    first, second = list(problem.train_data), list(problem.train_data)
    assert len(first) == len(problem.train_data) == 4  # 256 samples per epoch, batch 64
    assert not torch.equal(first[0][0], second[0][0])  # new samples every epoch
    again = list(_build(sampling="fresh").train_data)
    assert torch.equal(first[0][0], again[0][0]) and torch.equal(first[0][2], again[0][2])  # seeded
    data = _data()
    fresh_b = torch.cat([batch[2] for batch in first + second])
    # same problem, same scaling: the fresh targets' spread matches the fixed training set's
    assert float(fresh_b.std()) == pytest.approx(float(data.y_train[1].std()), rel=0.1)


def test_a_validation_split_leaves_training_and_test_data_as_they_were():
    """eval_split='val' (issue 24's equal-budget search) evaluates on further samples of the same
    problem, drawn apart: the training batches are the default's, the evaluation set is new, and
    L(0) of the loss ratio is measured on it (1 at initialisation)."""
    plain = synthetic_regression_problem(seed=0, batch_size=64, device=torch.device("cpu"), **SMALL)
    val = synthetic_regression_problem(seed=0, batch_size=64, device=torch.device("cpu"), n_val=100,
                                       eval_split="val", **SMALL)  # fmt: skip
    for a, b in zip(plain.train_data, val.train_data):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    (x_test, *_), (x_val, *_) = next(iter(plain.eval_data)), next(iter(val.eval_data))
    assert x_val.shape[0] == 100 and x_test.shape[0] == SMALL["n_test"]
    assert not torch.equal(x_val[:10], x_test[:10])
    trainer = Trainer(val.model, val.tasks, progress=False)
    scores = trainer.evaluate(val.eval_data)
    assert math.isclose(scores["A/loss_ratio"], 1.0, rel_tol=1e-5) and math.isclose(
        scores["B/loss_ratio"], 1.0, rel_tol=1e-5
    )
    with pytest.raises(Exception, match="n_val >= 1"):
        synthetic_regression_problem(seed=0, batch_size=64, device=torch.device("cpu"), eval_split="val", **SMALL)
    with pytest.raises(Exception, match="eval_split"):
        synthetic_regression_problem(seed=0, batch_size=64, device=torch.device("cpu"), eval_split="train", **SMALL)
