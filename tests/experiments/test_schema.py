"""Run records are read through one schema check: valid JSON with wrong types, missing fields,
another run's id or non-finite metrics is set aside like a damaged file and its run redone,
never reused as finished nor fed to the tables."""

from __future__ import annotations

import copy
import json
import warnings

import pytest

from mtl_lib.experiments import RunConfig, final_frame, load_records, run, sweep, write_json_atomic
from mtl_lib.experiments.schema import record_problem
from mtl_lib.experiments.store import inspect_record


def _config(seed: int = 0) -> RunConfig:
    return RunConfig(
        problem="synthetic_regression", optimizer="rmsprop", epochs=1, batch_size=16, seed=seed,
        problem_kwargs={"n_train": 32, "n_test": 16, "hidden": (4,)}, device="cpu",
    )  # fmt: skip


@pytest.fixture(scope="module")
def record():
    return run(_config())


def _set(path, value):
    def change(record):
        target = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return json.dumps(record)

    return change


def _drop(key):
    return lambda record: json.dumps({k: v for k, v in record.items() if k != key})


def _raw_1e400(record):
    # 1e400 is valid JSON that Python reads as inf
    return json.dumps(record).replace(json.dumps(record["final"]["A/nrmse"]), "1e400", 1)


#: (case, how the record is broken, what the reason says). Before this check, the first two
#: crashed the tables (TypeError / KeyError) and the others entered them silently.
BROKEN = [
    ("history-of-numbers", _set(["history"], [1, 2, 3]), "history[0] is not an epoch object"),
    ("no-run-id", _drop("run_id"), "'run_id' missing"),
    ("metric-as-string", _set(["final", "A/nrmse"], "0.5"), "metric 'A/nrmse' is not a number"),
    ("history-metric-as-string", _set(["history", 0, "B/rmse"], "0.1"), "metric 'B/rmse' is not a number"),
    ("seed-as-string", _set(["seed"], "0"), "'seed' must be the config's integer seed 0"),
    ("run-id-of-another-run", _set(["run_id"], _config(seed=1).run_id()), "is not its config's id"),
    ("metric-1e400", _raw_1e400, "metric 'A/nrmse' is inf in a finished run"),
    ("method-missing", _drop("method"), "'method' missing"),
    ("epoch-not-integer", _set(["history", 0, "epoch"], "1"), "no integer 'epoch'"),
    ("config-not-a-run-config", _set(["config", "problem_kwargs"], None), "is not its config's id"),
    ("task-split-not-an-object", _set(["task_split"], "heads"), "'task_split' must be an object"),
    ("task-split-unknown", _set(["task_split", "task_split"], "tails"), "one of ('heads', 'none')"),
    ("task-split-no-reason", _set(["task_split", "reason"], None), "no string 'reason'"),
]


@pytest.mark.parametrize("case,damage,reason", BROKEN, ids=[c[0] for c in BROKEN])
def test_record_failing_the_schema_is_set_aside_and_redone(tmp_path, record, case, damage, reason):
    config = _config()
    path = tmp_path / f"{config.run_id()}.json"
    text = damage(copy.deepcopy(record))
    path.write_text(text)
    check = inspect_record(path, None if case == "config-not-a-run-config" else config.identity())
    assert check.status == "damaged" and reason in check.reason, check
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame_input = load_records(tmp_path)
    assert frame_input == []  # the tables never see it
    assert any(reason in str(w.message) for w in caught)
    with pytest.warns(UserWarning, match="damaged record"):
        (redone,) = sweep([config], tmp_path, progress=False, workers=1)
    assert redone["status"] == "finished" and record_problem(redone) is None
    (aside,) = (tmp_path / "_damaged").iterdir()
    assert aside.read_text() == text  # moved, never deleted
    final_frame([redone])  # the redone record makes a table


def test_sound_records_pass(record):
    assert record_problem(record) is None
    failed = {**record, "status": "failed", "error": {"type": "X"}, "history": []}
    failed.pop("final")
    assert record_problem(failed) is None  # a failed run may have no history yet


def test_failed_record_may_hold_non_finite_losses(record):
    failed = copy.deepcopy({**record, "status": "failed", "error": {"type": "NonFiniteError"}})
    failed["history"][0]["A/loss"] = float("nan")
    assert record_problem(failed) is None
    finished = copy.deepcopy(record)
    finished["history"][0]["A/loss"] = float("nan")
    assert "is nan in a finished run" in record_problem(finished)


def test_committed_record_format_still_passes(tmp_path, record):
    """Records written before ``status`` existed (the committed calibration records) pass."""
    old = {k: v for k, v in record.items() if k != "status"}
    write_json_atomic(tmp_path / "old.json", old)
    assert inspect_record(tmp_path / "old.json").status == "finished"


def test_every_record_states_its_task_split_and_older_ones_without_it_still_read(tmp_path, record):
    """The head split of the task gradients (the engine's fast path) is recorded as the trainer
    reports it: not needed on the plain path, used with an aggregator (one head per task)."""
    assert record["task_split"] == {"task_split": "none", "reason": "not needed"}
    through_jacobian = run(RunConfig(**{**_config().identity(), "aggregator": "sum"}))
    assert through_jacobian["task_split"]["task_split"] == "heads"
    assert record_problem(through_jacobian) is None
    older = {k: v for k, v in record.items() if k != "task_split"}
    write_json_atomic(tmp_path / "older.json", older)
    assert inspect_record(tmp_path / "older.json").status == "finished"
