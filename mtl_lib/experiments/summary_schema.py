"""The schema every saved summary (``data/paper_verdicts/<name>.<profile>.json``) is read through.

A saved summary is committed JSON that a chapter shows: a hand edit, a merge conflict or a disk
fault must not crash the chapter with a ``KeyError`` deep in a table, nor put a negative training
time on the page. :func:`summary_problem` names the first thing wrong (``None`` when the summary
is sound); :func:`~mtl_lib.experiments.saved_summaries.read_summary` turns it into one
:class:`SavedSummaryError` line naming the file and the command that remakes it.

Required of every summary: ``name`` and ``profile`` (the file's own), ``provenance`` (an object
with a ``written_at`` string), ``claims`` when present (a list of objects with string ``id``,
``claim``, ``paper``, ``ours`` and a known ``verdict``), ``run_seconds`` when present (a finite
number ≥ 0, or an object of them) and ``runs`` when present (a whole number ≥ 0, or an object of
them). A chapter adds the keys its page reads, with their types (``required``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mtl_lib.experiments.build_status import LEGACY_VERDICTS, VERDICTS

CLAIM_FIELDS = ("id", "claim", "paper", "ours", "verdict")


class SavedSummaryError(ValueError):
    """A saved summary that cannot be shown: the message names the file, the problem and the fix."""


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {dict: "an object", list: "a list", str: "a string", int: "a whole number", float: "a number"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _numbers_problem(key: str, value: Any, ok: Any, what: str) -> str | None:
    """``value`` is one ``ok`` value or an object of them."""
    values = value.values() if isinstance(value, dict) else [value]
    bad = next((v for v in values if not ok(v)), None)
    if bad is not None or (isinstance(value, dict) and not value):
        return f"{key!r} must be {what} (or an object of them), got {bad if bad is not None else value!r}"
    return None


def _claims_problem(claims: Any) -> str | None:
    if not isinstance(claims, list):
        return f"'claims' must be a list, got {type(claims).__name__}"
    for index, claim in enumerate(claims, start=1):
        if not isinstance(claim, dict):
            return f"claim {index} is not an object"
        for field in CLAIM_FIELDS:
            if not isinstance(claim.get(field), str):
                return f"claim {index} lacks a string {field!r} (got {claim.get(field)!r})"
        if not claim["id"]:
            return f"claim {index} ({claim['claim'][:40]!r}) has an empty 'id'"
        if claim["verdict"] not in VERDICTS and claim["verdict"] not in LEGACY_VERDICTS:
            return f"claim {index} has the unknown verdict {claim['verdict']!r} (known: {', '.join(VERDICTS)})"
    ids = [c["id"] for c in claims]
    if len(set(ids)) != len(ids):
        return f"claim ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}"
    return None


def summary_problem(
    summary: Any, name: str, profile: str, required: Mapping[str, type | tuple[type, ...]] | None = None
) -> str | None:
    """The first thing wrong with ``summary`` as the saved summary ``name`` at ``profile``, or None."""
    if not isinstance(summary, dict):
        return f"the file holds {_type_name(type(summary))}, not a summary object"
    if summary.get("name") != name or summary.get("profile") != profile:
        return (
            f"it says it is {summary.get('name')!r} at {summary.get('profile')!r}, not {name!r} at {profile!r} "
            "(renamed or edited by hand?)"
        )
    provenance = summary.get("provenance")
    if not isinstance(provenance, dict) or not isinstance(provenance.get("written_at"), str):
        return "'provenance' must be an object with a 'written_at' string (where and when it was computed)"
    checks = (
        ("claims", _claims_problem),
        ("run_seconds", lambda v: _numbers_problem("run_seconds", v, _is_seconds, "a finite number of seconds ≥ 0")),
        ("runs", lambda v: _numbers_problem("runs", v, _is_count, "a whole number ≥ 0")),
    )
    for key, check in checks:
        if key in summary and (problem := check(summary[key])):
            return problem
    for key, kind in (required or {}).items():
        if key not in summary:
            return f"the key {key!r} is missing"
        value = summary[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            return f"{key!r} must be {_type_name(kind)}, got {type(value).__name__}"
    return None


__all__ = ["CLAIM_FIELDS", "SavedSummaryError", "summary_problem"]
