"""The task-scaling results (mtl_lib.studies.task_scaling): the saved file is read through a
schema check whose errors name the remaking command, and turned into the page's tables and figure."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from mtl_lib.studies import task_scaling as ts  # noqa: E402
from mtl_lib.studies._figures import TEXT_WIDTH_IN, displayed_font_pt, drawn_width_in  # noqa: E402


def _row(model: str, k: int, variant: str, ms: float, plain_ms: float, memory: float | None = None) -> dict[str, Any]:
    library, _, method = variant.partition("/")
    return {
        "model": model, "K": k, "variant": variant, "library": library, "method": method,
        "median": ms / plain_ms, "min": 0.9 * ms / plain_ms, "max": 1.2 * ms / plain_ms,
        "ms_median": ms, "ms_min": 0.9 * ms, "ms_max": 1.2 * ms, "memory_mb": memory,
    }  # fmt: skip


def _results() -> dict[str, Any]:
    rows = []
    for model, plain in (("mlp", 2.0), ("cnn", 100.0)):
        for k in (2, 40):
            rows += [
                _row(model, k, "plain", plain, plain, 0.2),
                _row(model, k, "ours/mgda", plain * k / 2, plain, 0.5 * k),
                _row(model, k, "ours-gramian/mgda", plain * k / 4, plain, 0.25 * k),
                _row(model, k, "torchjd/mgda", plain * k, plain),
                _row(model, k, "ours/upgrad", plain * k, plain, 0.5 * k),
                _row(model, k, "ours-gramian/upgrad", plain * k, plain, 0.2 * k),
                _row(model, k, "libmtl-head/upgrad", plain * 2 * k, plain),
            ]
    rows.append({"model": "mlp", "K": 2, "variant": "torchjd/famo", "error": "RuntimeError: boom"})
    provenance = {
        "written_at": "2026-12-03T17:00:00+00:00",
        "host": "vm",
        "command": "python benchmarks/task_scaling.py",
    }
    return {"schema": ts.SCHEMA, "provenance": provenance, "rows": rows}


def _write(tmp_path: Path, results: Any) -> Path:
    path = tmp_path / "task_scaling.json"
    path.write_text(json.dumps(results))
    return path


def test_a_sound_file_gives_the_time_and_memory_tables(tmp_path: Path) -> None:
    results = ts.load_results(_write(tmp_path, _results()))
    times = ts.time_table(results, "mlp")
    assert list(times.columns) == ["K=2", "K=40"]
    assert times.loc[("mgda", "ours (Jacobian)"), "K=40"] == "20.00 (18.00–24.00)"
    assert times.loc[("plain step", "ms"), "K=2"] == "2.0"
    assert ("famo", "TorchJD autojac") not in times.index  # the failed variant is not a time
    memory = ts.memory_table(results, "cnn")
    assert memory.loc["ours-gramian/mgda", "K=40"] == 10.0
    assert "torchjd/mgda" not in memory.index  # not measured


def test_the_gramian_comparison_is_the_ratio_of_our_two_paths(tmp_path: Path) -> None:
    table = ts.gramian_vs_jacobian(ts.load_results(_write(tmp_path, _results())), "mlp")
    assert table.index.name == "mlp, K=40"
    assert table.loc["mgda", "time Gramian/Jacobian"] == 0.5
    assert table.loc["upgrad", "memory Gramian/Jacobian"] == 0.4
    assert table.loc["mgda", "Jacobian ms"] == 40.0


def test_the_figure_fits_the_column_and_its_text_stays_legible(tmp_path: Path) -> None:
    fig = ts.figure(ts.load_results(_write(tmp_path, _results())))
    assert len(fig.axes) == 6  # 2 models × (mgda time, upgrad time, memory)
    assert all(ax.get_xscale() == "log" and ax.get_yscale() == "log" for ax in fig.axes)
    assert drawn_width_in(fig) <= TEXT_WIDTH_IN + 0.02
    assert displayed_font_pt(fig) >= 9.0
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"ours (Jacobian)", "ours (Gramian)", "TorchJD autojac", "LibMTL HEAD", "plain step"} <= labels
    plt.close(fig)


def test_a_missing_file_names_the_command_that_writes_it(tmp_path: Path) -> None:
    with pytest.raises(ts.TaskScalingResultsError, match="task_scaling.py --save"):
        ts.load_results(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda r: r.update(schema=0), "schema 0"),
        (lambda r: r.pop("provenance"), "provenance"),
        (lambda r: r["rows"][1].update(median=-1.0), "must all be finite numbers > 0"),
        (lambda r: r["rows"][1].pop("ms_max"), "or all absent"),
        (lambda r: r["rows"][1].update(memory_mb=float("nan")), "memory_mb"),
        (lambda r: r["rows"][1].update(model="resnet"), "unknown model 'resnet'"),
        (lambda r: r["rows"][1].update(variant="keras/mgda"), "unknown variant 'keras/mgda'"),
        (lambda r: r["rows"].pop(0), "no timed 'plain' row"),
        (lambda r: r.update(measured={"mlp": {"commit": "abc"}}), "'measured' must map"),
    ],
)
def test_a_damaged_file_names_the_problem_and_the_command(tmp_path: Path, damage: Any, problem: str) -> None:
    results = copy.deepcopy(_results())
    damage(results)
    with pytest.raises(ts.TaskScalingResultsError, match=problem) as caught:
        ts.load_results(_write(tmp_path, results))
    assert "task_scaling.py --save" in str(caught.value)


def test_text_that_is_not_json_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "task_scaling.json"
    path.write_text('{"schema": 1,\n<<<<<<< HEAD\n')
    with pytest.raises(ts.TaskScalingResultsError, match="not valid JSON \\(line 2"):
        ts.load_results(path)


def test_models_measured_by_different_runs_are_described_one_line_each(tmp_path: Path) -> None:
    results = _results()
    results["measured"] = {
        "mlp": {"written_at": "2026-12-03T18:10:00+00:00", "commit": "bbbbbbbbbbbb", "rounds": 5, "command": "run 2"},
        "cnn": {"written_at": "2026-12-03T17:24:00+00:00", "commit": "aaaaaaaaaaaa", "rounds": 3, "command": "run 1"},
    }
    lines = ts.describe(ts.load_results(_write(tmp_path, results))).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("synthetic MLP") and "bbbbbbbbbb" in lines[0] and "5 interleaved rounds" in lines[0]
    assert "aaaaaaaaaa" in lines[1] and lines[1].endswith("by: run 1")


def test_the_committed_results_file_passes_the_schema() -> None:
    results = ts.load_results()  # benchmarks/saved/task_scaling.json of this checkout
    assert {"mlp", "cnn"} <= {r["model"] for r in results["rows"]}
    assert "by: " in ts.describe(results)
