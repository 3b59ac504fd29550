#!/usr/bin/env python3
"""Write each text notebook ``notebooks/<name>.md`` (MyST, jupytext) as ``notebooks/<name>.ipynb``.

    python scripts/sync_notebooks.py [--check] [NOTEBOOK.md ...]     (default: notebooks/*.md)

The MyST files are the notebooks' only committed form: they diff and review like prose, and
carry no outputs, so re-executing a chapter never grows the repository. The ``.ipynb`` twins are
generated (git-ignored) for the tools that want them: papermill, nbval and the book build.
``make book``, ``make test`` and ``make notebooks`` run this first.

A twin is rewritten only when its cells or their tags differ from the text notebook, so a twin
that someone executed in Jupyter keeps its outputs while its code is current. A twin whose code
was edited *after* its text notebook is never overwritten (that would lose the edit): the script
stops and says how to keep or drop the edit.
``--check`` writes nothing and exits 1 when some twin is missing or out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
FORMAT = "md:myst"


def cell_inputs(notebook: nbformat.NotebookNode) -> list[tuple[str, str, tuple[str, ...], str]]:
    """What a notebook's author wrote: each cell's kind, source, tags and caption (no outputs, no
    execution metadata)."""
    rows = []
    for cell in notebook.cells:
        tags = tuple(cell.metadata.get("tags") or ())
        caption = repr(cell.metadata.get("mystnb"))
        rows.append((cell.cell_type, cell.source, tags, caption))
    return rows


def twin_of(text_notebook: Path) -> Path:
    return text_notebook.with_suffix(".ipynb")


def sync_one(text_notebook: Path, *, check: bool) -> str:
    """``"ok"`` (twin current), ``"written"`` (or would be, with ``check``) or ``"conflict"``."""
    source = jupytext.read(text_notebook, fmt=FORMAT)
    twin = twin_of(text_notebook)
    if twin.exists():
        existing = nbformat.read(twin, as_version=4)
        if cell_inputs(existing) == cell_inputs(source):
            return "ok"
        if twin.stat().st_mtime > text_notebook.stat().st_mtime:
            return "conflict"
    if not check:
        nbformat.write(source, twin)
    return "written"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="text notebooks (default: notebooks/*.md)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a twin is missing or stale")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.md"))
    if not paths:
        print(f"sync_notebooks: no text notebooks (*.md) in {NOTEBOOKS}", file=sys.stderr)
        return 1
    status = {path: sync_one(path, check=args.check) for path in paths}
    conflicts = [p for p, s in status.items() if s == "conflict"]
    for path in conflicts:
        twin = twin_of(path)
        print(
            f"sync_notebooks: {twin.name} was edited after {path.name}; not overwriting it. Keep the edit with "
            f"`jupytext --to {FORMAT} {twin}` (it rewrites {path.name}), or drop it with `rm {twin}`; then rerun.",
            file=sys.stderr,
        )
    written = [p.name for p, s in status.items() if s == "written"]
    if written:
        verb = "out of date" if args.check else "wrote"
        print(f"sync_notebooks: {verb}: {', '.join(twin_of(Path(n)).name for n in written)}")
    if conflicts or (args.check and written):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
