"""The "multidigits" problem and the chapter's method list: every method of the chapter (and
every registered aggregator and loss weighting) trains on it through the engine; options
(third task, loss scales, evaluation split) do what they say."""

import math
import warnings

import pytest
import torch

pytest.importorskip("sklearn")

from mtl_lib import AGGREGATORS, WEIGHTINGS  # noqa: E402
from mtl_lib.architectures import ARCHITECTURES, HardSharing  # noqa: E402
from mtl_lib.experiments import RunConfig, run  # noqa: E402
from mtl_lib.problems import PROBLEMS  # noqa: E402
from mtl_lib.studies import multidigits as md  # noqa: E402

TINY = {"n_train": 64, "n_val": 32, "n_test": 32}


def _build(**options):
    return PROBLEMS.get("multidigits")(seed=0, batch_size=32, device=torch.device("cpu"), **{**TINY, **options})


def _trains(config: RunConfig) -> dict:
    """Run ``config`` (2 epochs × 2 batches of 32) through the runner and engine; every final
    metric and loss must be finite."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = run(config)
    values = [v for k, v in record["final"].items() if "/" in k]
    assert values and all(math.isfinite(v) for v in values), record["final"]
    assert record["final"]["steps"] == 4
    return record


CHAPTER = md.methods("smoke")


@pytest.mark.parametrize("method", CHAPTER, ids=[m.key for m in CHAPTER])
def test_every_chapter_method_trains_through_the_engine(method):
    config = md._config("smoke", method, seed=0, device="cpu")
    config = RunConfig(**{**config.__dict__, "batch_size": 32, "problem_kwargs": {**config.problem_kwargs, **TINY}})
    _trains(config)


def test_the_chapter_covers_every_registered_method():
    keys = {m.key for m in CHAPTER}
    assert set(WEIGHTINGS.names()) <= keys
    assert set(AGGREGATORS.names()) - set(md.SKIPPED) - set(md.NEEDS_MORE_TASKS) <= keys
    assert {"adatask_adam", "adatask_rmsprop", "adatask_adagrad", "rotograd"} <= keys
    # AdaTask rows are compared with EW on their own base optimizer
    refs = {m.key: m.reference for m in CHAPTER}
    assert refs["adatask_rmsprop"] == "EW · RMSProp" and refs["adatask_adam"] == "EW"


@pytest.mark.parametrize("name", sorted(md.SKIPPED))
def test_skipped_aggregators_still_train_here(name):
    # skipped from the chapter for the stated reason, not because they fail on this problem
    config = RunConfig(
        problem="multidigits",
        aggregator=name,
        epochs=2,
        batch_size=32,
        problem_kwargs=TINY,
        device="cpu",
    )
    _trains(config)


def test_lenet_is_registered_with_an_encode_decode_split():
    model = ARCHITECTURES.build("lenet", num_classes=(10, 10, 2), task_names=("a", "b", "c"))
    assert isinstance(model, HardSharing)
    model.check_parameter_partition()
    x = torch.rand(5, 1, 12, 12)
    z = model.encode(x)
    assert z.shape == (5, 50)
    assert [o.shape for o in model.decode(z)] == [(5, 10), (5, 10), (5, 2)]


def test_third_task_gives_three_tasks_and_trains():
    problem = _build(third_task=True)
    assert [t.name for t in problem.tasks] == ["left", "right", "parity"]
    x, *ys = next(iter(problem.train_data))
    assert len(ys) == 3 and ((ys[0] + ys[1]) % 2 == ys[2]).all()
    config = RunConfig(problem="multidigits", aggregator="pcgrad", epochs=2, batch_size=32,
                       problem_kwargs={**TINY, "third_task": True}, device="cpu")  # fmt: skip
    _trains(config)


def test_loss_scales_multiply_one_task_loss_only():
    plain, scaled = _build(), _build(loss_scales=(1.0, 10.0))
    pred, target = torch.randn(8, 10), torch.randint(0, 10, (8,))
    assert scaled.tasks[0].loss(pred, target) == pytest.approx(float(plain.tasks[0].loss(pred, target)))
    assert scaled.tasks[1].loss(pred, target) == pytest.approx(10 * float(plain.tasks[1].loss(pred, target)))
    with pytest.raises(ValueError, match="loss_scales"):
        _build(loss_scales=(1.0,))


def test_eval_split_selects_validation_or_test():
    val, test = _build(eval_split="val"), _build()
    assert len(val.eval_data.tensors[0]) == TINY["n_val"] and len(test.eval_data.tensors[0]) == TINY["n_test"]
    assert "REAL" in test.description
    with pytest.raises(ValueError, match="eval_split"):
        _build(eval_split="train")
    with pytest.raises(TypeError, match="unknown multidigits options"):
        _build(colour=True)


def test_upsample_enlarges_the_input_and_the_model_follows():
    problem = _build(upsample=2)
    x, *_ = next(iter(problem.train_data))
    assert x.shape[-2:] == (24, 24)
    assert [o.shape[-1] for o in problem.model(x)] == [10, 10]


def test_rau_diagnostics_record_bucket_shares_on_real_data():
    config = RunConfig(problem="multidigits", epochs=2, batch_size=32, problem_kwargs={**TINY, "loss_scales": (1.0, 10.0)},
                       diagnostics=("rau",), device="cpu")  # fmt: skip
    record = run(config)
    shares = record["diagnostics"]["rau_buckets"]["right"]["all"]
    assert sum(shares.values()) == pytest.approx(1.0)


def test_rotation_lr_reaches_rotograds_optimizer_and_the_chapter_sets_a_tenth_of_the_model_rate():
    from mtl_lib.architectures.rotograd import RotoGradRotationStep

    def rotation_lr(problem):
        (step,) = [c for c in problem.callbacks if isinstance(c, RotoGradRotationStep)]
        return step.optimizer_kwargs["lr"]

    assert rotation_lr(_build(rotograd=True)) == 0.05  # the library default
    assert rotation_lr(_build(rotograd=True, rotation_lr=2e-3)) == 2e-3
    configs = md.configs("smoke", device="cpu", base_lrs={"adam": 3e-2, "rmsprop": 1e-3, "adagrad": 1e-2})
    roto = [c for c in configs if c.label == "RotoGrad"]
    assert roto and all(c.problem_kwargs["rotation_lr"] == pytest.approx(c.lr * md.ROTATION_LR_FRACTION) for c in roto)
    assert all("rotation_lr" not in c.problem_kwargs for c in configs if c.label != "RotoGrad")


# Issue 25: each bad option used to fail with a raw Python error that did not name it (or not at
# all); now every one is an OptionError naming the option and the valid range or type.
BAD_OPTIONS = [
    ("n_train-as-string", {"n_train": "64"}, ["'n_train'", "must be an integer", "'64' (str)"]),
    ("n_train-as-float", {"n_train": 64.0}, ["'n_train'", "must be an integer", "n_train=64"]),
    ("n_val-bool", {"n_val": True}, ["'n_val'", "integer", "True (bool)"]),
    ("n_test-negative", {"n_test": -5}, ["'n_test'", ">= 1", "-5"]),
    ("data_seed-negative", {"data_seed": -1}, ["'data_seed'", ">= 0", "-1"]),
    ("data_seed-float", {"data_seed": 1.5}, ["'data_seed'", "must be an integer"]),
    ("data_seed-string", {"data_seed": "0"}, ["'data_seed'", "must be an integer"]),
    ("canvas-float", {"canvas": 11.5}, ["'canvas'", "must be an integer"]),
    ("canvas-too-small", {"canvas": 6}, ["'canvas'", ">= 8"]),
    ("max_shift-negative", {"max_shift": -1}, ["'max_shift'", "[0, 4]", "canvas=12"]),
    ("max_shift-too-large", {"max_shift": 5}, ["'max_shift'", "[0, 4]"]),
    ("max_shift-bool", {"max_shift": True}, ["'max_shift'", "integer"]),
    ("third_task-string", {"third_task": "no"}, ["'third_task'", "True or False"]),
    ("loss_scales-negative", {"loss_scales": (1, -10)}, ["loss_scales[1]", "'right'", "positive (> 0)", "-10"]),
    ("loss_scales-zero", {"loss_scales": (1, 0)}, ["loss_scales[1]", "positive (> 0)"]),
    ("loss_scales-nan", {"loss_scales": (1, math.nan)}, ["loss_scales[1]", "finite"]),
    ("loss_scales-inf", {"loss_scales": (math.inf, 1)}, ["loss_scales[0]", "'left'", "finite"]),
    ("loss_scales-scalar", {"loss_scales": 10}, ["'loss_scales'", "sequence", "['left', 'right']"]),
    ("loss_scales-string", {"loss_scales": "1,10"}, ["'loss_scales'", "sequence"]),
    ("loss_scales-too-short", {"loss_scales": (1,)}, ["'loss_scales'", "1 entries", "2 tasks"]),
    ("loss_scales-two-for-three-tasks", {"loss_scales": (1, 2), "third_task": True}, ["3 tasks", "'parity'"]),
    ("eval_split-train", {"eval_split": "train"}, ["'eval_split'", "['val', 'test']"]),
    ("upsample-float", {"upsample": 1.5}, ["'upsample'", "must be an integer"]),
    ("upsample-string", {"upsample": "2"}, ["'upsample'", "must be an integer"]),
    ("rotation_lr-negative", {"rotograd": True, "rotation_lr": -0.1}, ["'rotation_lr'", "positive"]),
    ("rotation_lr-nan", {"rotograd": True, "rotation_lr": math.nan}, ["'rotation_lr'", "finite"]),
    ("channels-empty", {"channels": ()}, ["'channels'", "non-empty"]),
    ("channels-zero", {"channels": (8, 0)}, ["'channels[1]'", ">= 1"]),
    ("hidden-zero", {"hidden": 0}, ["'hidden'", ">= 1"]),
    ("head_hidden-negative", {"head_hidden": -3}, ["'head_hidden'", ">= 0"]),
]


@pytest.mark.parametrize("options, fragments", [c[1:] for c in BAD_OPTIONS], ids=[c[0] for c in BAD_OPTIONS])
def test_bad_option_names_the_option_and_its_valid_range(options, fragments):
    from mtl_lib.core.options import OptionError

    with pytest.raises(OptionError) as info:
        _build(**options)
    message = str(info.value)
    assert message.startswith("multidigits problem: option ")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_unknown_option_suggests_the_close_name_and_lists_the_options():
    with pytest.raises(TypeError) as info:
        _build(n_trian=64)
    message = str(info.value)
    assert "'n_trian': did you mean 'n_train'?" in message
    assert "(its options: n_train, n_val, n_test, canvas," in message and "loss_scales" in message
    assert "batch_size" not in message  # the runner's own arguments are not problem options


def test_loss_scales_from_a_json_record_are_a_list_and_still_accepted():
    assert _build(loss_scales=[1, 10]).tasks[1].loss(torch.zeros(2, 10), torch.zeros(2, dtype=torch.long)) > 0
