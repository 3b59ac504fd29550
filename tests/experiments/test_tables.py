"""Tables of records: two configs that differ only in their optimizer share the default method
label; the tables say so instead of merging their rows silently."""

from __future__ import annotations

import warnings

import pytest

from mtl_lib.experiments import RunConfig, final_frame, history_frame, run


def _config(optimizer: str, **fields) -> RunConfig:
    return RunConfig(
        problem="synthetic_regression", optimizer=optimizer, epochs=1, batch_size=16, device="cpu",
        problem_kwargs={"n_train": 32, "n_test": 16, "hidden": (4,)}, **fields,
    )  # fmt: skip


@pytest.fixture(scope="module")
def two_optimizers():
    return [run(_config("adam")), run(_config("sgd"))]


@pytest.mark.parametrize("table", [final_frame, history_frame])
def test_one_label_over_two_optimizers_is_warned(two_optimizers, table):
    assert {r["method"] for r in two_optimizers} == {"EW"}  # the default label omits the optimizer
    with pytest.warns(UserWarning, match=r"'EW': adam, sgd.*RunConfig\(label=\.\.\.\)"):
        frame = table(two_optimizers)
    assert set(frame["method"]) == {"EW"}


def test_own_labels_keep_rows_apart_without_a_warning():
    records = [run(_config("adam", label="EW adam")), run(_config("sgd", label="EW sgd"))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = final_frame(records)
    assert set(frame["method"]) == {"EW adam", "EW sgd"}
