"""The survey benchmark's equal tuning budget (issue 24): every method gets EW's search."""

from __future__ import annotations

import math

import pytest

from mtl_lib.studies import survey_benchmark as bench
from mtl_lib.studies import survey_equal_tuning as equal
from mtl_lib.studies.multidigits import equal_tuning as md_equal
from mtl_lib.studies.survey import METHODS


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_every_method_gets_a_grid_of_the_same_size_that_holds_its_default(profile):
    configs = equal.grid_configs(profile, device="cpu")
    own = equal.settings(profile)
    per_method: dict[str, list] = {}
    for config in configs:
        per_method.setdefault(config.label.split(" lr=")[0], []).append(config)
    assert len(per_method) == len(METHODS)
    sizes = {len(v) for v in per_method.values()}
    assert sizes == {len(own["lr"]) * len(md_equal.WEIGHT_DECAY.values(profile)) * len(own["grid_seeds"])}
    assert all(c.problem_kwargs["eval_split"] == "val" and c.problem_kwargs["n_val"] == own["n_val"] for c in configs)
    assert len(configs) + len(METHODS) * len(bench.settings(profile)["seeds"]) == equal.equal_runs(profile)
    # a method's library default is among its cells, so tuning cannot pick worse than it on validation
    for m in METHODS:
        assert equal.knob(m).quick[0] in equal.knob(m).values(profile) or profile == "paper"


def test_rotograd_is_tuned_on_weight_decay_here_and_knobs_reach_the_method():
    rotograd = next(m for m in METHODS if m.key == "rotograd")
    assert equal.knob(rotograd).target == "weight_decay"
    cagrad = next(m for m in METHODS if m.key == "cagrad")
    cells = [c for c in equal.grid_configs("quick", device="cpu") if c.label.startswith("CAGrad ")]
    assert {c.aggregator_kwargs["c"] for c in cells} == set(md_equal.KNOBS["cagrad"].quick)
    assert {c.lr for c in cells} == set(equal.settings("quick")["lr"])
    ew = [c for c in equal.grid_configs("quick", device="cpu") if c.label.startswith("EW ")]
    assert {c.optimizer_kwargs.get("weight_decay", 0.0) for c in ew} == set(md_equal.WEIGHT_DECAY.quick)
    assert equal.knob(cagrad).name == "c"


def test_the_default_runs_are_unchanged_by_the_shared_config_builder():
    """synthetic_config with no override is the benchmark's own run (same identity, same run id)."""
    for entry in METHODS[:3]:
        (default,) = [c for c in bench.configs("quick", device="cpu", methods=[entry.key])
                      if c.problem == "synthetic_regression" and c.seed == 0]  # fmt: skip
        assert bench.synthetic_config("quick", entry, 0, "cpu").identity() == default.identity()


def _record(method: str, seed: int, a: float, b: float, problem: str = "synthetic_regression") -> dict:
    return {"method": method, "seed": seed, "config": {"problem": problem},
            "final": {"A/nrmse": a, "B/nrmse": b}}  # fmt: skip


def test_choice_is_the_lowest_mean_validation_error_and_delta_m_is_positive_for_lower_error():
    dwa = next(m for m in METHODS if m.key == "dwa")
    cells = [(lr, v) for lr in equal.settings("quick")["lr"] for v in equal.knob(dwa).values("quick")]
    records = [_record(equal._cell_label(dwa, lr, v), s, 1.0 + i, 1.0 + i)
               for i, (lr, v) in enumerate(cells) for s in (0, 1)]  # fmt: skip
    records[-1]["final"] = {"A/nrmse": 0.1, "B/nrmse": 0.1}  # the last cell: best on one seed only
    choice = equal.choose("quick", records)["DWA"]
    assert (choice.lr, choice.value) == cells[0] and math.isclose(choice.val_error, 1.0)
    tests = [_record(equal.TUNED_EW, s, 0.5, 0.5) for s in range(3)]
    tests += [_record("DWA", s, 0.4, 0.5) for s in range(3)]  # A 20 % lower, B equal: Δm = +10 %
    tests += [_record("UW", s, 0.6, 0.6) for s in range(3)]  # 20 % higher: Δm = −20 %
    values = equal.delta_m(tests)
    assert values["DWA"] == pytest.approx([10.0] * 3) and values["UW"] == pytest.approx([-20.0] * 3)
    # +10 % beyond the 2 % margin: better; −20 %: matched (not better than tuned EW by a margin that matters)
    assert equal.counts(values) == {"matched": 1, "better": 1, "undecided": 0}
    assert list(equal.ranks(tests).sort_values().index) == ["DWA", equal.TUNED_EW, "UW"]


def test_the_digit_part_is_the_multidigits_chapters_problem():
    assert equal.digits_match_the_chapter("quick") and equal.digits_match_the_chapter("smoke")


def test_the_study_plan_runs_the_search_before_its_test_runs():
    plan = bench.STUDY.stages("smoke", None, "cpu")
    labels = [next(plan).label]
    stage = plan.send([])
    labels.append(stage.label)
    assert labels == ["sweep", "equal-budget search (synthetic)"]
