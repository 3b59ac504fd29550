"""Damaged saved summaries (issue 25 item 5): every damage case of the committed ``paper``
summaries gives one error line naming the file and the command that remakes it, or reads as a
sound summary that the chapter can show. Before: 16 of 47 cases crashed the chapter with a
``KeyError``/``AttributeError``, bad JSON gave a ``JSONDecodeError`` without the file's name, and a
negative or NaN ``run_seconds`` was printed on the page."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from mtl_lib.experiments.saved_summaries import SavedSummaryError, describe, read_summary
from mtl_lib.studies import multidigits as md
from mtl_lib.studies._saved import beside_saved

SAVED = Path(__file__).resolve().parents[2] / "data" / "paper_verdicts"
MD_COMMAND = "python -m mtl_lib run multidigits --profile paper --workers 2 --save-summary"
RAU_COMMAND = "python -m mtl_lib run adatask_rau --profile paper --save-summary"


def _load(name: str) -> dict[str, Any]:
    return json.loads((SAVED / f"{name}.paper.json").read_text())


def _without(key: str):
    return lambda s: s.pop(key)


def _set(path: tuple, value: Any):
    def damage(summary: dict[str, Any]) -> None:
        target = summary
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return damage


#: (label, damage to the multidigits summary): structural damage the page would trip on.
MD_CASES = [
    *[(f"no {key}", _without(key)) for key in (
        "name", "profile", "provenance", "sizes", "runs", "run_seconds", "base_lrs", "tuned_choice", "summary",
        "summary_columns", "tuned_ew_verdict", "claims", "delta_m", "delta_m_vs_tuned", "dominance",
        "dominance_columns",
    )],
    *[(f"{key} as {value!r}", _set((key,), value)) for key, value in (
        ("sizes", "big"), ("runs", 455), ("summary", {"a": 1}), ("summary_columns", "method"), ("tuned_ew_verdict", 1),
        ("claims", "none"), ("delta_m", []), ("dominance", None), ("provenance", "vm"), ("name", "leaf"),
        ("profile", "quick"), ("base_lrs", [1e-3]),
    )],
    ("run_seconds negative", _set(("run_seconds",), -5.0)),
    ("run_seconds NaN", _set(("run_seconds",), math.nan)),
    ("run_seconds infinite", _set(("run_seconds",), math.inf)),
    ("run_seconds a string", _set(("run_seconds",), "81 min")),
    ("run_seconds a bool", _set(("run_seconds",), True)),
    ("runs negative", _set(("runs", "grid"), -1)),
    ("sizes without epochs", lambda s: s["sizes"].pop("epochs")),
    ("sizes without data", lambda s: s["sizes"].pop("data")),
    ("a summary row without method", lambda s: s["summary"][0].pop("method")),
    ("a claim without verdict", lambda s: s["claims"][0].pop("verdict")),
    ("a claim with an unknown verdict", _set(("claims", 0, "verdict"), "MAYBE")),
    ("a claim without id", lambda s: s["claims"][0].pop("id")),
    ("a claim that is a string", _set(("claims", 0), "Tuned EW matches")),
    ("delta_m values as strings", lambda s: s["delta_m"].update({"UW": ["+1.0", "-0.5"]})),
    ("delta_m with a NaN", lambda s: s["delta_m"].update({"UW": [math.nan]})),
    ("dominance_columns too short", _set(("dominance_columns",), ["condition"])),
    ("provenance without written_at", lambda s: s["provenance"].pop("written_at")),
]  # fmt: skip


def _write(tmp_path: Path, name: str, summary: Any) -> Path:
    path = tmp_path / f"{name}.paper.json"
    path.write_text(json.dumps(summary, allow_nan=True))
    return path


def _assert_one_line(error: SavedSummaryError, path: Path, command: str) -> None:
    message = str(error)
    assert "\n" not in message and str(path) in message and command in message, message


def test_the_committed_summaries_are_sound() -> None:
    saved = md.read_saved("paper", folder=SAVED)
    assert saved is not None and md.saved_problem(saved) is None
    assert "re-keyed by id" in describe(saved)  # the re-keying is stated where the summary is shown
    assert read_summary("synthetic_verdicts", "paper", folder=SAVED, command=RAU_COMMAND)["claims"]


@pytest.mark.parametrize(("label", "damage"), MD_CASES, ids=[c[0] for c in MD_CASES])
def test_damaged_multidigits_summary_is_one_line_naming_file_and_command(tmp_path, label, damage) -> None:
    summary = copy.deepcopy(_load("multidigits"))
    damage(summary)
    path = _write(tmp_path, "multidigits", summary)
    with pytest.raises(SavedSummaryError) as error:
        md.read_saved("paper", folder=tmp_path)
    _assert_one_line(error.value, path, MD_COMMAND)


@pytest.mark.parametrize(
    "text", ["", "{", '{"name": "multidigits", "profile": "paper"', "[1, 2, 3]", "null", "NaN", "\xff\xfe"]
)
def test_unreadable_json_names_the_file(tmp_path, text) -> None:
    path = tmp_path / "multidigits.paper.json"
    path.write_text(text, errors="surrogateescape")
    with pytest.raises(SavedSummaryError) as error:
        md.read_saved("paper", folder=tmp_path)
    _assert_one_line(error.value, path, MD_COMMAND)


@pytest.mark.parametrize(
    ("label", "damage"),
    [
        ("no claims list", _set(("claims",), {"a": 1})),
        ("a claim without its text", lambda s: s["claims"][3].pop("claim")),
        ("two claims with one id", _set(("claims", 1, "id"), "adatask.table2.ada_lowers_a")),
        ("run_seconds part negative", _set(("run_seconds", "Fig. 2 bucket sweep"), -1.0)),
        ("run_seconds part NaN", _set(("run_seconds", "Fig. 2 bucket sweep"), math.nan)),
        ("runs a float", _set(("runs",), 66.5)),
    ],
)
def test_damaged_synthetic_summary_stops_the_comparison_with_the_remake_command(tmp_path, monkeypatch, label, damage):
    summary = copy.deepcopy(_load("synthetic_verdicts"))
    damage(summary)
    path = _write(tmp_path, "synthetic_verdicts", summary)
    monkeypatch.setenv("MTL_SUMMARIES_DIR", str(tmp_path))
    with pytest.raises(SavedSummaryError) as error:
        beside_saved([], "synthetic_verdicts", "quick", source="Tables 2/5")  # the command comes from the registry
    _assert_one_line(error.value, path, RAU_COMMAND)
