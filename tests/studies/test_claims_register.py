"""The claims register (mtl_lib.studies.claims_register): ids unique and stable, statuses valid,
counts that add up, and every tested entry pointing at a study function whose claims include it."""

from __future__ import annotations

import importlib
import inspect
from functools import cache
from pathlib import Path

import pytest

from mtl_lib.studies import claims_register as reg
from mtl_lib.studies.claims_register.entry import Entry

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
TESTED = [e for e in reg.ENTRIES if e.status == reg.TESTED]

#: Study functions cheap enough to run here, with their arguments.
RUNNABLE = {
    "mtl_lib.studies.survey_claims:loss_balancing_claims": lambda fn: fn(),
    "mtl_lib.studies.survey_claims:gradient_balancing_claims": lambda fn: fn(),
    "mtl_lib.studies.leaf_combinations:check_claims": lambda fn: fn(_leaf_records()),
}


def _leaf_records() -> list[dict]:
    """Three folds of every approach A–H with made-up scores (only the claims' texts matter here)."""
    records = []
    for rank, approach in enumerate("ABCDEFGH"):
        for fold in range(3):
            value = 0.7 + 0.01 * rank + 0.003 * fold
            final = {"epoch": 1, "species/acc": value, "species/f1": value, "health/acc": 0.85, "health/f1": 0.85}
            records.append({
                "run_id": f"{approach}-{fold}", "method": approach, "seed": fold, "history": [final], "final": final,
                "config": {"problem_kwargs": {"fold": fold}},
            })  # fmt: skip
    return records


def _function(source: str):
    module, _, name = source.partition(":")
    return getattr(importlib.import_module(module), name)


@cache
def _claim_texts(source: str) -> tuple[tuple[str, str], ...]:
    """(id, text) of the claims a source can make: the claims themselves where the function is
    cheap to run, else its module's source code (claim texts are literals there; no id)."""
    if source.startswith("notebook:"):
        return (("", (NOTEBOOKS / f"{source.removeprefix('notebook:')}.md").read_text(encoding="utf-8")),)
    function = _function(source)
    if source in RUNNABLE:
        return tuple((c.id, c.claim) for c in RUNNABLE[source](function))
    return (("", inspect.getsource(inspect.getmodule(function))),)


def _includes(entry: Entry) -> bool:
    """The source makes the entry's claim; where it is run, that claim also carries the entry's id."""
    texts = _claim_texts(entry.source)
    if entry.source in RUNNABLE:
        return any(text.startswith(entry.prefix) and claim_id == entry.id for claim_id, text in texts)
    return any(entry.prefix in text for _, text in texts)


def test_ids_are_unique_and_every_status_valid():
    ids = [e.id for e in reg.ENTRIES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert {e.status for e in reg.ENTRIES} <= set(reg.STATUSES)
    assert {e.document for e in reg.ENTRIES} == set(reg.DOCUMENTS)


def test_counts_add_up():
    table = reg.counts()
    for document, row in table.iterrows():
        assert row[list(reg.STATUSES)].sum() == row["total"], document
    assert table.loc["all", "total"] == len(reg.ENTRIES) == len(reg.register())
    assert table.drop(index="all")["total"].sum() == len(reg.ENTRIES)
    assert str(table.loc["all", "total"]) in reg.counts_sentence()


def test_every_chapter_is_a_notebook():
    missing = [c for c in reg.chapters() if not (NOTEBOOKS / f"{c}.md").exists()]
    assert not missing, missing


@pytest.mark.parametrize("entry", TESTED, ids=[e.id for e in TESTED])
def test_tested_entry_points_at_a_claim_that_exists(entry: Entry):
    if not entry.source.startswith("notebook:"):
        assert callable(_function(entry.source)), entry.source
    assert _includes(entry), f"{entry.id}: no claim starting {entry.prefix!r} in {entry.source}"


def test_a_wrong_prefix_is_not_found():
    """The check above can fail: a claim text no study makes is not found, run or read."""
    for source in (
        "mtl_lib.studies.survey_claims:loss_balancing_claims",
        "mtl_lib.studies.adatask_tables:synthetic_claims",
    ):
        entry = reg.Entry("survey.x.y", "slide", "c", reg.TESTED, "survey_loss_balancing", source, "No study says this")
        assert not _includes(entry)


def test_tested_ids_are_the_studies_claim_ids_where_a_study_declares_them():
    from mtl_lib.studies.registry import studies

    declared = {s.name: set(s.claims) for s in studies().values() if s.claims}
    for entry in TESTED:
        module = entry.source.partition(":")[0].rsplit(".", 1)[-1]
        if module in declared:
            assert entry.id in declared[module], f"{entry.id} is not among {module}'s claim ids"


def test_untested_lists_a_chapters_other_entries():
    for chapter in reg.chapters():
        expected = {e.id for e in reg.ENTRIES if e.chapter == chapter and e.status != reg.TESTED}
        assert set(reg.untested(chapter)["id"]) == expected
    with pytest.raises(KeyError, match="survey_loss_balancing"):
        reg.untested("survey_loss_balance")


def test_the_issues_named_claims_are_accounted_for():
    """Issue 23's list of claims with no status: each now has an entry."""
    named = [
        "leaf.fig6.a_largest_gap", "leaf.fig7.f_best_task1", "leaf.fig8.f_below_b_task2", "leaf.f_beats_a",
        "adatask.fig2.gradnorm_layers", "survey.uw.large_sigma_small_weight", "survey.dwa.large_t_equal",
        "survey.nash.orthogonal", "survey.gradvac.pcgrad_stall", "survey.graddrop.worked_examples",
        "survey.imtl_l.like_uw", "survey.aligned.condition_number", "adatask.pareto.inference",
        "adatask.table3.tiktok", "adatask.table4.wechat",
    ]  # fmt: skip
    ids = {e.id for e in reg.ENTRIES}
    assert not [n for n in named if n not in ids]


def test_bad_entries_are_refused():
    with pytest.raises(ValueError, match="document"):
        reg.Entry("paper.x", "w", "c", reg.NOT_YET, "leaf_combinations", why="because")
    with pytest.raises(ValueError, match="says why"):
        reg.Entry("leaf.x.y", "w", "c", reg.UNTESTABLE, "leaf_combinations")
    with pytest.raises(ValueError, match="source"):
        reg.Entry("leaf.x.y", "w", "c", reg.TESTED, "leaf_combinations")
