"""One history key scheme, ``<task>/<metric>`` (issue 25 item 6), read back with the legacy
``train_loss/<task>`` of saved records."""

from __future__ import annotations

import pytest

from mtl_lib.core.history_keys import metric_key, parse_key, split_of, train_loss_key
from mtl_lib.engine import Trainer
from mtl_lib.experiments.tables import history_frame
from tests.helpers import regression_batches, regression_tasks, tiny_model


@pytest.mark.parametrize(
    ("key", "parsed"),
    [
        ("depth/train_loss", ("depth", "train_loss")),
        ("depth/loss", ("depth", "loss")),
        ("depth/abs_err", ("depth", "abs_err")),
        ("train_loss/depth", ("depth", "train_loss")),  # records written before the scheme
        ("epoch", None),
        ("train_time_s", None),
    ],
)
def test_parse_key(key, parsed):
    assert parse_key(key) == parsed


def test_keys_and_splits():
    assert train_loss_key("A") == "A/train_loss" and metric_key("A", "nrmse") == "A/nrmse"
    assert split_of("train_loss") == "train" and split_of("loss") == "eval"


def test_every_metric_key_of_a_history_is_task_first():
    # Before: training losses were "train_loss/t0", evaluation values "t0/loss"; phase "train"
    batches = regression_batches(2)
    history = Trainer(tiny_model(2), regression_tasks(2), device="cpu", progress=False).fit(
        batches, epochs=1, eval_data=batches[:1]
    )
    record = history[0]
    assert record["phase"] == "main"
    metric_keys = [key for key in record if "/" in key]
    assert {"t0/train_loss", "t1/train_loss", "t0/loss", "t1/loss"} == set(metric_keys)
    assert all(parse_key(key)[0] in ("t0", "t1") for key in metric_keys)


def _record(history):
    return {"run_id": "r", "method": "EW", "seed": 0, "status": "finished", "history": history}


def test_frames_say_which_data_a_value_was_measured_on_for_both_schemes():
    # Before: eval rows carried phase='train' and nothing told them from training-loss rows
    new = _record([{"epoch": 1, "phase": "main", "A/train_loss": 1.0, "A/loss": 2.0}])
    old = _record([{"epoch": 1, "phase": "train", "train_loss/A": 1.0, "A/loss": 2.0}])
    for record in (new, old):
        frame = history_frame([record]).set_index("metric")
        assert frame.loc["train_loss", "split"] == "train" and frame.loc["loss", "split"] == "eval"
        assert set(frame["task"]) == {"A"}
