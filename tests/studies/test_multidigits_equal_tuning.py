"""The equal-tuning protocol (mtl_lib/studies/multidigits/equal_tuning.py): every method gets a grid
the size of tuned EW's, the choice is made on validation only, the test runs use the chosen cell,
and the claim follows the book's rule for "no effect" claims."""

import pytest

from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.experiments.validation import validate_configs
from mtl_lib.studies import multidigits as md
from mtl_lib.studies._common import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED
from mtl_lib.weighting import WEIGHTINGS


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_every_method_gets_a_grid_the_size_of_tuned_ews_with_its_default_first(profile):
    size = md.settings(profile)
    ew_cells = len(size["grid"]["lr"]) * len(size["grid"]["weight_decay"])
    for method in md.methods(profile):
        knob = md.knob(method)
        assert len(size["grid"]["lr"]) * len(knob.values(profile)) == ew_cells, method.label
        assert knob.why
    # the quick grid starts at the library default of the method's hyperparameter
    registries = {"aggregator_kwargs": AGGREGATORS, "weighting_kwargs": WEIGHTINGS}
    for key, knob in md.KNOBS.items():
        if knob.target in registries:
            assert getattr(registries[knob.target].build(key), knob.name) == knob.quick[0], key


def test_the_search_configs_are_valid_and_set_the_hyperparameter():
    configs = md.equal_grid_configs("smoke", device="cpu")
    validate_configs(configs)  # raises on a hyperparameter name the method does not take
    cagrad = [c for c in configs if c.aggregator == "cagrad"]
    assert sorted({c.aggregator_kwargs["c"] for c in cagrad}) == sorted(md.KNOBS["cagrad"].quick)
    assert all(c.problem_kwargs.get("eval_split") == "val" for c in configs)
    ew = [c for c in configs if c.label.startswith("EW lr=")]
    assert sorted({c.optimizer_kwargs.get("weight_decay", 0.0) for c in ew}) == sorted(md.WEIGHT_DECAY.quick)
    roto = [c for c in configs if c.problem_kwargs.get("rotograd")]
    fractions = sorted({round(c.problem_kwargs["rotation_lr"] / c.lr, 12) for c in roto})
    assert fractions == pytest.approx(sorted(md.KNOBS["rotograd"].quick))


def _search_record(label, left, right):
    final = {"left/acc": left, "right/acc": right}
    return {"method": label, "final": final}


def test_the_choice_is_the_best_mean_validation_cell_and_the_test_runs_use_it():
    ew = md.methods("smoke")[0]
    cagrad = next(m for m in md.methods("smoke") if m.key == "cagrad")
    lr = md.settings("smoke")["grid"]["lr"][0]
    records = [
        _search_record(f"EW lr={lr:g} weight_decay=0.0", 0.5, 0.5),
        _search_record(f"EW lr={lr:g} weight_decay=0.001", 0.6, 0.6),
        _search_record(f"CAGrad lr={lr:g} c=0.4", 0.7, 0.7),
        _search_record(f"CAGrad lr={lr:g} c=0.2", 0.9, 0.1),  # same mean: the default (first) wins the tie
    ]
    choices = md.choose_equal("smoke", records)
    assert choices[ew.label].value == 0.001 and choices[cagrad.label].value == 0.4
    tests = md.equal_test_configs("smoke", choices, device="cpu")
    tuned = [c for c in tests if c.label == md.TUNED_EW]
    assert tuned and all(c.optimizer_kwargs == {"weight_decay": 0.001} for c in tuned)
    assert all(c.aggregator_kwargs == {"c": 0.4} and "eval_split" not in c.problem_kwargs
               for c in tests if c.aggregator == "cagrad")  # fmt: skip


def test_match_verdicts_and_the_claim_rule():
    assert md.match_verdict([-5.0, -4.0, -6.0]) == "matched"  # whole interval below the margin
    assert md.match_verdict([5.0, 4.0, 6.0]) == "better"  # whole interval above 0
    assert md.match_verdict([1.0, -1.0, 3.0]) == "undecided"
    assert md.match_verdict([-5.0]) == "undecided"  # one seed: no interval
    matched, better, unsure = [-5.0, -4.0, -6.0], [5.0, 4.0, 6.0], [1.0, -1.0, 3.0]
    assert md.equal_tuning_claim({"a": matched, "b": matched, "c": better}, "quick").verdict == REPRODUCED
    assert md.equal_tuning_claim({"a": better, "b": better, "c": matched}, "quick").verdict == NOT_REPRODUCED
    assert md.equal_tuning_claim({"a": unsure, "b": unsure, "c": matched}, "quick").verdict == INCONCLUSIVE


def test_the_sweep_plan_ends_with_the_equal_tuning_stages():
    from mtl_lib.studies.registry import get

    def records(stage):  # every run of the stage "finished" with the same accuracy
        final = {"left/acc": 0.5, "right/acc": 0.5}
        return [{"method": c.method_label, "final": final, "config": c.identity()} for c in stage.configs]

    labels = []
    plan = get("multidigits").stages("smoke", None, "cpu")
    stage = next(plan)
    try:
        while True:
            labels.append(stage.label)
            stage = plan.send(records(stage))
    except StopIteration:
        pass
    assert labels[-2:] == [md.EQUAL_GRID, md.EQUAL_TEST]
    assert md.equal_runs("paper") > md.equal_runs("quick")
    assert "no saved sweep" in md.equal_estimate(None)
    runs = md.equal_runs("paper")  # 21 s per run over a saved sweep of 455 runs
    estimate = md.equal_estimate({"run_seconds": 21.0 * 455, "runs": {"a": 455}})
    assert f"{runs} runs at 'paper' × 21.0 s per run" in estimate
    assert f"{runs * 21.0 / 3600:.1f} h with 1 worker, {runs * 21.0 / 7200:.1f} h with 2 workers" in estimate
