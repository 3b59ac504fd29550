"""The survey benchmark's profiles (issue 24 item 3): no leaf part at quick (its budget left the
species F1 at chance), three seeds wherever the page shows intervals, and a check that finds a
column at chance level."""

from mtl_lib.studies import survey_benchmark as bench


def test_quick_has_three_seeds_and_no_leaf_runs_and_says_why():
    assert len(bench.settings("quick")["seeds"]) >= 3
    problems = {c.problem for c in bench.configs("quick", device="cpu")}
    assert "leaf" not in problems and {"synthetic_regression", "multidigits"} <= problems
    assert "chance" in bench.LEAF_LEFT_OUT["quick"]
    assert "leaf" in {c.problem for c in bench.configs("paper", device="cpu")}


def _record(run_id, problem, method, values):
    final = dict(values)
    return {"run_id": run_id, "method": method, "seed": 0, "config": {"problem": problem},
            "final": final, "history": [{"epoch": 1, "steps": 1, "train_time_s": 1.0, **final}]}  # fmt: skip


def test_columns_at_chance_names_a_column_no_method_trained():
    records = [
        _record("a", "multidigits", "EW (reference)", {"left/acc": 0.11, "right/acc": 0.6}),
        _record("b", "multidigits", "MoCo", {"left/acc": 0.12, "right/acc": 0.1}),
    ]
    assert bench.columns_at_chance(records) == ["multidigits: left/acc"]
    records[1] = _record("b", "multidigits", "MoCo", {"left/acc": 0.5, "right/acc": 0.1})
    assert bench.columns_at_chance(records) == []
