"""scripts/book_audit.py (with the rules of scripts/verdict_checks.py) counts every defect issue 23 names on a small synthetic book that has
each of them, and nothing on the same book without them (so each count can fail and can pass)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
spec = importlib.util.spec_from_file_location("book_audit", ROOT / "scripts" / "book_audit.py")
book_audit = importlib.util.module_from_spec(spec)
sys.modules["book_audit"] = book_audit
spec.loader.exec_module(book_audit)

RELIEF = "PCGrad does not relieve the dominated task A (paired over seeds)."
ADA = "AdaTask beats EqualWeight on task A (paired over seeds)."
LOWEST = "AdaTask has the lowest average error of the six methods (means over seeds)."
CLAIMS = [
    {"claim": RELIEF, "verdict": "INCONCLUSIVE", "paper": "PCGrad 0.2221 vs EqualWeight 0.2172",
     "ours": "PCGrad − EqualWeight on task A = -0.1072 ± 0.9393 over 3 seeds", "id": "toy.relief"},
    {"claim": ADA, "verdict": "REPRODUCED", "paper": "0.0704 vs 0.2172",
     "ours": "AdaTask − EqualWeight on A = -0.0500 ± 0.0100 over 3 seeds", "id": "toy.ada"},
    {"claim": LOWEST, "verdict": "REPRODUCED", "paper": "AdaTask 0.0560", "ours": "AdaTask 0.1978; CAGrad 0.1987",
     "id": "toy.lowest"},
]  # fmt: skip
#: Claims whose verdicts their numbers do not support (of methods no sentence of the page names).
UNSUPPORTED = [
    {"claim": "MethodX lowers the error.", "verdict": "REPRODUCED", "paper": "", "id": "toy.contains_zero",
     "ours": "MethodX − MethodY = -0.1072 ± 0.9393 over 3 seeds"},
    {"claim": "MethodZ lowers the error.", "verdict": "INCONCLUSIVE", "paper": "", "id": "toy.excludes_zero",
     "ours": "MethodZ − MethodY = -0.0500 ± 0.0100 over 3 seeds"},
    {"claim": "Both errors fall.", "verdict": "REPRODUCED", "paper": "", "id": "toy.both",
     "ours": "a − b = -0.1 ± 0.01 over 3 seeds [REPRODUCED]; c − d = +0.1 ± 0.5 over 3 seeds [INCONCLUSIVE]"},
    {"claim": "F beats E.", "verdict": "NOT REPRODUCED", "paper": "average f1 of F − E = +0.019", "id": "toy.f",
     "ours": "average f1 of F − E = -0.044 ± 0.100 over 3 folds"},  # contains 0 and the paper's +0.019
]  # fmt: skip


def _page(rows: list[tuple[str, str]], prose: list[str], wide: bool = False) -> str:
    body = "".join(f"<tr><td>{claim}</td><td><strong>{verdict}</strong></td><td>1.0 ± 0.1</td></tr>"
                   for claim, verdict in rows)  # fmt: skip
    table = f"<table><thead><tr><th>claim</th><th>verdict</th><th>ours</th></tr></thead><tbody>{body}</tbody></table>"
    extra = '<table style="width:3000px"><tr><td>a very wide table</td></tr></table>' if wide else ""
    paragraphs = "".join(f"<p>{p}</p>" for p in prose)
    return (f"<html><body><main><article class='bd-article' style='width:600px'>{table}{paragraphs}{extra}"
            "</article></main></body></html>")  # fmt: skip


def _book(folder: Path, name: str, claims: list[dict], page: str) -> Path:
    html = folder / "_build" / "html"
    (html / "notebooks").mkdir(parents=True)
    (html / "notebooks" / f"{name}.html").write_text(page)
    status = {"build": {"profile": "smoke"}, "notebooks": [{"name": name, "verdicts": {"claims": claims}}]}
    (folder / "status.json").write_text(json.dumps(status))
    (folder / "saved").mkdir()
    return folder


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    page = _page(
        [(RELIEF, "INCONCLUSIVE"), (ADA, "INCONCLUSIVE"), ("A claim no object makes.", "REPRODUCED")],
        ["Here PCGrad did help task A, unlike in the paper.",
         "That AdaTask beats EqualWeight on task A is not reproduced."],
        wide=True,
    )  # fmt: skip
    # named as a chapter of the three documents, so that the claims register applies to it
    return _book(tmp_path / "broken", "synthetic_regression", CLAIMS + UNSUPPORTED, page)


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    page = _page(
        [(RELIEF, "INCONCLUSIVE"), (ADA, "REPRODUCED")],
        ["Whether PCGrad relieves task A this run cannot tell.", "AdaTask lowers task A's error: reproduced."],
    )  # fmt: skip
    return _book(tmp_path / "clean", "toy", CLAIMS[:2], page)


def test_every_defect_is_counted(broken: Path) -> None:
    found = book_audit.audit(broken, saved_dir=broken / "saved")
    # CLAIMS[2] (REPRODUCED on means only) and the four of UNSUPPORTED
    assert len(found["unsupported"]) == 5, found["unsupported"]
    text = "\n".join(found["contradictions"])
    assert "shows INCONCLUSIVE where the claim object says REPRODUCED" in text  # the table row
    assert "no claim object" in text  # a row typed by hand
    assert "states a direction ('help')" in text  # prose beside an INCONCLUSIVE claim
    assert "says NOT REPRODUCED of claims that are ['REPRODUCED']" in text  # a verdict word it does not have
    assert any("is in no register entry" in item for item in found["no_status"])
    assert any("marked tested" in item for item in found["no_status"])


def test_a_book_without_the_defects_counts_nothing(clean: Path) -> None:
    found = book_audit.audit(clean, saved_dir=clean / "saved")
    assert found == {"unsupported": [], "contradictions": [], "clipped": None, "no_status": []}


def test_the_command_fails_on_defects_and_passes_without(broken: Path, clean: Path, capsys) -> None:
    assert book_audit.main([str(broken)]) == 1
    assert "prose/table text contradicting a verdict: " in capsys.readouterr().out
    assert book_audit.main([str(clean)]) == 0


@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")), reason="no Chromium/chromedriver")
def test_a_table_wider_than_its_column_is_counted_at_both_widths(broken: Path, clean: Path) -> None:
    clipped = book_audit.clipped_tables(broken / "_build" / "html")
    assert [c.split(": ")[0] for c in clipped] == [
        "notebooks/synthetic_regression.html at 1280 px", "notebooks/synthetic_regression.html at 390 px",
    ]  # fmt: skip
    assert book_audit.clipped_tables(clean / "_build" / "html") == []


def test_parts_and_their_combination() -> None:
    import verdict_checks

    claim = {"claim": "x", "verdict": "INCONCLUSIVE", "ours": "a = +1 ± 0.5 [REPRODUCED]; b = +1 ± 2 [INCONCLUSIVE]"}
    assert verdict_checks.parts(claim) == [("a = +1 ± 0.5", "REPRODUCED"), ("b = +1 ± 2", "INCONCLUSIVE")]
    assert verdict_checks.unsupported(claim) == []
    assert verdict_checks.unsupported({**claim, "verdict": "REPRODUCED"})  # not every part is


@pytest.mark.parametrize(
    ("ours", "verdict", "supported"),
    [
        ("PCGrad − EW on task A = -0.0066 ± 0.0062 over 10 seeds", "REPRODUCED", True),  # inside −0.018
        ("PCGrad − EW on task A = -0.0066 ± 0.0062 over 10 seeds", "NOT REPRODUCED", False),  # the old rule's word
        ("PCGrad − EW on task A = -0.0180 ± 0.0062 over 10 seeds", "INCONCLUSIVE", True),  # straddles −0.018
        ("PCGrad − EW on task A = -0.0300 ± 0.0062 over 10 seeds", "NOT REPRODUCED", True),  # wholly beyond
        ("PCGrad − EW on task A = -0.0300 ± 0.0062 over 10 seeds", "REPRODUCED", False),
    ],
)
def test_an_equivalence_verdict_is_read_against_its_margin_not_zero(ours: str, verdict: str, supported: bool) -> None:
    import verdict_checks

    claim = {"claim": "PCGrad does not relieve A", "verdict": verdict, "ours": ours,
             "test": "equivalence: the 95 % interval above −0.0180 (10 % of EqualWeight's A error)"}  # fmt: skip
    assert (verdict_checks.unsupported(claim) == []) is supported
    # a claim whose test names no bound is read against 0: a REPRODUCED interval holding 0 is flagged
    assert verdict_checks.unsupported({**claim, "test": "", "ours": "d = +0.001 ± 0.002", "verdict": "REPRODUCED"})


def test_a_printed_comparison_row_is_read_by_its_headings_in_any_order() -> None:
    """Selenium returns a row's cells with the headings sorted: the saved sweep's column must not be
    taken for this build's (found by the browser test on a compare_claims table)."""
    import verdict_checks

    saved = {"toy.relief": {"verdict": "NOT REPRODUCED"}}
    row = {"claim": RELIEF, "same verdict": "False", "verdict (paper (saved))": "NOT REPRODUCED",
           "verdict (smoke)": "INCONCLUSIVE"}  # fmt: skip
    assert verdict_checks.row_problems(row, CLAIMS, saved) == []
    assert verdict_checks.row_problems({**row, "same verdict": "True"}, CLAIMS, saved)
    assert verdict_checks.row_problems({**row, "verdict (paper (saved))": "UNDECIDED"}, CLAIMS, saved)


def test_a_sentence_stating_the_rule_is_no_verdict() -> None:
    import verdict_checks

    rule = "AdaTask beats EqualWeight on task A is REPRODUCED when every seed agrees, NOT REPRODUCED when none does."
    assert verdict_checks.sentence_problem(rule, CLAIMS) is None
    assert verdict_checks.sentence_problem("AdaTask beats EqualWeight on task A: NOT REPRODUCED.", CLAIMS)
    two = "AdaTask beats EqualWeight on task A: REPRODUCED, and PCGrad relieves task A: NOT REPRODUCED."
    assert "several verdicts" in verdict_checks.sentence_problem(two, CLAIMS)


def test_ablation_rows_are_checked_against_the_ablations_but_need_no_register_entry(tmp_path: Path) -> None:
    """A chapter's ablations (claims of ours, saved apart by report_verdicts): a table row of one matches
    it (no "no claim object"), a row that misstates its verdict is caught, and an ablation of a
    chapter of the three documents is in no claims register without counting as "no status"."""
    ablation = {"claim": "GradNorm at alpha 0 balances most parameters.", "verdict": "REPRODUCED", "paper": "",
                "ours": "81.9 ± 1.4 % over 10 seeds", "id": "toy.ablation"}  # fmt: skip
    for name, shown in (("fine", "REPRODUCED"), ("wrong", "NOT REPRODUCED")):
        folder = tmp_path / name
        page = _page([(RELIEF, "INCONCLUSIVE"), (ablation["claim"], shown)], [])
        _book(folder, "synthetic_regression", CLAIMS[:1], page)
        status = json.loads((folder / "status.json").read_text())
        status["notebooks"][0]["verdicts"]["ablations"] = [ablation]
        (folder / "status.json").write_text(json.dumps(status))
        found = book_audit.audit(folder, saved_dir=folder / "saved")
        if name == "fine":
            assert found["contradictions"] == [], found["contradictions"]
        else:
            (problem,) = found["contradictions"]
            assert "shows NOT REPRODUCED where the claim object says REPRODUCED" in problem
        assert not any("GradNorm" in item for item in found["no_status"]), found["no_status"]
