"""Summaries of sweeps run at a profile the book build does not execute (``paper``).

A ``paper`` sweep takes an hour or more on a CPU, so the book build (``quick``) cannot re-run it.
Its *summary* (verdicts, tables, how many runs and how long they took) is written by the library
into ``data/paper_verdicts/<name>.<profile>.json`` (and a ``.md`` twin for people reading the
repository), committed, and shown by the chapter beside its own ``quick`` numbers, labelled with
where it came from. Nothing in such a file is typed by hand: :func:`write_summary` is called by the
code that computed the numbers, and it stamps the file with provenance (when, which commit, which
library/torch versions, which host).

Every summary is read through one schema check (:mod:`mtl_lib.experiments.summary_schema`): a
damaged file gives one error line naming it and the command that remakes it. Claims are keyed by
a stable ``id`` (never by their wording); :func:`rekey_claims` gave the summaries written before
ids existed theirs, recording that in their provenance.

``$MTL_SUMMARIES_DIR`` overrides the folder (the tests use it).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mtl_lib.experiments.store import read_json, write_json_atomic
from mtl_lib.experiments.summary_schema import SavedSummaryError, summary_problem

#: Folder of the committed summaries, relative to the book's root.
RELATIVE_DIR = Path("data", "paper_verdicts")


def summaries_dir() -> Path:
    """``$MTL_SUMMARIES_DIR`` if set, else ``data/paper_verdicts`` at the book's root (found by
    walking up from the working directory to ``_toc.yml``, then from this package's folder),
    else ``./paper_verdicts``."""
    env = os.environ.get("MTL_SUMMARIES_DIR")
    if env:
        return Path(env)
    here = Path.cwd().resolve()
    package_root = Path(__file__).resolve().parents[2]
    for folder in (here, *here.parents, package_root):
        if (folder / "_toc.yml").exists():
            return folder / RELATIVE_DIR
    return here / "paper_verdicts"


def summary_path(name: str, profile: str, folder: str | Path | None = None) -> Path:
    """Where the summary ``name`` at ``profile`` lives (``<folder>/<name>.<profile>.json``)."""
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise ValueError(f"summary name {name!r}: use a plain file stem such as 'multidigits'")
    return Path(folder or summaries_dir()) / f"{name}.{profile}.json"


def _git(start: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=start, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def provenance() -> dict[str, Any]:
    """Where and when a summary was computed: UTC time, git commit of the library's checkout and
    whether the library's files differed from it (both None outside a git checkout), versions of
    mtl_lib, torch and Python, and the host."""
    import torch

    from mtl_lib import __version__

    package = Path(__file__).resolve().parents[1]
    changes = _git(package, "status", "--porcelain", "--", str(package))
    return {
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": _git(package, "rev-parse", "HEAD") or None,
        "library_changed_since_commit": None if changes is None else bool(changes),
        "mtl_lib_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "host": platform.node(),
    }


def write_summary(
    name: str,
    profile: str,
    payload: dict[str, Any],
    markdown: str | None = None,
    folder: str | Path | None = None,
) -> Path:
    """Write ``payload`` (JSON-serialisable; non-finite floats become null and are flagged, see
    :func:`~mtl_lib.experiments.store.write_json_atomic`) with ``name``, ``profile`` and
    :func:`provenance` added, atomically, and ``markdown`` beside it; returns the JSON path."""
    path = summary_path(name, profile, folder)
    reserved = {"name", "profile", "provenance"} & set(payload)
    if reserved:
        raise ValueError(f"payload keys {sorted(reserved)} are reserved: write_summary sets them")
    write_json_atomic(path, {"name": name, "profile": profile, "provenance": provenance(), **payload})
    if markdown is not None:
        path.with_suffix(".md").write_text(markdown if markdown.endswith("\n") else markdown + "\n")
    return path


def read_summary(
    name: str,
    profile: str = "paper",
    folder: str | Path | None = None,
    *,
    command: str | None = None,
    required: Mapping[str, type | tuple[type, ...]] | None = None,
    check: Callable[[dict[str, Any]], str | None] | None = None,
) -> dict[str, Any] | None:
    """The saved summary, or None when there is none (see :func:`missing_message`). A file that is
    not valid JSON or fails :func:`~mtl_lib.experiments.summary_schema.summary_problem` (with the
    chapter's ``required`` keys, then the chapter's own ``check``, which returns a problem or
    None) raises one :class:`SavedSummaryError` line naming the file, the problem and ``command``,
    the command that remakes it."""
    path = summary_path(name, profile, folder)
    if not path.is_file():
        return None
    remake = (
        f"remake it: {command}" if command else "remake it with the command that writes it (python -m mtl_lib studies)"
    )
    try:
        summary = read_json(path)
    except json.JSONDecodeError as error:
        raise SavedSummaryError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); {remake}"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, IndexError) as error:
        raise SavedSummaryError(f"{path}: unreadable ({type(error).__name__}: {error}); {remake}") from None
    problem = summary_problem(summary, name, profile, required)
    if problem is None and check is not None:
        problem = check(summary)
    if problem:
        raise SavedSummaryError(f"{path}: {problem}; {remake}")
    return summary


def rekey_claims(path: str | Path, ids_by_text: Mapping[str, str], *, note: str) -> int:
    """Give every claim of the saved summary at ``path`` its stable ``id`` (from its text through
    ``ids_by_text``), in place, and record that in ``provenance["rekeyed"]`` (when, and ``note``);
    nothing else changes: no number is recomputed, ``written_at`` stays the original one. Claims
    that already have an id keep it; a claim whose text is not in ``ids_by_text`` is an error.
    Returns how many claims were given an id."""
    path = Path(path)
    summary = read_json(path)
    claims = summary.get("claims", [])
    unknown = [c["claim"] for c in claims if not c.get("id") and c["claim"] not in ids_by_text]
    if unknown:
        raise ValueError(f"{path}: no id for the claim(s) {unknown}: add them to the mapping")
    changed = 0
    for claim in claims:
        if not claim.get("id"):
            claim["id"] = ids_by_text[claim["claim"]]
            changed += 1
    if changed:
        stamp = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "claims": changed, "note": note}
        summary["provenance"].setdefault("rekeyed", []).append(stamp)
        write_json_atomic(path, summary)
    return changed


def rejudge_claims(
    path: str | Path, rejudge: Callable[[dict[str, Any]], dict[str, Any]], *, note: str, markdown: str | None = None
) -> list[tuple[str, str, str]]:
    """Apply today's verdict rule to a saved summary, in place: ``rejudge`` takes the summary and
    returns it with its ``claims`` recomputed from the per-seed values the file already stores (it
    must not need a run). Nothing is retrained; ``written_at`` stays the original one, and
    ``provenance["rejudged"]`` records when, ``note`` and every verdict that changed. ``markdown``
    (optional): a function's text to rewrite the ``.md`` twin with. Returns the changes as
    ``(id, old verdict, new verdict)``."""
    path = Path(path)
    summary = read_json(path)
    before = {c.get("id"): c.get("verdict") for c in summary.get("claims", [])}
    updated = rejudge(summary)
    changes = [
        (c["id"], str(before.get(c["id"])), c["verdict"])
        for c in updated["claims"]
        if before.get(c["id"]) != c["verdict"]
    ]
    stamp = {
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "note": note,
        "changed": [list(change) for change in changes],
    }
    updated.setdefault("provenance", {}).setdefault("rejudged", []).append(stamp)
    write_json_atomic(path, updated)
    if markdown is not None:
        path.with_suffix(".md").write_text(markdown)
    return changes


def refresh_claims(
    path: str | Path,
    fresh: Sequence[Mapping[str, Any]],
    *,
    note: str,
    update: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    markdown: Callable[[dict[str, Any]], str] | None = None,
) -> list[tuple[str, str, str]]:
    """Replace some claims of a saved summary by freshly computed ones, in place, matched by
    ``id`` (every fresh claim must replace one already there); ``update`` may change other keys
    of the summary (new evidence, run times). The original ``written_at`` stays, and
    ``provenance["refreshed"]`` records when, the commit of this checkout, ``note``, the ids
    replaced and every verdict that changed; ``markdown`` rewrites the ``.md`` twin from the
    updated summary. Returns the changes as ``(id, old verdict, new verdict)``."""
    path = Path(path)
    summary = read_json(path)
    by_id = {c.get("id"): i for i, c in enumerate(summary.get("claims", []))}
    unknown = [c.get("id") for c in fresh if c.get("id") not in by_id]
    if unknown:
        raise ValueError(f"{path}: no claim with id(s) {unknown} to refresh")
    changes = []
    for claim in fresh:
        old = summary["claims"][by_id[claim["id"]]]
        if old.get("verdict") != claim["verdict"]:
            changes.append((str(claim["id"]), str(old.get("verdict")), str(claim["verdict"])))
        summary["claims"][by_id[claim["id"]]] = dict(claim)
    if update is not None:
        summary = update(summary)
    now = provenance()
    stamp = {
        "at": now["written_at"],
        "commit": now["commit"],
        "library_changed_since_commit": now["library_changed_since_commit"],
        "note": note,
        "claims": [c["id"] for c in fresh],
        "changed": [list(change) for change in changes],
    }
    summary.setdefault("provenance", {}).setdefault("refreshed", []).append(stamp)
    write_json_atomic(path, summary)
    if markdown is not None:
        text = markdown(summary)
        path.with_suffix(".md").write_text(text if text.endswith("\n") else text + "\n")
    return changes


def missing_message(name: str, profile: str, command: str, folder: str | Path | None = None) -> str:
    """What to say when a chapter looks for a summary that is not there (the default folder is
    named relative to the book's root, so a rendered page shows no machine's paths)."""
    path = summary_path(name, profile, folder)
    default = folder is None and not os.environ.get("MTL_SUMMARIES_DIR")
    shown = RELATIVE_DIR / path.name if default and path.parent.parts[-2:] == RELATIVE_DIR.parts else path
    return (
        f"No saved '{profile}' summary for {name}: {shown} does not exist. "
        f"It is written by running the sweep at '{profile}': {command}"
    )


def describe(summary: dict[str, Any]) -> str:
    """One line on where a summary came from, for the page that shows it."""
    prov = summary.get("provenance", {})
    commit = (prov.get("commit") or "no git commit")[:10]
    if prov.get("library_changed_since_commit"):
        commit += " plus uncommitted library changes"
    seconds = summary.get("run_seconds")
    if isinstance(seconds, dict):
        seconds = sum(seconds.values())
    cost = f"; {seconds / 3600:.2f} run-hours of training" if isinstance(seconds, (int, float)) else ""
    rekeyed = prov.get("rekeyed") or []
    keyed = f"; claims re-keyed by id {rekeyed[-1]['at'][:10]}, nothing recomputed" if rekeyed else ""
    refreshed = prov.get("refreshed") or []
    if refreshed:
        last = refreshed[-1]
        keyed += (
            f"; {len(last.get('claims', []))} claims recomputed from a re-run probe {last['at'][:10]} "
            f"(commit {(last.get('commit') or '?')[:10]})"
        )
    rejudged = prov.get("rejudged") or []
    if rejudged:
        keyed += f"; verdicts re-judged under today's rule {rejudged[-1]['at'][:10]} from its per-seed values, nothing retrained"
    return (
        f"saved summary of the '{summary['profile']}' sweep, written {prov.get('written_at', '?')} "
        f"on host {prov.get('host', '?')} (commit {commit}, torch {prov.get('torch_version', '?')}){cost}{keyed}"
    )
