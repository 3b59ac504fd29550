"""The claims register: every claim of the three source documents, including figures and side
remarks, with where the book stands on it.

Each :class:`~.entry.Entry` has a stable id (``<document>.<where>.<what>``), the document, where
in it the claim is made, the claim in the book's words, and a status:

* ``tested`` — a chapter computes a verdict for it: the entry names the chapter (notebook), the
  study function whose claims include it (``module:function``; ``notebook:<stem>`` where the
  notebook states the claim itself) and the start of that claim's text;
* ``untestable here`` — why not (data not available offline, a GPU-size run, an explanation
  rather than a measurement, ...);
* ``not yet`` — testable, and what is missing.

One module per document (:mod:`.leaf`, :mod:`.adatask`, :mod:`.survey`); ``tests/studies/
test_claims_register.py`` checks that every tested entry's function exists and that its claims
include the entry. Usage: :func:`register` (all entries), :func:`counts` (per document and
status, for the front page), :func:`untested` (what a chapter lists as untested),
:func:`counts_sentence` (the counts in one sentence).
"""

from __future__ import annotations

import difflib

import pandas as pd

from mtl_lib.studies.claims_register import adatask, leaf, survey
from mtl_lib.studies.claims_register.entry import DOCUMENTS, NOT_YET, STATUSES, TESTED, UNTESTABLE, Entry

#: Every entry, document by document.
ENTRIES: tuple[Entry, ...] = leaf.ENTRIES + adatask.ENTRIES + survey.ENTRIES

COLUMNS = ["id", "document", "where", "claim", "status", "chapter", "found in", "why"]


def register() -> pd.DataFrame:
    """Every entry as a row: id, document, where, claim, status, chapter, found in (the study
    function and claim text of a tested entry), why (of the others)."""
    rows = [
        {
            "id": e.id,
            "document": e.document,
            "where": e.where,
            "claim": e.claim,
            "status": e.status,
            "chapter": e.chapter,
            "found in": e.found_in,
            "why": e.why,
        }
        for e in ENTRIES
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def counts() -> pd.DataFrame:
    """Per document (rows, with its full title): how many claims are tested, untestable here and
    not yet tested, and the total; a last row sums the three documents."""
    frame = register()
    table = pd.crosstab(frame["document"], frame["status"]).reindex(index=list(DOCUMENTS), columns=list(STATUSES))
    table = table.fillna(0).astype(int)
    table["total"] = table.sum(axis=1)
    table.loc["all"] = table.sum(axis=0)
    table.insert(0, "title", [*DOCUMENTS.values(), "the three documents"])
    table.index.name = "document"
    table.columns.name = None
    return table


def counts_sentence() -> str:
    """The counts in one sentence, for the front page."""
    total = counts().loc["all"]
    return (
        f"The claims register lists {total['total']} claims of the three source documents: "
        f"{total[TESTED]} tested (each with its verdict in its chapter), {total[UNTESTABLE]} untestable here "
        f"and {total[NOT_YET]} not yet tested, each with the reason."
    )


def chapters() -> list[str]:
    """The chapters (notebooks) the entries belong to."""
    return sorted({e.chapter for e in ENTRIES})


def untested(chapter: str) -> pd.DataFrame:
    """What ``chapter`` (a notebook's stem) lists as untested: its entries that are untestable here
    or not yet tested, with where, the claim, the status and why."""
    known = chapters()
    if chapter not in known:
        close = difflib.get_close_matches(chapter, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"no register entries for chapter {chapter!r}.{hint} Chapters: {', '.join(known)}")
    frame = register()
    rows = frame[(frame["chapter"] == chapter) & (frame["status"] != TESTED)]
    return rows[["id", "where", "claim", "status", "why"]].reset_index(drop=True)


__all__ = [
    "COLUMNS",
    "DOCUMENTS",
    "ENTRIES",
    "NOT_YET",
    "STATUSES",
    "TESTED",
    "UNTESTABLE",
    "Entry",
    "chapters",
    "counts",
    "counts_sentence",
    "register",
    "untested",
]
