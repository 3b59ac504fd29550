"""One entry of the claims register: a claim of a source document and where the book stands on it."""

from __future__ import annotations

import re
from dataclasses import dataclass

TESTED = "tested"
UNTESTABLE = "untestable here"
NOT_YET = "not yet"
STATUSES: tuple[str, ...] = (TESTED, UNTESTABLE, NOT_YET)

#: The three source documents, by the key that starts every entry's id.
DOCUMENTS: dict[str, str] = {
    "leaf": "Alison, Jonathan & Suhartono: combining gradient conflict mitigation methods (leaf images)",
    "adatask": "Yang et al., AdaTask (AAAI 2023)",
    "survey": "Zhang: optimization strategies for multi-task learning (survey slides)",
}

_ID = re.compile(r"^[a-z0-9]+(\.[a-z0-9_]+)+$")


@dataclass(frozen=True)
class Entry:
    """``id``: stable, ``<document>.<where>.<what>`` (lower case, dots between parts); ``where``: the
    table, figure, section or slide; ``claim``: the claim in the book's words; ``status``: one of
    :data:`STATUSES`; ``chapter``: the notebook that shows it (tested) or would show it;
    ``source``/``prefix`` (tested): the study function whose claims include it,
    ``"module:function"``, or ``"notebook:<stem>"`` for a claim a notebook states itself, and the
    start of that claim's text; ``why`` (otherwise): what stands in the way."""

    id: str
    where: str
    claim: str
    status: str
    chapter: str
    source: str = ""
    prefix: str = ""
    why: str = ""

    def __post_init__(self) -> None:
        if not _ID.match(self.id) or self.document not in DOCUMENTS:
            raise ValueError(
                f"register id {self.id!r}: use '<document>.<where>.<what>' in lower case, document one of "
                f"{list(DOCUMENTS)}"
            )
        if self.status not in STATUSES:
            raise ValueError(f"{self.id}: status must be one of {STATUSES}, got {self.status!r}")
        if self.status == TESTED and not (self.source and self.prefix):
            raise ValueError(f"{self.id}: a tested claim names its source and its claim text prefix")
        if self.status != TESTED and not self.why:
            raise ValueError(f"{self.id}: a claim that is {self.status} says why")

    @property
    def document(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def found_in(self) -> str:
        """Where its claim object is: ``module:function → "prefix…"`` (empty unless tested)."""
        return f'{self.source} → "{self.prefix}…"' if self.status == TESTED else ""


def tested(id: str, where: str, claim: str, chapter: str, source: str, prefix: str) -> Entry:
    return Entry(id, where, claim, TESTED, chapter, source, prefix)


def untestable(id: str, where: str, claim: str, chapter: str, why: str) -> Entry:
    return Entry(id, where, claim, UNTESTABLE, chapter, why=why)


def not_yet(id: str, where: str, claim: str, chapter: str, why: str) -> Entry:
    return Entry(id, where, claim, NOT_YET, chapter, why=why)


__all__ = ["DOCUMENTS", "NOT_YET", "STATUSES", "TESTED", "UNTESTABLE", "Entry", "not_yet", "tested", "untestable"]
