"""The calibrations choose their settings on the baseline only, and the profiles use the frozen
winner."""

from __future__ import annotations

import copy
import json
import math

import pytest

from mtl_lib.experiments import sweep
from mtl_lib.studies import adatask_calibration as calibration
from mtl_lib.studies import adatask_regime as regime
from mtl_lib.studies import leaf_calibration, leaf_combinations


def _fake_record(weighting: str = "ew", aggregator=None, optimizer: str = "rmsprop") -> dict:
    config = calibration.candidate_config(calibration.BASE, epochs=2, n_test=16, seed=0).identity()
    config.update(weighting=weighting, aggregator=aggregator, optimizer=optimizer)
    history = [
        {"epoch": 1, "A/nrmse": 0.5, "B/nrmse": 0.1, "A/nrmse_rms": 0.3, "B/nrmse_rms": 0.05,
         "A/loss_ratio": 0.3, "B/loss_ratio": 0.02, "A/rmse_ratio": 0.55, "B/rmse_ratio": 0.14},
        {"epoch": 2, "A/nrmse": 0.25, "B/nrmse": 0.012, "A/nrmse_rms": 0.2, "B/nrmse_rms": 0.01,
         "A/loss_ratio": 0.2, "B/loss_ratio": 0.015, "A/rmse_ratio": 0.45, "B/rmse_ratio": 0.12},
    ]  # fmt: skip
    return {"run_id": f"fake-{weighting}-{aggregator}-{optimizer}", "seed": 0, "config": config,
            "history": history, "final": history[-1]}  # fmt: skip


def test_objective_scores_every_epoch_and_reading():
    table = calibration.objective([_fake_record()])
    assert len(table) == 8  # 2 epochs × 4 readings
    assert set(table["metric"]) == {"std", "rms", "loss_ratio", "rmse_ratio"}
    assert set(table["steps"]) == {100, 200}  # epochs × ceil(10,000 / 100) steps
    std = table[(table["metric"] == "std") & (table["epoch"] == 2)].iloc[0]
    assert std["distance"] == pytest.approx(math.log(0.25 / 0.2172) + math.log(0.012 / 0.0113))


def test_only_a_reading_the_citation_points_to_can_win():
    """RMSE/std at epoch 2 is the closest row of the fake run, but GradNorm's ratios are the
    definitions AdaTask's citation points to: the winner is the best loss_ratio/rmse_ratio row."""
    table = calibration.objective([_fake_record()])
    assert table.sort_values("distance").iloc[0]["metric"] == "std"
    best = table.iloc[0]
    assert best["eligible"] and (best["epoch"], best["metric"]) == (2, "loss_ratio")
    assert best["distance"] == pytest.approx(abs(math.log(0.2 / 0.2172)) + abs(math.log(0.015 / 0.0113)))
    assert not table[~table["eligible"]]["metric"].isin(calibration.ELIGIBLE_METRICS).any()


@pytest.mark.parametrize(
    "weighting, aggregator, optimizer",
    [
        ("gradnorm", None, "rmsprop"),
        ("uw", None, "rmsprop"),
        ("ew", "pcgrad", "rmsprop"),
        ("ew", "cagrad", "rmsprop"),
        ("ew", None, "adatask_rmsprop"),
        ("ew", None, "ladatask_rmsprop"),
    ],
)
def test_a_non_baseline_run_cannot_enter_the_objective(weighting, aggregator, optimizer):
    records = [_fake_record(), _fake_record(weighting, aggregator, optimizer)]
    with pytest.raises(calibration.NotABaselineRunError, match="only look at the baseline"):
        calibration.objective(records)


def test_calibrate_trains_and_scores_equal_weight_runs_only(tmp_path, monkeypatch):
    monkeypatch.setattr(calibration, "STAGES", [{"width": [8, 16]}])
    monkeypatch.setitem(
        calibration.SEARCH_SIZE, "smoke",
        {"epochs": 1, "n_test": 32, "n_train": 64, "seeds": (0,), "stages": 1},
    )  # fmt: skip
    result = calibration.calibrate("smoke", tmp_path, progress=False)
    assert len(result.records) == 2
    for record in result.records:
        assert record["config"]["weighting"] == "ew"
        assert record["config"]["aggregator"] is None
        assert record["config"]["optimizer"] == "rmsprop"
    assert result.winner["width"] in (8, 16)
    # A non-EW record dropped into the same results folder would be refused, not scored.
    intruder = copy.deepcopy(result.records[0])
    intruder["config"]["weighting"] = "gradnorm"
    with pytest.raises(calibration.NotABaselineRunError):
        calibration.objective(result.records + [intruder])


def test_freeze_round_trip(tmp_path):
    table = calibration.objective([_fake_record()])
    fake = calibration.Calibration([_fake_record()], table, {**calibration.BASE, "epochs": 2, "metric": "loss_ratio"})
    path = calibration.freeze(fake, tmp_path / "frozen.json")
    assert calibration.frozen_setting(path)["epochs"] == 2
    every = json.loads(path.read_text())["ew_at_winner_every_reading"]
    assert set(every) == set(calibration.METRICS) and every["rmse_ratio"]["A"] == 0.45
    with pytest.raises(FileNotFoundError, match="calibrate"):
        calibration.frozen_setting(tmp_path / "missing.json")


def test_paper_profile_is_the_frozen_setting():
    frozen = calibration.frozen_setting()
    paper = regime.settings("paper")
    for key in ("n_train", "epochs", "batch_size", "lr", "alpha", "width", "input_dist", "spread",
                "noise_spread", "sampling", "target_scaling"):  # fmt: skip
        assert paper[key] == frozen[key], key
    assert paper["metric"] == calibration.METRICS[frozen["metric"]]
    assert frozen["metric"] in calibration.ELIGIBLE_METRICS
    assert len(paper["seeds"]) >= 10  # issue 22: at least ten seeds at paper
    options = regime.problem_kwargs("paper")
    assert options["hidden"] == [frozen["width"]] * 4
    assert options["input_dist"] == frozen["input_dist"]


def test_paper_profile_reads_the_frozen_file(tmp_path, monkeypatch):
    """A different frozen file changes the paper runs: the profile reads the file, it does not copy it."""
    payload = json.loads(calibration.FROZEN_PATH.read_text())
    payload["setting"] = {**payload["setting"], "width": 37, "sampling": "fresh", "metric": "rmse_ratio", "epochs": 3}
    moved = tmp_path / "frozen.json"
    moved.write_text(json.dumps(payload))
    monkeypatch.setattr(calibration, "FROZEN_PATH", moved)
    paper = regime.settings("paper")
    assert (paper["width"], paper["sampling"], paper["metric"], paper["epochs"]) == (37, "fresh", "rmse_ratio", 3)
    assert regime.problem_kwargs("paper")["hidden"] == [37] * 4


@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_smaller_profiles_keep_the_frozen_regime(profile):
    frozen = calibration.frozen_setting()
    small = regime.settings(profile)
    for key in ("lr", "alpha", "width", "input_dist", "spread", "noise_spread", "sampling", "target_scaling",
                "batch_size"):  # fmt: skip
        assert small[key] == frozen[key], key
    assert small["metric"] == calibration.METRICS[frozen["metric"]]


def test_synthetic_studies_build_their_runs_from_the_regime():
    from mtl_lib.studies import adatask_rau, adatask_synthetic, adatask_tables

    expected = regime.problem_kwargs("quick")
    for config in (
        adatask_synthetic.configs("quick")[0],
        adatask_tables.synthetic_configs("quick")[0],
        adatask_rau.bucket_configs("quick")[0],
    ):
        assert config.problem_kwargs == expected
        assert {"noise_spread", "sampling"} <= set(config.problem_kwargs)
        assert config.optimizer_kwargs == {"alpha": regime.settings("quick")["alpha"]}


# ----------------------------------------------------------------------------- leaf
def test_leaf_objective_refuses_other_approaches(tmp_path):
    size = {**leaf_calibration.SEARCH_SIZE["smoke"], "epochs": 1}
    record = {"run_id": "x", "config": leaf_calibration.baseline_config((1.0, 1.0), 0, size).identity()}
    for change in (
        {"aggregator": "pcgrad_wrapper"},
        {"problem_kwargs": {**record["config"]["problem_kwargs"], "lass": True}},
    ):
        bad = copy.deepcopy(record)
        bad["config"].update(change)
        with pytest.raises(leaf_calibration.NotTheBaselineError):
            leaf_calibration.objective([bad])


def test_leaf_quick_runs_use_the_frozen_difficulty():
    levels = leaf_calibration.frozen_difficulty()
    for config in leaf_combinations.configs("quick"):
        assert tuple(config.problem_kwargs["standin_difficulty"]) == levels
    # real data has no difficulty knob
    assert all("standin_difficulty" not in c.problem_kwargs for c in leaf_combinations.configs("quick", data_dir="x"))


def test_leaf_frozen_file_is_well_formed():
    payload = json.loads(leaf_calibration.FROZEN_PATH.read_text())
    assert len(payload["standin_difficulty"]) == 2
    assert payload["searched"], "the search table is recorded"


def test_leaf_calibration_sweep_smoke(tmp_path, monkeypatch):
    monkeypatch.setitem(
        leaf_calibration.SEARCH_SIZE, "smoke",
        {**leaf_calibration.SEARCH_SIZE["smoke"], "species": (0.5, 1.0), "health": (1.0,)},
    )  # fmt: skip
    table = leaf_calibration.calibrate("smoke", tmp_path, progress=False)
    assert set(table["species level"]) == {0.5, 1.0}
    assert table["distance"].is_monotonic_increasing
    assert len(list(tmp_path.glob("*.json"))) == 2
    _ = sweep  # the calibration goes through the ordinary sweep (records on disk)
