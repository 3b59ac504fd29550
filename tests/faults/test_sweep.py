"""Fault injection on sweeps: invalid configs are refused before anything trains, a run that
breaks is recorded as failed (and retried), a killed worker's run is redone, and two sweeps
over one folder train every run once."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import tests.faults._sweep_problems  # noqa: F401 — registers the "fault_tiny" problem
from mtl_lib.experiments import (
    ConfigError,
    RunConfig,
    failure_summary,
    final_frame,
    history_frame,
    load_finished,
    read_json,
    report_failures,
    run,
    sweep,
)

ROOT = Path(__file__).resolve().parents[2]


def _tiny(seed: int = 0, **problem_kwargs) -> RunConfig:
    return RunConfig(
        problem="fault_tiny", optimizer="rmsprop", epochs=3, batch_size=16, seed=seed,
        problem_kwargs=problem_kwargs, device="cpu",
    )  # fmt: skip


# ----------------------------------------------------------------------------- validation
#: (case, changes to a valid config, fragment the error must contain)
INVALID = [
    ("unknown-problem", {"problem": "syntetic"}, "unknown problem 'syntetic'; valid names:"),
    ("unknown-weighting", {"weighting": "eww"}, "unknown weighting 'eww'; valid names:"),
    ("unknown-aggregator", {"aggregator": "pcgard"}, "unknown aggregator 'pcgard'; valid names:"),
    ("unknown-optimizer", {"optimizer": "adamm"}, "unknown optimizer 'adamm'; valid names:"),
    ("problem-option", {"problem_kwargs": {"n_sample": 3}}, "takes no option(s) ['n_sample']"),
    (
        "weighting-option",
        {"weighting": "dwa", "weighting_kwargs": {"temp": 2}},
        "takes no option(s) ['temp']",
    ),
    (
        "aggregator-option",
        {"aggregator": "pcgrad", "aggregator_kwargs": {"sed": 1}},
        "takes no option(s) ['sed']",
    ),
    (
        "optimizer-option",
        {"optimizer_kwargs": {"momentun": 0.9}},
        "takes no option(s) ['momentun']",
    ),
    ("engine-supplied-option", {"problem_kwargs": {"seed": 3}}, "takes no option(s) ['seed']"),
    ("aggregator-kwargs-alone", {"aggregator_kwargs": {"seed": 1}}, "given without an aggregator"),
    ("epochs-zero", {"epochs": 0}, "epochs must be an integer >= 1, got 0"),
    ("epochs-negative", {"epochs": -2}, "epochs must be an integer >= 1, got -2"),
    ("epochs-float", {"epochs": 1.5}, "epochs must be an integer >= 1, got 1.5"),
    ("epochs-bool", {"epochs": True}, "epochs must be an integer >= 1, got True"),
    ("batch-zero", {"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ("lr-zero", {"lr": 0.0}, "lr must be a finite number > 0, got 0.0"),
    ("lr-negative", {"lr": -1e-3}, "lr must be a finite number > 0, got -0.001"),
    ("lr-nan", {"lr": float("nan")}, "lr must be a finite number > 0, got nan"),
    ("lr-inf", {"lr": float("inf")}, "lr must be a finite number > 0, got inf"),
    ("lr-string", {"lr": "1e-3"}, "lr must be a finite number > 0, got '1e-3'"),
    ("seed-negative", {"seed": -1}, "seed must be an integer >= 0, got -1"),
    ("diagnostics", {"diagnostics": ("rua",)}, "unknown diagnostics ['rua']"),
    ("autocast", {"autocast": "fp8"}, "autocast must be one of"),
    ("device", {"device": "tpu"}, "device must be 'auto', 'cpu'"),
    ("problem-not-string", {"problem": 3}, "problem must be a registered name"),
]


@pytest.mark.parametrize("case,changes,fragment", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_config_stops_the_sweep_before_any_training(tmp_path, case, changes, fragment):
    good = _tiny(seed=0)
    bad = replace(_tiny(seed=1), **changes)
    with pytest.raises(ConfigError) as caught:
        sweep([good, bad], tmp_path, progress=False, workers=1)
    message = str(caught.value)
    assert fragment in message
    assert "config #1" in message and "nothing was trained" in message
    if case not in ("lr-nan",):  # NaN in the identity: the run id is still computed
        assert bad.run_id() in message
    assert not list(tmp_path.glob("*.json"))  # not even the valid first config ran


def test_every_bad_config_is_listed_at_once(tmp_path):
    bad = [replace(_tiny(seed=s), epochs=0) for s in range(3)]
    with pytest.raises(ConfigError, match=r"3 problem\(s\)") as caught:
        sweep(bad, tmp_path, progress=False, workers=1)
    assert all(f"config #{i}" in str(caught.value) for i in range(3))


def test_duplicate_config_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="the same run as config #0"):
        sweep([_tiny(), _tiny()], tmp_path, progress=False, workers=1)


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2"])
def test_bad_thread_count(tmp_path, threads):
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        sweep([_tiny()], tmp_path, progress=False, workers=1, threads=threads)


@pytest.mark.parametrize("workers", [0, -3])
def test_bad_worker_count(tmp_path, workers):
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        sweep([_tiny()], tmp_path, progress=False, workers=workers)


@pytest.mark.parametrize("variable", ["MTL_SWEEP_WORKERS", "MTL_CPU_BUDGET"])
@pytest.mark.parametrize("value,message", [("two", "not an integer"), ("0", "at least 1")])
def test_bad_worker_environment_is_named(tmp_path, monkeypatch, variable, value, message):
    # the test command sets MTL_SWEEP_WORKERS=1, which would take precedence over the budget
    monkeypatch.delenv("MTL_SWEEP_WORKERS", raising=False)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=f"{variable}.*{message}"):
        sweep([_tiny()], tmp_path, progress=False)


# ----------------------------------------------------------------------------- failed runs
def test_nan_mid_run_is_a_failed_record_and_is_retried(tmp_path):
    flag = tmp_path / "inject-nan"
    flag.touch()
    results = tmp_path / "results"
    configs = [
        _tiny(seed=0),
        _tiny(seed=1, nan_step=5, flag=str(flag)),
    ]  # 3 steps per epoch: epoch 2
    with pytest.warns(UserWarning, match=f"run {configs[1].run_id()} failed"):
        records = sweep(configs, results, progress=False, workers=1)
    good, failed = records
    assert good["status"] == "finished"
    assert failed["status"] == "failed"
    assert failed["error"]["type"] in ("NonFiniteError", "FloatingPointError")
    assert "non-finite" in failed["error"]["message"].lower() or "nan" in failed["error"]["message"].lower()
    assert len(failed["history"]) >= 1 and failed["history"][0]["epoch"] == 1  # history so far
    assert "final" not in failed
    text = (results / f"{configs[1].run_id()}.json").read_text()
    # standard JSON on disk: no bare NaN/Infinity tokens (the error text may say "NaN")
    json.loads(text, parse_constant=lambda token: pytest.fail(f"non-standard JSON token {token}"))
    assert read_json(results / f"{configs[1].run_id()}.json")["status"] == "failed"

    # frames leave the failed run out, by name; the notebook helper reports it instead
    with pytest.warns(UserWarning, match=configs[1].run_id()):
        frame = final_frame(records)
    assert set(frame["run_id"]) == {configs[0].run_id()}
    assert not frame["value"].isna().any()
    with pytest.warns(UserWarning, match="failed run"):
        history_frame(records)
    summary = failure_summary(records)
    assert list(summary["run_id"]) == [configs[1].run_id()]
    import io

    out = io.StringIO()
    assert report_failures(records, file=out) == 1 and "FAILED" in out.getvalue()
    assert report_failures([good], file=out) == 0
    with pytest.warns(UserWarning, match="failed"):
        assert load_finished(configs[1], results) is None

    # retry_failed=False keeps the failure and trains nothing
    with pytest.warns(UserWarning, match="not retried"):
        kept = sweep(configs, results, progress=False, workers=1, retry_failed=False)
    assert kept[1]["status"] == "failed"

    # the default retries it; with the fault gone it finishes
    flag.unlink()
    with pytest.warns(UserWarning, match="retrying failed run"):
        retried = sweep(configs, results, progress=False, workers=1)
    assert retried[1]["status"] == "finished" and retried[0] == good
    assert all(math.isfinite(v) for v in retried[1]["final"].values() if isinstance(v, float))


def test_loading_existing_results_leaves_failed_and_damaged_out_by_name(tmp_path):
    from mtl_lib.experiments import load_records, write_json_atomic

    def record(seed: int, **fields) -> dict:
        config = RunConfig(problem="x", seed=seed)
        base = {"run_id": config.run_id(), "method": "EW", "seed": seed, "config": config.identity()}
        return {**base, **fields}

    good = record(0, status="finished", history=[{"epoch": 1, "A/loss": 1.0}], final={"epoch": 1, "A/loss": 1.0})
    bad = record(1, status="failed", history=[], error={"type": "X"})
    write_json_atomic(tmp_path / "a-good.json", good)
    write_json_atomic(tmp_path / "b-bad.json", bad)
    (tmp_path / "broken.json").write_text("{")
    with pytest.warns(UserWarning) as caught:
        assert load_records(tmp_path) == [good]
    messages = " ".join(str(w.message) for w in caught)
    assert f"left out: {bad['run_id']}" in messages and str(tmp_path / "broken.json") in messages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = load_records(tmp_path, include_failed=True)
    assert [r["run_id"] for r in loaded] == [good["run_id"], bad["run_id"]]


def test_exception_in_a_run_is_recorded_not_raised(tmp_path, monkeypatch):
    from mtl_lib.experiments import single_run

    def broken(*args, **kwargs):
        raise RuntimeError("solver broke down")

    monkeypatch.setattr(single_run, "_train", broken)
    with pytest.warns(UserWarning, match="RuntimeError: solver broke down"):
        (record,) = sweep([_tiny()], tmp_path, progress=False, workers=1)
    assert record["status"] == "failed" and record["error"]["message"] == "solver broke down"
    assert "Traceback" in record["error"]["traceback"]
    with pytest.raises(RuntimeError, match="solver broke down"):
        run(_tiny())  # a direct run still raises


def test_records_state_threads_device_and_versions(tmp_path):
    (record,) = sweep([_tiny()], tmp_path, progress=False, workers=1, threads=1)
    assert record["torch_threads"] == 1 and record["device"] == "cpu"
    assert record["torch_version"] == torch.__version__ and record["status"] == "finished"


def test_same_seed_and_threads_give_identical_records(tmp_path):
    a = sweep([_tiny(seed=4)], tmp_path / "a", progress=False, workers=1, threads=1)[0]
    b = sweep([_tiny(seed=4)], tmp_path / "b", progress=False, workers=1, threads=1)[0]
    strip = lambda h: [{k: v for k, v in e.items() if k != "train_time_s"} for e in h]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])


# ----------------------------------------------------------------------------- processes
def test_killed_worker_run_is_rerun_and_nothing_is_lost(tmp_path):
    flag = tmp_path / "killed-once"
    results = tmp_path / "results"
    configs = [_tiny(seed=0), _tiny(seed=1, kill_step=4, flag=str(flag)), _tiny(seed=2)]
    with pytest.warns(UserWarning, match="worker process died"):
        records = sweep(configs, results, progress=False, workers=2)
    assert flag.exists()  # the worker really was killed (SIGKILL) mid-run
    assert [r["status"] for r in records] == ["finished"] * 3
    assert sorted(p.name for p in results.iterdir()) == sorted(f"{c.run_id()}.json" for c in configs)
    reference = sweep(configs, tmp_path / "reference", progress=False, workers=1)
    # worker processes (1 thread each) give the in-process sweep's numbers exactly
    assert [r["final"]["A/nrmse"] for r in records] == [r["final"]["A/nrmse"] for r in reference]
    assert all(r["torch_threads"] == 1 for r in records)


SWEEPER = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import tests.faults._sweep_problems
    from mtl_lib.experiments import RunConfig, sweep
    configs = [RunConfig.from_dict(c) for c in json.loads(sys.argv[1])]
    records = sweep(configs, sys.argv[2], progress=False, workers=1)
    print(json.dumps([r["status"] for r in records]))
    """
)


def test_two_concurrent_sweeps_train_every_run_exactly_once(tmp_path):
    counts = tmp_path / "counts"
    counts.mkdir()
    configs = [_tiny(seed=s, count_dir=str(counts), sleep_s=0.3) for s in range(4)]
    payload = json.dumps([{**c.identity(), "device": "cpu"} for c in configs])
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SWEEPER, payload, str(tmp_path / "results")],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
        assert json.loads(out.strip().splitlines()[-1]) == ["finished"] * 4  # both see every record
    trained = {p.stem: p.read_text().split() for p in counts.iterdir()}
    assert sorted(trained) == [f"seed{s}" for s in range(4)]
    assert all(len(pids) == 1 for pids in trained.values()), trained  # once each
    assert not list((tmp_path / "results").glob("*.claim"))


def test_frames_warn_on_empty_input():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert final_frame([]).empty
    assert any("no finished records" in str(w.message) for w in caught)
