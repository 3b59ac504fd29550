"""The book build's helpers: verdict reports, cell tagging, the offline link check, the
thread plan and the generated pages. Fast; no notebook is executed."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from mtl_lib.experiments.build_status import (
    cache_counts,
    claim_row,
    normalise_verdict,
    report_verdicts,
)

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tag_notebooks = _load("tag_notebooks")
check_links = _load("check_links")
build_book = _load("build_book")


# ----------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "REPRODUCED"),
        (False, "NOT REPRODUCED"),
        ("REPRODUCED", "REPRODUCED"),
        ("NOT REPRODUCED", "NOT REPRODUCED"),
        ("INCONCLUSIVE (one fold)", "INCONCLUSIVE"),
        ("inconclusive", "INCONCLUSIVE"),
        # the earlier rule's words, still in saved summaries written under it
        ("SAME DIRECTION, NOT SIGNIFICANT", "INCONCLUSIVE"),
        ("UNDECIDED (one fold)", "INCONCLUSIVE"),
    ],
)
def test_normalise_verdict(value, expected) -> None:
    assert normalise_verdict(value) == expected


def test_unknown_verdict_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="REPRODUCED, NOT REPRODUCED, INCONCLUSIVE"):
        normalise_verdict("maybe")


@dataclass
class _Claim:  # the shape of the AdaTask studies' claims
    claim: str
    paper: str
    ours: str
    reproduced: bool


@dataclass
class _Comparison:  # the shape of the leaf study's paired comparisons
    claim: str
    better: str
    worse: str
    mean_difference: float
    half_width: float
    folds: int
    verdict: str = "SAME DIRECTION, NOT SIGNIFICANT"


def test_claim_rows_from_every_claim_shape() -> None:
    assert claim_row(_Claim("c", "p", "o", False)) == {
        "claim": "c", "verdict": "NOT REPRODUCED", "paper": "p", "ours": "o", "id": "", "test": "",
    }  # fmt: skip
    assert claim_row({"claim": "m", "verdict": "REPRODUCED", "test": "equivalence: x"})["test"] == "equivalence: x"
    assert claim_row({"claim": "m", "verdict": "REPRODUCED", "id": "x.m"})["id"] == "x.m"
    row = claim_row(_Comparison("F beats B", "F", "B", 0.05, 0.07, 5))
    assert row["verdict"] == "INCONCLUSIVE"
    assert row["ours"] == "F − B = +0.050 ± 0.070 over 5 fold(s)"
    assert claim_row(("t", True))["verdict"] == "REPRODUCED"
    assert claim_row({"claim": "m", "verdict": "REPRODUCED"})["paper"] == ""
    with pytest.raises(ValueError, match="neither a 'verdict' nor a 'reproduced'"):
        claim_row({"claim": "no verdict"})


def test_report_verdicts_writes_claims_and_cache_counts(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    started = time.time()
    old, new = results / "old.json", results / "new.json"
    old.write_text("{}")
    os.utime(old, (started - 60, started - 60))  # finished by an earlier build
    new.write_text("{}")
    os.utime(new, (started + 5, started + 5))  # trained by this execution
    records = [{"run_id": "old"}, {"run_id": "new"}]
    assert cache_counts(records, results, started) == {"runs": 2, "from_cache": 1, "trained_now": 1}
    assert cache_counts([{"run_id": "missing"}], results, started)["from_cache"] is None

    os.environ["MTL_NOTEBOOK_STARTED"] = str(started)
    try:
        table = report_verdicts(
            "nb", [_Claim("c", "p", "o", True)], profile="smoke", data="generated stand-in",
            records=records, results_dir=results, out_dir=tmp_path / "v",
        )  # fmt: skip
    finally:
        del os.environ["MTL_NOTEBOOK_STARTED"]
    saved = json.loads((tmp_path / "v" / "nb.json").read_text())
    assert saved["stand_in"] is True and saved["profile"] == "smoke"
    assert saved["claims"][0]["verdict"] == "REPRODUCED"
    assert saved["cache"] == {"runs": 2, "from_cache": 1, "trained_now": 1}
    assert list(table["verdict"]) == ["REPRODUCED"]
    assert set(table["data"]) == {"generated stand-in"}


# ----------------------------------------------------------------------------- tagging
def _cell(source: str, tags: list[str] | None = None, kind: str = "code") -> dict:
    return {"cell_type": kind, "metadata": {"tags": tags or []}, "source": source}


def test_tagging_rules_and_idempotence() -> None:
    nb = {"cells": [
        _cell("# Title", kind="markdown"),
        _cell("profile = 'smoke'", ["parameters"]),
        _cell("profile = 'quick'", ["injected-parameters"]),
        _cell("# why\nimport math\nx = 1"),
        _cell("records = sweep(configs, results_dir)"),
        _cell("from x import report_verdicts\nreport_verdicts('nb', [])"),
        _cell("import os", ["remove-input"]),  # an author's choice is kept
    ]}  # fmt: skip
    assert tag_notebooks.tag_notebook(nb) == 4
    tags = [c["metadata"]["tags"] for c in nb["cells"]]
    assert tags == [
        [], ["parameters", "hide-cell"], ["injected-parameters", "hide-cell"], ["hide-input"], [],
        ["remove-cell"], ["remove-input"],
    ]  # fmt: skip
    assert tag_notebooks.tag_notebook(nb) == 0  # idempotent


def test_committed_notebooks_are_tagged() -> None:
    """If this fails, run `make tag` (scripts/tag_notebooks.py) and commit the notebooks."""
    assert tag_notebooks.main(["--check"]) == 0


def test_tag_check_reports_untagged(tmp_path: Path) -> None:
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps({"cells": [_cell("import os")], "metadata": {}}))
    assert tag_notebooks.main(["--check", str(path)]) == 1
    assert tag_notebooks.main([str(path)]) == 0
    assert tag_notebooks.main(["--check", str(path)]) == 0


# ----------------------------------------------------------------------------- link check
def test_link_check_finds_broken_files_anchors_and_images(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        '<a id="top" href="page.html#sec">ok</a><a href="page.html#nope">bad anchor</a>'
        '<a href="gone.html">bad file</a><img src="img/missing.png"><a href="https://x.org">ext</a>'
        '<a href="#top">self</a>'
    )
    (tmp_path / "page.html").write_text('<h2 id="sec">s</h2><a href="index.html">back</a>')
    problems = check_links.check_site(tmp_path)
    assert len(problems) == 3, problems
    assert any("no id 'nope'" in p for p in problems)
    assert any("gone.html" in p for p in problems)
    assert any("missing.png" in p for p in problems)


def test_link_check_passes_a_clean_site(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<a href="a/b.html#x">x</a>')
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.html").write_text('<p id="x"><a href="../index.html">up</a></p>')
    assert check_links.check_site(tmp_path) == []


# ----------------------------------------------------------------------------- build plan
@pytest.mark.parametrize("cores", [1, 2, 3, 4, 8, 16])
@pytest.mark.parametrize("jobs", [1, 2, 3, 8])
def test_never_more_busy_threads_than_cores(cores: int, jobs: int) -> None:
    jobs = min(jobs, cores)  # the driver never runs more notebooks at once than cores
    threads, workers = build_book.plan_threads(cores, jobs)
    assert threads >= 1 and workers >= 1
    assert jobs * threads * workers <= cores


def test_notebook_key_follows_its_inputs(tmp_path: Path) -> None:
    nb = tmp_path / "a.ipynb"
    nb.write_text("{}")
    key = build_book.notebook_key(nb, "quick", "lib1")
    assert key == build_book.notebook_key(nb, "quick", "lib1")
    assert key != build_book.notebook_key(nb, "smoke", "lib1")
    assert key != build_book.notebook_key(nb, "quick", "lib2")
    nb.write_text('{"cells": []}')
    assert key != build_book.notebook_key(nb, "quick", "lib1")


def _verdicts(stand_in: bool, claims: list[dict]) -> dict:
    return {"profile": "smoke", "data": "generated stand-in" if stand_in else "synthetic",
            "stand_in": stand_in, "reproduces": "Table 1.", "claims": claims}  # fmt: skip


def test_verdict_cell_and_front_page_summary() -> None:
    claims = [{"claim": "a | b", "verdict": "REPRODUCED", "paper": "1", "ours": "2"},
              {"claim": "c", "verdict": "NOT REPRODUCED", "paper": "", "ours": ""}]  # fmt: skip
    cell = build_book.verdict_cell(_verdicts(True, claims), "leaf_combinations")
    text = cell["source"]
    assert "**What this page reproduces.** Table 1." in text
    assert "a \\| b" in text  # a pipe inside a cell does not break the table
    assert "stand-in" in text and "provisional" in text
    assert "no verdicts" in build_book.verdict_cell(None, "x")["source"]

    runs = [
        build_book.NotebookRun("leaf_combinations", "smoke", "k", verdicts=_verdicts(True, claims)),
        build_book.NotebookRun("survey_pareto", "smoke", "k", verdicts=None),
    ]
    summary = build_book.summary_markdown(runs)
    assert "2 claims, 1 not reproduced, 1 reproduced" in summary
    assert "{doc}`/notebooks/leaf_combinations`" in summary
    assert "no verdicts recorded" in summary


def test_figure_captions_from_the_table() -> None:
    nb = {"cells": [_cell('reports["mgda"] = survey.show_method("mgda", profile)'), _cell("x = 1")]}
    assert tag_notebooks.tag_notebook(nb, "survey_gradient_balancing") == 1
    caption = nb["cells"][0]["metadata"]["mystnb"]["figure"]["caption"]
    assert caption.startswith("Left: the method's update direction")
    assert "mystnb" not in nb["cells"][1]["metadata"]
    assert tag_notebooks.tag_notebook(nb, "survey_gradient_balancing") == 0
    assert tag_notebooks.tag_notebook({"cells": [_cell("survey.show_method(")]}, "other") == 0


def test_idle_projection_schedules_longest_first() -> None:
    assert build_book.idle_projection([5, 4, 3, 3, 3], 2) == 10  # 5+3, 4+3+3
    assert build_book.idle_projection([10, 1, 1], 2) == 10
    assert build_book.idle_projection([2, 2], 1) == 4


def test_verdict_cell_drops_empty_columns() -> None:
    claims = [{"claim": "c", "verdict": "REPRODUCED", "paper": "", "ours": "x"}]
    text = build_book.verdict_cell(_verdicts(False, claims), "nb")["source"]
    assert "| claim | verdict | ours |" in text
    assert "stand-in" not in text


def test_execute_runs_a_notebook_and_caches_it_at_once(tmp_path: Path) -> None:
    """One tiny notebook through papermill: CPU time measured, verdicts read back, executed
    copy stored in the notebook cache as soon as it finished."""
    cells = [
        _cell("profile = 'smoke'", ["parameters"]),
        _cell(
            "from mtl_lib.experiments.build_status import report_verdicts\n"
            "report_verdicts('tiny', [('works', True)], profile=profile, data='none')"
        ),
    ]
    for cell in cells:
        cell.update(outputs=[], execution_count=None)
    nb = tmp_path / "tiny.ipynb"
    nb.write_text(json.dumps({
        "cells": cells, "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    }))  # fmt: skip
    out = tmp_path / "out"
    for sub in ("stage/notebooks", "logs", "nbcache", "verdicts"):
        (out / sub).mkdir(parents=True)
    env = dict(os.environ, MTL_VERDICTS_DIR=str(out / "verdicts"), PYTHONPATH=str(ROOT))
    run = build_book.NotebookRun("tiny", "quick", "key")
    build_book.execute(nb, run, out / "stage", env, out)
    assert run.ok and run.executed, Path(run.log).read_text()
    assert run.cpu_s > 0 and run.wall_s > 0
    assert run.verdicts["profile"] == "quick"  # papermill injected the build's profile
    assert run.verdicts["claims"][0]["verdict"] == "REPRODUCED"
    meta = json.loads((out / "nbcache" / "tiny.quick.json").read_text())
    assert meta["key"] == "key" and meta["ok"]
    assert (out / "nbcache" / "tiny.quick.ipynb").exists()


def test_saved_paper_verdicts_join_the_chapter_and_front_page_tables(tmp_path: Path) -> None:
    """Paired by the claim's stable id: the chapter's reworded claim still meets its saved verdict."""
    (tmp_path / "x.paper.json").write_text(json.dumps({
        "profile": "paper", "claims": [{"id": "x.ab", "claim": "a | b (old words)", "verdict": "UNDECIDED", "ours": "0"},
                                       {"claim": "c", "verdict": "REPRODUCED", "ours": "0"}],  # no id: never paired
    }))  # fmt: skip
    (tmp_path / "no_claims.paper.json").write_text(json.dumps({"profile": "paper", "summary": []}))
    saved = build_book.saved_verdicts(tmp_path)
    # the earlier rule's word is read in the current words, and kept for the page to mention
    assert saved == {"x.ab": {"verdict": "INCONCLUSIVE", "file": "x.paper.json", "ours": "0", "legacy": "UNDECIDED"}}
    claims = [{"claim": "a | b", "verdict": "REPRODUCED", "paper": "1", "ours": "2", "id": "x.ab"},
              {"claim": "c", "verdict": "NOT REPRODUCED", "paper": "", "ours": "", "id": ""}]  # fmt: skip
    text = build_book.verdict_cell(_verdicts(True, claims), "leaf_combinations", saved)["source"]
    # the saved paper sweep leads, with its numbers; this build follows; the agreement is in words
    assert f"| claim | paper | {build_book.SAVED_COLUMN} | this build (`smoke`) | ours (`smoke`) | agreement |" in text
    assert (
        "| a \\| b | 1 | **INCONCLUSIVE** (saved as UNDECIDED, the earlier rule's word): 0 | **REPRODUCED** | 2 "
        "| differs: the `paper` sweep says INCONCLUSIVE, this `smoke` build REPRODUCED |"
    ) in text
    assert "| no saved `paper` sweep |" in text and "data/paper_verdicts/" in text
    # a page that tests no claim, or none with a saved counterpart, keeps its columns
    assert "tests no claim" in build_book.verdict_cell(_verdicts(False, []), "x", saved)["source"]
    assert build_book.SAVED_COLUMN not in build_book.verdict_cell(_verdicts(True, claims[1:]), "x", saved)["source"]
    runs = [build_book.NotebookRun("leaf_combinations", "smoke", "k", verdicts=_verdicts(True, claims))]
    summary = build_book.summary_markdown(runs, saved)
    assert "1 of the claims also have a verdict from a `paper` sweep" in summary and "0 of those 1 agree" in summary
    assert f"| claim | {build_book.SAVED_COLUMN} | this build (`smoke`) | ours (`smoke`) | agreement |" in summary
    assert "The claims register lists" in summary and "| the three documents |" in summary


def test_inputs_digest_covers_library_data_files_and_saved_summaries(tmp_path: Path, monkeypatch) -> None:
    """A notebook re-executes when a frozen setting (JSON inside mtl_lib), a calibration record
    or a saved paper summary changes, not only when Python code does."""
    files = {
        "mtl_lib/studies/frozen.json": "{}", "mtl_lib/core.py": "x = 1", "pyproject.toml": "",
        "data/calibration/run.json": "{}", "data/paper_verdicts/s.paper.json": "{}",
    }  # fmt: skip
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(build_book, "ROOT", tmp_path)
    monkeypatch.setattr(build_book, "SAVED_DIR", tmp_path / "data" / "paper_verdicts")
    before = build_book.inputs_digest()
    (tmp_path / "mtl_lib" / "__pycache__").mkdir()
    (tmp_path / "mtl_lib" / "__pycache__" / "core.cpython-311.pyc").write_bytes(b"\0")
    assert build_book.inputs_digest() == before  # byte code is not an input
    for name in ("mtl_lib/studies/frozen.json", "data/calibration/run.json", "data/paper_verdicts/s.paper.json"):
        (tmp_path / name).write_text('{"changed": 1}')
        after = build_book.inputs_digest()
        assert after != before, name
        before = after


def test_render_only_stages_a_changed_notebook_and_says_so(tmp_path: Path) -> None:
    """A notebook whose inputs changed is executed again, unless --render-only: then its last
    executed copy is staged, marked stale, and the status page says "reused, inputs changed"."""
    nb = tmp_path / "tiny.ipynb"
    nb.write_text("{}")
    out = tmp_path / "out"
    build = build_book.Build("smoke", out, out / "results")
    build.prepare()
    (build.cache / "tiny.smoke.ipynb").write_text("{}")
    meta = asdict(build_book.NotebookRun("tiny", "smoke", "old-key", finished="2026-01-01 00:00:00 UTC"))
    (build.cache / "tiny.smoke.json").write_text(json.dumps(meta))
    runs, todo = build_book.reuse_or_plan(build, [nb], "new inputs")
    assert [run.name for _, run in todo] == ["tiny"] and not runs["tiny"].stale
    build.render_only = True
    runs, todo = build_book.reuse_or_plan(build, [nb], "new inputs")
    assert todo == [] and runs["tiny"].stale and (build.stage / "notebooks" / "tiny.ipynb").exists()
    summary = {"finished": "now", "profile": "smoke", "cores": 1, "jobs": 1, "threads": 1, "workers": 1,
               "execute_s": 0.0, "version": "0", "commit": "c"}  # fmt: skip
    assert "reused, inputs changed" in build_book.status_markdown(list(runs.values()), summary)
