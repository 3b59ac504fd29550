"""The rules that read a book's text against its claim objects (``scripts/book_audit.py`` counts
with them over a whole build; ``tests/book/test_browser.py`` applies them to every page it opens).

* :func:`unsupported`: why a claim's verdict is not what its numbers support — a REPRODUCED or
  NOT REPRODUCED reached over seeds with no interval (means only); a REPRODUCED difference whose
  interval contains 0; an INCONCLUSIVE difference whose interval excludes 0; a NOT REPRODUCED
  difference whose interval contains both 0 and the paper's stated difference; an equivalence
  test (its ``test`` names the bound) whose verdict does not follow from the interval against that
  bound; a claim made of parts whose verdict does not follow from its parts' verdicts.
* :func:`row_problems`: a verdict table row must show its claim object's verdict, the saved
  ``paper`` sweep's verdict and the right "agreement".
* :func:`sentence_problem`: no sentence may give the claims it is about (:func:`about`) a verdict
  word they do not have, or state a direction ("beats", "helps", "lower than") about claims that
  are all INCONCLUSIVE, unless it only says what would happen, what is asked or what a paper reports.

These are heuristics on the page text; every problem they report quotes what was read.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

VERDICT_WORD = re.compile(r"NOT REPRODUCED|REPRODUCED|INCONCLUSIVE")
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "REPRODUCED", "NOT REPRODUCED", "INCONCLUSIVE"
#: "m ± h": a mean and the half-width of its interval ("nan" when there is none).
INTERVAL = re.compile(r"([+\-−]?\d+(?:\.\d+)?)\s*%?\s*±\s*(\d+(?:\.\d+)?|nan)")
#: Words saying that a number comes from several seeds, folds or draws.
SAMPLED = re.compile(r"\bover (?:\d+ )?(?:seed|fold|draw|run)|\bmeans? (?:over|only)\b", re.I)
#: Words saying that a verdict rests on intervals stated elsewhere (a count of detectable differences).
CI_WORDS = re.compile(r"\bCI\b|confidence interval|t-interval", re.I)
#: "a − b = x" or "... = x": the quantity is a difference (or an effect) judged against 0.
DIFFERENCE = re.compile(r"\S\s[−-]\s\S.*?[=:]\s*[+\-−]?\d|=\s*[+\-−]?\d")
PAPER_EFFECT = re.compile(r"=\s*([+\-−]?\d+(?:\.\d+)?)")
#: An equivalence test's bound, as the claim's ``test`` states it ("equivalence: the 95 % interval
#: above −0.018 ..."): the verdict is judged against that margin, not against 0.
EQUIVALENCE_BOUND = re.compile(r"equivalence.*?\binterval (above|below) ([+\-−]?\d+(?:\.\d+)?)", re.I)
#: Sentences that give a claim a verdict in words, and the verdict they give.
PROSE_VERDICTS = (
    (re.compile(r"\bnot reproduced\b|\bdoes not reproduce\b|\bfails to reproduce\b", re.I), NOT_REPRODUCED),
    (re.compile(r"(?<!not )\breproduced\b", re.I), REPRODUCED),
    (re.compile(r"\binconclusive\b|\bcannot tell\b|\bcan't tell\b|\btoo small to tell\b", re.I), INCONCLUSIVE),
)
#: A part's verdict, as ``Claim.all_of`` writes it after the part's numbers.
PART_VERDICT = re.compile(r"\[(?:NOT REPRODUCED|REPRODUCED|INCONCLUSIVE)\]")
#: Words that state which way a comparison went.
DIRECTION = re.compile(
    r"\b(?:beats?|beat|outperform(?:s|ed)?|help(?:s|ed)?|hurts?|relieve[sd]?|improve[sd]?|wins?|won"
    r"|(?:better|worse|lower|higher|larger|smaller) than|exceeds?|reduce[sd]?)\b",
    re.I,
)
#: Sentences that only say what would happen, what is asked, or what a document says.
HEDGED = re.compile(
    r"\bcannot tell\b|\bwhether\b|\bif\b|\bwould\b|\bmay\b|\bmight\b|\bexpect|\bclaims? that\b"
    r"|\breports?\b|\b(?:found|showed|argued?) that\b|\bquestion\b|\?|“[^”]*”",
    re.I,
)
#: Pages whose job is to define the verdict words (the rule, with hypothetical worked examples).
RULE_PAGES = ("book/reproducing.html",)


# ----------------------------------------------------------------------------- claims of a build
@dataclass
class Build:
    """A built book: its HTML folder, the claim objects per chapter page, the saved paper verdicts."""

    html: Path
    claims: dict[str, list[dict[str, Any]]]  # page (relative HTML path) → its claims
    saved: dict[str, dict[str, str]] = field(default_factory=dict)
    ablations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path, saved_dir: Path | None = None) -> Build:
        folder = Path(folder).resolve()
        html = folder / "html" if (folder / "html" / "index.html").exists() else folder / "_build" / "html"
        status = json.loads((folder / "status.json").read_text())
        claims = {
            f"notebooks/{nb['name']}.html": list((nb.get("verdicts") or {}).get("claims", []))
            for nb in status["notebooks"]
        }
        # a page's ablations (claims of ours that test an explanation): their rows, prose and
        # intervals are checked like the claims', but they are not claims of the documents
        ablations = {
            f"notebooks/{nb['name']}.html": list((nb.get("verdicts") or {}).get("ablations", []))
            for nb in status["notebooks"]
        }
        import book_pages

        saved = book_pages.saved_verdicts(saved_dir or ROOT / "data" / "paper_verdicts")
        return cls(html, claims, saved, ablations)

    def all_claims(self) -> list[dict[str, Any]]:
        return [c for page in self.claims for c in self.checked(page)]

    def checked(self, page: str) -> list[dict[str, Any]]:
        """What a page's verdicts are checked against: its claims and its ablations."""
        return [*self.claims.get(page, []), *self.ablations.get(page, [])]


def normalise(text: str) -> str:
    """Letters and digits only, lower case: a claim's Markdown and its rendered text compare equal."""
    text = re.sub(r"\{[\w:-]+\}`([^`]*)`", r"\1", text)  # {term}`pcgrad` → pcgrad
    return re.sub(r"[^0-9a-zα-ωδ]+", "", text.lower())


def match_claims(text: str, claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The claim objects whose text is ``text``: equal once normalised, starting with it when the
    cell is cut short ("…", as pandas prints long strings), else the closest one by far."""
    key = normalise(text)
    if not key:
        return []
    found = [c for c in claims if normalise(c["claim"]) == key]
    if not found and text.rstrip().endswith(("...", "…")):
        found = [c for c in claims if normalise(c["claim"]).startswith(key)]
    if not found:
        scored = [(difflib.SequenceMatcher(None, key, normalise(c["claim"])).ratio(), i) for i, c in enumerate(claims)]
        best = max(scored, default=(0.0, -1))
        found = [claims[best[1]]] if best[0] >= 0.85 else []
    return found


def first_verdict(text: str) -> str | None:
    found = VERDICT_WORD.search(text.upper())
    return found.group(0) if found else None


# ----------------------------------------------------------------------------- 1. intervals
def parts(claim: dict[str, Any]) -> list[tuple[str, str]]:
    """(numbers, verdict) of each part of a claim: ``"x [REPRODUCED]; y [INCONCLUSIVE]"`` gives two,
    a claim without parts gives itself with its own verdict."""
    pieces = re.split(r"\s*\[(NOT REPRODUCED|REPRODUCED|INCONCLUSIVE)\]\s*;?\s*", claim.get("ours", ""))
    if len(pieces) == 1:
        return [(pieces[0], claim["verdict"])]
    return [(text, verdict) for text, verdict in zip(pieces[0::2], pieces[1::2]) if text.strip()]


def combined(verdicts: list[str]) -> str:
    """The verdict of a claim made of parts (``Claim.all_of``)."""
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    return REPRODUCED if verdicts and all(v == REPRODUCED for v in verdicts) else INCONCLUSIVE


def _number(text: str) -> float:
    return float(text.replace("−", "-"))


def equivalence_problem(low: float, high: float, verdict: str, side: str, bound: float) -> str | None:
    """An equivalence test's verdict against its margin: REPRODUCED needs the interval wholly on
    the allowed side of ``bound`` (``side`` "above" or "below"), NOT REPRODUCED wholly on the other."""
    inside = low > bound if side == "above" else high < bound
    outside = high < bound if side == "above" else low > bound
    expected = REPRODUCED if inside else NOT_REPRODUCED if outside else INCONCLUSIVE
    if verdict == expected:
        return None
    return (
        f"{verdict} but the interval [{low:.4g}, {high:.4g}] against the equivalence bound {bound:.4g} reads {expected}"
    )


def part_problem(text: str, verdict: str, paper: str, claim: str = "", test: str = "") -> str | None:
    """Why the numbers ``text`` do not support ``verdict`` (see the module docstring), or None;
    ``claim`` is the claim's wording, which may say that the numbers are means over seeds, and
    ``test`` its test, which may name an equivalence bound that replaces 0."""
    interval = INTERVAL.search(text)
    decisive = verdict in (REPRODUCED, NOT_REPRODUCED)
    no_interval = interval is None or interval.group(2) == "nan" or "no interval" in text
    if no_interval and CI_WORDS.search(text) and "no interval" not in text:
        return None
    if decisive and no_interval:
        sampled = SAMPLED.search(text) or SAMPLED.search(claim)
        return f"{verdict} without an interval (means only)" if sampled else None
    if interval is None or no_interval or not DIFFERENCE.search(text[: interval.end()]):
        return None
    mean, half = _number(interval.group(1)), float(interval.group(2))
    low, high = mean - half, mean + half
    bound = EQUIVALENCE_BOUND.search(test)
    if bound:
        return equivalence_problem(low, high, verdict, bound.group(1).lower(), _number(bound.group(2)))
    if verdict == REPRODUCED and low <= 0 <= high:
        return f"REPRODUCED but the interval [{low:.4g}, {high:.4g}] contains 0"
    if verdict == INCONCLUSIVE and (low > 0 or high < 0):
        return f"INCONCLUSIVE but the interval [{low:.4g}, {high:.4g}] excludes 0"
    effect = PAPER_EFFECT.search(paper or "")
    if verdict == NOT_REPRODUCED and low <= 0 <= high and effect and low <= _number(effect.group(1)) <= high:
        return f"NOT REPRODUCED but the interval [{low:.4g}, {high:.4g}] contains 0 and the paper's {effect.group(1)}"
    return None


def unsupported(claim: dict[str, Any]) -> list[str]:
    """Why a claim's verdict is not what its numbers support (empty when they do)."""
    pieces = parts(claim)
    paper, wording, test = claim.get("paper", ""), claim.get("claim", ""), claim.get("test", "")
    problems = [p for text, verdict in pieces if (p := part_problem(text, verdict, paper, wording, test))]
    if len(pieces) > 1 and combined([v for _, v in pieces]) != claim["verdict"]:
        problems.append(f"{claim['verdict']} does not follow from its parts' {[v for _, v in pieces]}")
    return problems


def unsupported_verdicts(build: Build) -> list[str]:
    """Count 1: every claim object of the build and every saved paper verdict a chapter shows."""
    out = []
    for page in build.claims:
        for claim in build.checked(page):
            out += [f"{page}: {claim['claim'][:70]}… — {why}" for why in unsupported(claim)]
            saved = build.saved.get(claim.get("id") or "")
            if saved:
                paper_claim = {**claim, "verdict": saved["verdict"], "ours": saved.get("ours", "")}
                out += [
                    f"{page} (saved paper sweep): {claim['claim'][:60]}… — {why}" for why in unsupported(paper_claim)
                ]
    return out


# ----------------------------------------------------------------------------- 2. page text
def _columns(row: dict[str, str]) -> tuple[str | None, str | None]:
    """(this build's verdict column, the saved paper sweep's verdict column) of a verdict row, by
    their headings in any order: "this build (`quick`)" or "verdict" or "verdict (quick)"; "at
    `paper` (saved sweep)" or "verdict (paper (saved))" (a table printed by ``compare_claims``)."""
    keys = list(row)
    saved = next((k for k in keys if k.startswith("at paper") or (k.startswith("verdict") and "saved" in k)), None)
    here = next((k for k in keys if k.startswith("this build")), None)
    here = here or next((k for k in keys if k.startswith("verdict") and k != saved), None)
    return here, saved


def row_problems(row: dict[str, str], claims: list[dict[str, Any]], saved: dict[str, dict[str, str]]) -> list[str]:
    """What a verdict table row shows that its claim object (and saved sweep) does not say."""
    candidates = match_claims(row.get("claim", ""), claims)
    if not candidates:
        return ["a verdict row whose claim is no claim object of the build"]
    problems = []
    here, column = _columns(row)
    shown = first_verdict(row.get(here, "")) if here else None
    claim = next((c for c in candidates if c["verdict"] == shown), candidates[0])
    if shown != claim["verdict"]:
        problems.append(f"shows {shown} where the claim object says {claim['verdict']}")
    match = saved.get(claim.get("id") or "")
    if column is not None and row[column].strip():
        if match is None:
            problems.append("shows a saved paper verdict the saved sweeps do not have")
        elif first_verdict(row[column]) != match["verdict"]:
            problems.append(
                f"shows the saved verdict {first_verdict(row[column])} where the saved sweep says {match['verdict']}"
            )
    agreement = row.get("agreement", "") or {"True": "same", "False": "differs"}.get(row.get("same verdict", ""), "")
    if agreement and match is not None:
        agrees = match["verdict"] == claim["verdict"]
        if agrees != agreement.startswith("same"):
            problems.append(f"says '{agreement[:40]}' but the verdicts are {match['verdict']} and {claim['verdict']}")
    return problems


def table_contradictions(page: str, rows: list[dict[str, str]], build: Build) -> list[str]:
    """Every verdict row of a page checked against the claim objects (its own page's, or those of the
    page its table is about, or all of them on pages that gather several chapters)."""
    out = []
    for row in rows:
        claims = build.checked(row.get("_page") or page) or build.all_claims()
        out += [f"{page}: row '{row.get('claim', '')[:60]}…' {why}" for why in row_problems(row, claims, build.saved)]
    return out


def claims_not_shown(page: str, rows: list[dict[str, str]], build: Build) -> list[str]:
    """The claims of a chapter page that no verdict table row of the page shows."""
    shown = {id(c) for row in rows for c in match_claims(row.get("claim", ""), build.claims.get(page, []))}
    return [c["claim"][:80] for c in build.claims.get(page, []) if id(c) not in shown]


def sentences(block: str) -> list[str]:
    """A block's sentences (split at '. ', '; ' and line ends)."""
    return [s.strip() for s in re.split(r"(?<=[.;!?])\s+(?=[A-Z(*])|\n+", block) if s.strip()]


def identifiers(text: str) -> set[str]:
    """The names a sentence and a claim can share: method and quantity names with a capital after
    their first letter or in capitals (PCGrad, AdaTask, rAU, MGDA, IMTL-L) and the letters of tasks
    and approaches (A–H, "task-A"; not an article "A" before a word); ordinary words, sentence
    starts and numbers do not count."""
    words = re.findall(r"[A-Za-zΔ][\w\-]*", text)
    names = {w for w in words if len(w) > 1 and (re.search(r"[A-Z]", w[1:]) or w.startswith("Δ"))}
    names = {n for n in names if not re.fullmatch(r"task-[A-H]", n, re.I)}
    letters = set(re.findall(r"(?<![\w.-])([A-H])(?![\w-])(?! [a-z])", text))
    letters |= set(re.findall(r"\b(?:task|approach)[\s-]([A-H])\b", text, re.I))
    return names | letters


def about(sentence: str, claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The claims a sentence is about: it names at least two of a claim's identifiers (or the one
    a claim has), or it quotes the claim's text."""
    words = identifiers(sentence)
    found = []
    for claim in claims:
        own = identifiers(claim["claim"])
        shared = words & own
        if normalise(claim["claim"])[:40] in normalise(sentence) or len(shared) >= min(2, len(own)) > 0:
            found.append(claim)
    return found


def states_a_rule(sentence: str) -> bool:
    """The sentence defines a claim's rule: it names more than one verdict, each as a condition's
    outcome ("REPRODUCED when …, NOT REPRODUCED when …, INCONCLUSIVE otherwise")."""
    found = [(m, verdict) for pattern, verdict in PROSE_VERDICTS for m in pattern.finditer(sentence)]
    conditional = all(
        re.match(r"\W*(?:\w+\W+){0,2}?(?:when|if|otherwise|unless|means)\b", sentence[m.end() :], re.I)
        for m, _ in found
    )
    return len({verdict for _, verdict in found}) > 1 and conditional


def sentence_problem(sentence: str, claims: list[dict[str, Any]]) -> str | None:
    """Why a sentence contradicts the claims it is about, or None."""
    concerned = about(sentence, claims)
    if not concerned:
        return None
    verdicts = {c["verdict"] for c in concerned}
    quoted = [c for c in concerned if normalise(c["claim"])[:40] in normalise(sentence)]
    if quoted:  # the claim itself, restated ("[INCONCLUSIVE] F beats B. Paper: … Ours: …"): only its label counts
        labels = {m.group(0).strip("[]") for m in PART_VERDICT.finditer(sentence)}
        labels |= {verdict for pattern, verdict in PROSE_VERDICTS if pattern.search(PART_VERDICT.sub("", sentence))}
        own = {c["verdict"] for c in quoted}
        return None if not labels or labels & own else f"labels as {sorted(labels)} claims that are {sorted(own)}"
    own_words = PART_VERDICT.sub("", sentence)  # "[REPRODUCED]" after a part is that part's own verdict
    said = [verdict for pattern, verdict in PROSE_VERDICTS if pattern.search(own_words)]
    if states_a_rule(own_words):
        return None
    if len(said) > 1:
        return f"gives several verdicts {sorted(set(said))} in one sentence"
    if said:
        return None if said[0] in verdicts else f"says {said[0]} of claims that are {sorted(verdicts)}"
    direction = DIRECTION.search(sentence)
    if direction and verdicts == {INCONCLUSIVE} and not HEDGED.search(sentence):
        return f"states a direction ('{direction.group(0)}') about claims that are all INCONCLUSIVE"
    return None


def prose_contradictions(page: str, blocks: list[str], build: Build) -> list[str]:
    """Every sentence of a page's prose (and printed text) checked against its claims."""
    if page in RULE_PAGES:
        return []
    claims = build.checked(page) or build.all_claims()
    # a page shows a claim's saved paper verdict beside this build's: a sentence may state either
    claims = claims + [{**c, "verdict": build.saved[c["id"]]["verdict"]} for c in claims if c.get("id") in build.saved]
    out = []
    for block in blocks:
        for sentence in sentences(block):
            why = sentence_problem(sentence, claims)
            if why:
                out.append(f"{page}: “{sentence[:110]}” {why}")
    return out
