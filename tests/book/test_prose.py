"""The book says only what its claim objects say.

A sentence about a result must not compute its own comparison or type its own verdict: notebooks
write verdict prose through ``Claim.pick`` (one sentence per verdict) or ``verdict_summary``, and
point at the settings table instead of quoting settings. These checks read the committed text
notebooks and prose pages, so they fail before a contradiction can reach a page.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jupytext
import pytest

from mtl_lib.studies._common import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Claim, verdict_summary

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import verdict_checks  # noqa: E402  (scripts/verdict_checks.py: the rules the browser test applies)

TEXT_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.md"))
VERDICT_WORDS = re.compile(r"NOT REPRODUCED|REPRODUCED|INCONCLUSIVE|SAME DIRECTION|UNDECIDED")
#: Pages whose job is to define the verdict words (the rule and the front page's legend).
RULE_PAGES = {"book/reproducing.md", "book/intro.md"}
#: A profile named next to a count of steps/epochs/seeds...: a setting quoted in prose.
QUOTED_SETTING = re.compile(
    r"`?(smoke|quick|paper)`?[^.\n]{0,60}?\b\d[\d,.]*\s*(steps|epochs|seeds|folds|samples|composites)\b", re.I
)


def _cells(path: Path):
    for cell in jupytext.read(path, fmt="md:myst").cells:
        yield cell.cell_type, cell.source


@pytest.mark.parametrize("path", TEXT_NOTEBOOKS, ids=lambda p: p.stem)
def test_no_notebook_decides_a_verdict_itself(path: Path) -> None:
    offending = []
    for kind, source in _cells(path):
        for line in source.splitlines():
            if kind == "code" and ".reproduced" in line:
                offending.append(f"collapses a verdict to a bool (use claim.pick / verdict_summary): {line.strip()}")
            if kind == "code" and re.search(r"""["'][^"']*\b(NOT REPRODUCED|REPRODUCED|INCONCLUSIVE)\b""", line):
                offending.append(f"types a verdict word in code: {line.strip()}")
        if kind == "markdown":
            offending += [f"types a verdict word in prose: {s}" for s in prose_verdict_sentences(source)]
    assert offending == [], f"{path.name}:\n" + "\n".join(offending)


def prose_verdict_sentences(markdown: str) -> list[str]:
    """Sentences of a Markdown cell that give a verdict: exactly one verdict word. A sentence naming
    several states a claim's rule ("REPRODUCED when …, NOT REPRODUCED when …, INCONCLUSIVE
    otherwise"), and one linking a page ({doc}`…`) points at where the verdict is."""
    text = " ".join(markdown.split())
    return [
        sentence
        for sentence in re.split(r"(?<=[.;!?])\s+", text)
        if VERDICT_WORDS.search(sentence) and "{doc}`" not in sentence and not verdict_checks.states_a_rule(sentence)
    ]


def test_a_stated_rule_is_not_a_verdict_but_a_typed_verdict_is() -> None:
    rule = "The claim is REPRODUCED when most match,\nNOT REPRODUCED when most are\nbetter, INCONCLUSIVE otherwise."
    assert prose_verdict_sentences(rule) == []
    assert prose_verdict_sentences("Here PCGrad helped. This is\nREPRODUCED.") == ["This is REPRODUCED."]
    two_verdicts = "F beats E: REPRODUCED, and D beats B: NOT REPRODUCED."  # two verdicts typed by hand
    assert prose_verdict_sentences(two_verdicts) == [two_verdicts]


@pytest.mark.parametrize("path", TEXT_NOTEBOOKS, ids=lambda p: p.stem)
def test_prose_points_at_the_settings_table_instead_of_quoting_it(path: Path) -> None:
    quoted = [
        match.group(0)
        for kind, source in _cells(path)
        if kind == "markdown"
        for match in QUOTED_SETTING.finditer(source)
    ]
    assert quoted == [], f"{path.name} quotes settings in prose (show settings_by_profile instead): {quoted}"


def test_prose_pages_use_only_the_current_verdict_words() -> None:
    stale = []
    for page in sorted((ROOT / "book").rglob("*.md")):
        relative = page.relative_to(ROOT).as_posix()
        for line in page.read_text().splitlines():
            if re.search(r"SAME DIRECTION|UNDECIDED", line) and relative not in RULE_PAGES:
                stale.append(f"{relative}: {line.strip()}")
    assert stale == [], "\n".join(stale)


def test_pick_returns_the_sentence_of_the_claims_own_verdict() -> None:
    sentences = {"reproduced": "yes.", "not_reproduced": "no.", "inconclusive": "cannot tell."}
    for verdict, expected in ((REPRODUCED, "yes."), (NOT_REPRODUCED, "no.")):
        assert Claim("c", "", "", verdict).pick(**sentences) == expected
    inconclusive = Claim("c", "", "", INCONCLUSIVE, power="this run detects effects ≥ 0.1")
    assert inconclusive.pick(**sentences) == "cannot tell. (this run detects effects ≥ 0.1)"
    with pytest.raises(TypeError):
        Claim("c", "", "", REPRODUCED).pick(reproduced="yes.")  # every verdict needs its sentence


def test_verdict_summary_lists_every_claim_under_its_own_verdict() -> None:
    claims = [
        Claim("first", "", "", REPRODUCED),
        Claim("second", "", "", INCONCLUSIVE, power="detects ≥ 0.2"),
        Claim("third", "", "", NOT_REPRODUCED),
    ]
    text = verdict_summary(claims, "quick")
    assert text.startswith("At profile `quick`, 1 of 3 claims reproduced.")
    assert "**Not reproduced** (1): (3) third" in text
    assert "**Inconclusive** (1): (2) second [detects ≥ 0.2]" in text
    assert "first" not in text.split("reproduced.", 1)[1]
