import json

import pytest

from mtl_lib.experiments import (
    RunConfig,
    default_results_dir,
    final_frame,
    history_frame,
    run,
    single_run,
    sweep,
    write_json_atomic,
)

TINY = dict(n_train=64, n_test=32, hidden=(16, 16))


def _config(**overrides):
    base = dict(
        problem="synthetic_regression",
        optimizer="rmsprop",
        epochs=2,
        batch_size=16,
        problem_kwargs=TINY,
        device="cpu",
    )
    base.update(overrides)
    return RunConfig(**base)


def test_same_seed_gives_identical_metrics():
    first, second = (
        run(_config(aggregator="pcgrad", seed=3)),
        run(_config(aggregator="pcgrad", seed=3)),
    )
    assert first["history"] == [
        {**h, "train_time_s": a["train_time_s"]} for h, a in zip(second["history"], first["history"])
    ]
    third = run(_config(aggregator="pcgrad", seed=4))
    assert third["final"]["A/nrmse"] != first["final"]["A/nrmse"]


def test_record_has_provenance_fields():
    record = run(_config())
    for key in (
        "config",
        "seed",
        "device",
        "torch_version",
        "torch_threads",
        "mtl_lib_version",
        "wall_time_s",
        "history",
        "final",
        "status",
    ):
        assert key in record
    assert record["final"]["epoch"] == 2
    json.dumps(record)  # serialisable as it stands


def test_resumed_sweep_does_not_rerun_finished_runs(tmp_path, monkeypatch):
    configs = [_config(seed=s) for s in range(3)]
    calls = []
    real_run = single_run.run

    def counting_run(config, **kwargs):
        calls.append(config.seed)
        if len(calls) == 3 and kill:
            raise KeyboardInterrupt  # the sweep is killed during its third run
        return real_run(config, **kwargs)

    monkeypatch.setattr(single_run, "run", counting_run)
    kill = True
    with pytest.raises(KeyboardInterrupt):
        sweep(configs, tmp_path, progress=False, workers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{c.run_id()}.json" for c in configs[:2]
    )  # no claim left
    kill = False
    calls.clear()
    records = sweep(configs, tmp_path, progress=False, workers=1)
    assert calls == [2]  # only the unfinished run
    assert [r["seed"] for r in records] == [0, 1, 2]
    calls.clear()
    sweep(configs, tmp_path, progress=False, workers=1)
    assert calls == []


def test_record_with_other_config_is_not_silently_reused(tmp_path):
    config = _config()
    path = tmp_path / f"{config.run_id()}.json"
    write_json_atomic(path, {"config": {"something": "else"}})
    with pytest.warns(UserWarning, match="different config"):
        (record,) = sweep([config], tmp_path, progress=False, workers=1)
    assert record["config"] == config.identity() and record["status"] == "finished"
    (aside,) = (tmp_path / "_damaged").iterdir()
    assert json.loads(aside.read_text()) == {"config": {"something": "else"}}  # kept, not deleted


def test_atomic_write_leaves_no_partial_file(tmp_path):
    class Unserialisable:
        pass

    target = tmp_path / "record.json"
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": Unserialisable()})
    assert list(tmp_path.iterdir()) == []


def test_run_id_ignores_device_and_tracks_settings():
    assert _config(device="cpu").run_id() == _config(device="auto").run_id()
    assert _config(lr=1e-2).run_id() != _config(lr=1e-3).run_id()


def test_frames_are_long_format():
    records = [run(_config(seed=s)) for s in (0, 1)]
    frame = history_frame(records)
    assert set(frame.columns) == {
        "run_id",
        "method",
        "seed",
        "epoch",
        "phase",
        "split",
        "task",
        "metric",
        "value",
    }
    assert set(frame["task"]) == {"A", "B"} and {"nrmse", "rmse", "loss", "train_loss"} <= set(frame["metric"])
    final = final_frame(records)
    assert set(final["epoch"]) == {2}


def test_unknown_problem_and_options_are_clear_errors():
    # Checked by validate_run_config before anything is built (ConfigError, a ValueError).
    with pytest.raises(ValueError, match="did you mean 'synthetic_regression'"):
        run(_config(problem="synthetic"))
    with pytest.raises(ValueError, match=r"takes no option\(s\) \['n_sample'\]"):
        run(_config(problem_kwargs={"n_sample": 3}))


def test_default_results_dir_honours_environment(results_dir):
    assert default_results_dir("study", "smoke") == results_dir / "study" / "smoke"


def test_rau_diagnostics_are_recorded_and_do_not_change_training():
    plain = run(_config(seed=1))
    tracked = run(_config(seed=1, diagnostics=("rau",)))
    assert tracked["final"]["A/nrmse"] == pytest.approx(plain["final"]["A/nrmse"], rel=1e-4)
    buckets = tracked["diagnostics"]["rau_buckets"]["B"]["all"]
    assert set(buckets) == {"(0, 0.2]", "(0.2, 0.4]", "(0.4, 0.6]", "(0.6, 0.8]", "(0.8, 1]"}
    assert abs(sum(buckets.values()) - 1.0) < 1e-5
    json.dumps(tracked)
    with pytest.raises(ValueError, match="unknown diagnostics"):
        run(_config(diagnostics=("nope",)))


def test_record_says_which_jacobian_path_the_run_used():
    plain = run(_config())
    assert plain["jacobian_path"]["path"] == "none"
    record = run(_config(aggregator="mgda"))
    # The synthetic MLP has no convolution or batch norm: the CPU rule keeps the batched path.
    assert record["jacobian_path"]["path"] == "batched"
    assert record["jacobian_path"]["mode"] == "auto" and record["jacobian_path"]["reason"]
    json.dumps(record)


def test_architecture_wraps_the_problems_model_like_the_problem_option():
    """``RunConfig.architecture="rotograd"`` (the ARCHITECTURES registry) trains exactly what the
    synthetic problem's own ``rotograd=True`` option trains; a builder that
    is not a wrapper is refused with the list of wrappers; runs without it keep their run id."""
    small = {"n_train": 64, "n_test": 32}
    base = dict(problem="synthetic_regression", epochs=1, batch_size=32, device="cpu")
    by_option = run(RunConfig(**base, problem_kwargs={**small, "rotograd": True}))
    by_registry = run(RunConfig(**base, problem_kwargs=small, architecture="rotograd"))
    assert by_option["final"]["A/rmse"] == by_registry["final"]["A/rmse"]
    assert by_option["final"]["B/rmse"] == by_registry["final"]["B/rmse"]
    with pytest.raises(ValueError, match="rotograd"):
        run(RunConfig(**base, problem_kwargs=small, architecture="small_cnn"))
    assert "architecture" not in RunConfig(**base).identity()


def test_sweep_reuses_records_written_before_statuses_existed(tmp_path, monkeypatch):
    # the committed calibration searches (data/calibration/) predate the "status" field
    config = _config()
    record = run(config)
    record.pop("status")
    write_json_atomic(tmp_path / f"{config.run_id()}.json", record)
    monkeypatch.setattr(single_run, "run", lambda *a, **k: pytest.fail("a finished run was retrained"))
    (reused,) = sweep([config], tmp_path, progress=False, workers=1)
    assert reused["final"] == record["final"]


def test_run_threads_come_from_the_environment_and_are_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_RUN_THREADS", "2")
    (record,) = sweep([_config()], tmp_path / "two", progress=False, workers=1)
    assert record["torch_threads"] == 2
    monkeypatch.delenv("MTL_RUN_THREADS")
    (record,) = sweep([_config()], tmp_path / "one", progress=False, workers=1)
    assert record["torch_threads"] == 1
    monkeypatch.setenv("MTL_RUN_THREADS", "many")
    with pytest.raises(ValueError, match="MTL_RUN_THREADS"):
        sweep([_config()], tmp_path / "bad", progress=False, workers=1)
