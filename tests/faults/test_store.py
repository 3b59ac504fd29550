"""Fault injection on the results store: damaged records, non-finite values, leftover
temporary files and claims. Each table row is one case with its expected outcome."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time

import pytest

from mtl_lib.experiments import RunConfig, store, sweep
from mtl_lib.experiments.store import (
    claim_is_stale,
    claim_path,
    clean_temporary_files,
    inspect_record,
    read_json,
    try_claim,
    write_json_atomic,
)

_X = RunConfig(problem="x")
#: the smallest record that passes the schema (mtl_lib.experiments.schema)
GOOD = {
    "status": "finished",
    "run_id": _X.run_id(),
    "method": _X.method_label,
    "seed": 0,
    "config": _X.identity(),
    "history": [{"epoch": 1, "A/loss": 0.5}],
    "final": {"epoch": 1, "A/loss": 0.5},
}


def _good_text() -> str:
    return json.dumps(GOOD)


#: (case, file content, expected reason fragment). Every one must read as "damaged".
DAMAGED = [
    ("empty", "", "empty file"),
    ("whitespace", "  \n\t", "empty file"),
    ("truncated", _good_text()[: len(_good_text()) // 2], "not valid JSON"),
    ("truncated-one-char", _good_text()[:-1], "not valid JSON"),
    ("list", "[1, 2]", "not a JSON object"),
    ("number", "42", "not a JSON object"),
    ("null", "null", "not a JSON object"),
    ("string", '"done"', "not a JSON object"),
    ("no-config", json.dumps({"final": {"a": 1}}), "no 'config'"),
    ("config-not-object", json.dumps({**GOOD, "config": "x"}), "no 'config'"),
    ("no-final", json.dumps({k: v for k, v in GOOD.items() if k != "final"}), "no final metrics"),
    ("empty-final", json.dumps({**GOOD, "final": {}}), "no final metrics"),
    ("final-not-object", json.dumps({**GOOD, "final": [1]}), "no final metrics"),
    (
        "no-history",
        json.dumps({k: v for k, v in GOOD.items() if k != "history"}),
        "no training history",
    ),
    ("empty-history", json.dumps({**GOOD, "history": []}), "no training history"),
    ("unknown-status", json.dumps({**GOOD, "status": "running"}), "unknown status"),
    ("failed-without-error", json.dumps({**GOOD, "status": "failed"}), "without its 'error'"),
    (
        "bad-nonfinite-table",
        json.dumps({**GOOD, "_nonfinite": [{"path": ["nope", 3], "value": "nan"}]}),
        "not valid JSON",
    ),
    ("binary", "\x00\x01\x02garbage", "not valid JSON"),
]


@pytest.mark.parametrize("case,content,reason", DAMAGED, ids=[c[0] for c in DAMAGED])
def test_damaged_record_is_classified_with_a_reason(tmp_path, case, content, reason):
    path = tmp_path / "run.json"
    path.write_text(content)
    check = inspect_record(path)
    assert check.status == "damaged", case
    assert reason in check.reason


def test_wrong_config_is_damaged_and_good_record_is_not(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(_good_text())
    assert inspect_record(path).status == "finished"
    assert inspect_record(path, _X.identity()).status == "finished"
    check = inspect_record(path, RunConfig(problem="y").identity())
    assert check.status == "damaged" and "different config" in check.reason
    assert inspect_record(tmp_path / "absent.json").status == "missing"


def test_record_without_status_counts_as_finished(tmp_path):
    """Records written before statuses existed keep working."""
    path = tmp_path / "run.json"
    path.write_text(json.dumps({k: v for k, v in GOOD.items() if k != "status"}))
    assert inspect_record(path).status == "finished"


def test_set_aside_keeps_the_file_under_damaged(tmp_path):
    path = tmp_path / "run.json"
    path.write_text("{trunc")
    first = store.set_aside(path)
    path.write_text("{trunc again")
    second = store.set_aside(path)
    assert not path.exists() and first != second
    assert first.parent == tmp_path / "_damaged" and first.read_text() == "{trunc"
    assert second.read_text() == "{trunc again"


# ----------------------------------------------------------------------------- non-finite JSON
NONFINITE = [
    ("nan", {"a": float("nan")}),
    ("inf", {"a": float("inf")}),
    ("-inf", {"a": -float("inf")}),
    ("nested-list", {"history": [{"A/loss": 1.0}, {"A/loss": float("nan")}]}),
    ("deep", {"x": {"y": [[1.0, float("inf")]]}}),
    ("finite-untouched", {"a": 1.5, "b": [1, 2], "c": None}),
    ("key-with-slash", {"final": {"A/nrmse": float("nan"), "B/nrmse": 0.1}}),
]


@pytest.mark.parametrize("case,payload", NONFINITE, ids=[c[0] for c in NONFINITE])
def test_records_are_strict_json_and_round_trip_non_finite(tmp_path, case, payload):
    path = write_json_atomic(tmp_path / "r.json", payload)

    def reject(constant):
        raise ValueError(f"bare {constant} in {path}")

    strict = json.loads(path.read_text(), parse_constant=reject)  # any JSON parser reads it
    back = read_json(path)
    assert json.dumps(back, sort_keys=True) == json.dumps(payload, sort_keys=True)  # NaN == NaN as text
    assert ("_nonfinite" in strict) == any(isinstance(v, float) and not math.isfinite(v) for v in _floats(payload))


def _floats(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _floats(v)
    elif isinstance(value, list):
        for v in value:
            yield from _floats(v)


def test_non_finite_outside_an_object_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="inside a JSON object"):
        write_json_atomic(tmp_path / "r.json", [float("nan")])
    assert list(tmp_path.iterdir()) == []  # no half-written file


# ----------------------------------------------------------------------------- temporary files
def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


HOST = socket.gethostname()
#: (case, name template, age in seconds, removed?)
TEMPS = [
    ("dead-writer-here", ".r.json.{host}.{dead}.abc.tmp", 0, True),
    ("live-writer-here", ".r.json.{host}.{live}.abc.tmp", 0, False),
    ("live-writer-old", ".r.json.{host}.{live}.abc.tmp", 3600, True),
    ("other-host-young", ".r.json.elsewhere.123.abc.tmp", 0, False),
    ("other-host-old", ".r.json.elsewhere.123.abc.tmp", 3600, True),
    ("old-format-young", ".r.json.abc.tmp", 0, False),
    ("old-format-old", ".r.json.abc.tmp", 3600, True),
]


@pytest.mark.parametrize("case,template,age,removed", TEMPS, ids=[c[0] for c in TEMPS])
def test_leftover_temporary_files(tmp_path, case, template, age, removed):
    tmp = tmp_path / template.format(host=HOST, dead=_dead_pid(), live=os.getpid())
    tmp.write_text("{half")
    stamp = time.time() - age
    os.utime(tmp, (stamp, stamp))
    record = tmp_path / "r.json"
    record.write_text(_good_text())
    assert (tmp in clean_temporary_files(tmp_path)) == removed
    assert tmp.exists() != removed
    assert record.exists()  # records are never touched


# ----------------------------------------------------------------------------- claims
#: (case, claim content, age in seconds, stale?)
CLAIMS = [
    ("own-live-process", lambda: {"pid": os.getpid(), "host": HOST, "time": time.time()}, 0, False),
    ("dead-process-here", lambda: {"pid": _dead_pid(), "host": HOST, "time": time.time()}, 0, True),
    ("other-host-fresh", lambda: {"pid": 1, "host": "elsewhere", "time": time.time()}, 0, False),
    ("other-host-old", lambda: {"pid": 1, "host": "elsewhere", "time": 0}, 7 * 3600, True),
    ("garbage-fresh", lambda: "{not json", 0, False),
    ("garbage-old", lambda: "{not json", 7 * 3600, True),
    ("empty-old", lambda: "", 7 * 3600, True),
    (
        "live-process-very-old",
        lambda: {"pid": os.getpid(), "host": HOST, "time": 0},
        7 * 3600,
        True,
    ),
]


@pytest.mark.parametrize("case,content,age,stale", CLAIMS, ids=[c[0] for c in CLAIMS])
def test_claims_are_honoured_or_recovered(tmp_path, case, content, age, stale):
    path = claim_path(tmp_path, "run")
    value = content()
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    assert claim_is_stale(path) == stale
    got = try_claim(tmp_path, "run")
    if stale:
        assert got == path and json.loads(path.read_text())["pid"] == os.getpid()
    else:
        assert got is None and path.exists()


def test_claim_is_exclusive_and_released(tmp_path):
    first = try_claim(tmp_path, "run")
    assert first is not None and try_claim(tmp_path, "run") is None
    store.release_claim(first)
    assert not first.exists() and try_claim(tmp_path, "run") is not None


# ----------------------------------------------------------------------------- through a sweep
def _tiny(seed: int = 0) -> RunConfig:
    return RunConfig(
        problem="synthetic_regression", optimizer="rmsprop", epochs=1, batch_size=16, seed=seed,
        problem_kwargs={"n_train": 32, "n_test": 16, "hidden": (4,)}, device="cpu",
    )  # fmt: skip


SWEEP_DAMAGE = [
    c for c in DAMAGED if c[0] in ("empty", "truncated", "list", "null", "no-final", "binary", "unknown-status")
]


@pytest.mark.parametrize("case,content,reason", SWEEP_DAMAGE, ids=[c[0] for c in SWEEP_DAMAGE])
def test_sweep_sets_damaged_record_aside_and_reruns_it(tmp_path, case, content, reason):
    config = _tiny()
    path = tmp_path / f"{config.run_id()}.json"
    path.write_text(content)
    with pytest.warns(UserWarning, match="damaged record .*" + config.run_id()):
        (record,) = sweep([config], tmp_path, progress=False, workers=1)
    assert record["status"] == "finished" and read_json(path)["final"] == record["final"]
    (aside,) = (tmp_path / "_damaged").iterdir()
    assert aside.read_text() == content  # moved, never deleted


def test_sweep_carries_on_after_a_truncated_record_and_reruns_only_it(tmp_path, monkeypatch):
    from mtl_lib.experiments import single_run

    configs = [_tiny(seed) for seed in range(3)]
    first = sweep(configs, tmp_path, progress=False, workers=1)
    victim = tmp_path / f"{configs[1].run_id()}.json"
    victim.write_text(victim.read_text()[:100])  # a disk-full / killed copy
    trained = []
    real = single_run.run
    monkeypatch.setattr(single_run, "run", lambda c, **kw: trained.append(c.seed) or real(c, **kw))
    with pytest.warns(UserWarning, match=str(victim.name)):
        second = sweep(configs, tmp_path, progress=False, workers=1)
    assert trained == [1]
    metrics = lambda r: {k: v for k, v in r["final"].items() if k != "train_time_s"}  # noqa: E731
    assert [metrics(r) for r in second] == [metrics(r) for r in first]  # same seed, same numbers


def test_sweep_removes_temporary_files_of_killed_writes(tmp_path):
    config = _tiny()
    leftover = tmp_path / f".{config.run_id()}.json.{HOST}.{_dead_pid()}.xyz.tmp"
    leftover.write_text('{"half": ')
    with pytest.warns(UserWarning, match="temporary file"):
        sweep([config], tmp_path, progress=False, workers=1)
    assert not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{config.run_id()}.json"]
