"""Summaries of sweeps run at a profile the book build does not execute (``paper``).

A ``paper`` sweep takes an hour or more on a CPU, so the book build (``quick``) cannot re-run it.
Its *summary* (verdicts, tables, how many runs and how long they took) is written by the library
into ``data/paper_verdicts/<name>.<profile>.json`` (and a ``.md`` twin for people reading the
repository), committed, and shown by the chapter beside its own ``quick`` numbers, labelled with
where it came from. Nothing in such a file is typed by hand: :func:`write_summary` is called by the
code that computed the numbers, and it stamps the file with provenance (when, which commit, which
library/torch versions, which host).

``$MTL_SUMMARIES_DIR`` overrides the folder (the tests use it).
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mtl_lib.experiments.store import read_json, write_json_atomic

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


def read_summary(name: str, profile: str = "paper", folder: str | Path | None = None) -> dict[str, Any] | None:
    """The saved summary, or None when there is none (see :func:`missing_message`)."""
    path = summary_path(name, profile, folder)
    if not path.is_file():
        return None
    summary = read_json(path)
    if summary.get("name") != name or summary.get("profile") != profile:
        raise ValueError(
            f"{path} says it is {summary.get('name')!r} at {summary.get('profile')!r}, not {name!r} at "
            f"{profile!r}: the file was renamed or edited by hand; re-create it with the command that writes it"
        )
    return summary


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
    return (
        f"saved summary of the '{summary['profile']}' sweep, written {prov.get('written_at', '?')} "
        f"on host {prov.get('host', '?')} (commit {commit}, torch {prov.get('torch_version', '?')}){cost}"
    )
