#!/usr/bin/env python3
"""Tag the plumbing cells of the book's notebooks so that a page reads question → setup →
result → verdict, with the code one click away.

    python scripts/tag_notebooks.py [--check] [NOTEBOOK ...]     (default: the text notebooks notebooks/*.md)

Rules (applied to every code cell; idempotent, so it can be re-run after anyone adds cells):

* the ``parameters`` cell and papermill's ``injected-parameters`` cell → ``hide-cell``
  (collapsed to one "show" button; the profile they set is stated on the page anyway);
* an imports / setup cell (its first statement is an import) → ``hide-input`` (its output,
  usually the settings table, stays visible);
* the verdict report call (``report_verdicts(``) → ``remove-cell``: the build shows its table
  at the top of the page instead.

Figures get a caption (cell metadata ``mystnb.figure.caption``) from the notebook's study
(``Study.captions`` in :mod:`mtl_lib.studies.registry`), matched by a piece of the cell's code,
unless the cell already has one.

Existing tags are kept; a cell that already has a visibility tag (``remove-*``, ``hide-*``)
is left alone, so an author can override a rule by tagging the cell by hand.
``--check`` changes nothing and exits 1 if some notebook would change (for tests and CI).
The book build runs this on its executed copies too, so cells added after the last run of
this script are tagged in the book.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

VISIBILITY = (
    "remove-cell",
    "remove-input",
    "remove-output",
    "hide-cell",
    "hide-input",
    "hide-output",
)


def captions() -> dict[str, tuple[tuple[str, str], ...]]:
    """Notebook stem → its study's (piece of a figure cell's code, caption) pairs, as each study
    declares them (:attr:`mtl_lib.studies.registry.Study.captions`). Captions say what is drawn;
    what it shows is computed and stated by the notebook itself. Only cells whose one output is
    the figure: MyST-NB puts a cell's caption under every output of the cell."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from mtl_lib.studies import registry

    return {study.notebook: study.captions for study in registry.studies().values()}


def caption_for(notebook: str, cell: dict) -> str | None:
    """The caption of the first rule of ``notebook``'s study whose piece of code is in ``cell``."""
    if cell.get("cell_type") != "code":
        return None
    source = _source(cell)
    return next((caption for piece, caption in captions().get(notebook, ()) if piece in source), None)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _first_statement(source: str) -> str:
    for line in source.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped
    return ""


def wanted_tag(cell: dict) -> str | None:
    """The visibility tag a cell should get under the rules above, or ``None``."""
    if cell.get("cell_type") != "code":
        return None
    tags = cell.get("metadata", {}).get("tags", [])
    if "parameters" in tags or "injected-parameters" in tags:
        return "hide-cell"
    source = _source(cell)
    if "report_verdicts(" in source:
        return "remove-cell"
    if _first_statement(source).startswith(("import ", "from ")):
        return "hide-input"
    return None


def tag_notebook(nb: dict, notebook: str = "") -> int:
    """Add the wanted tags (and, given the notebook's stem, the figure captions) in place;
    return how many cells changed."""
    changed = 0
    for cell in nb.get("cells", []):
        caption = caption_for(notebook, cell) if notebook else None
        if caption:
            figure = cell.setdefault("metadata", {}).setdefault("mystnb", {}).setdefault("figure", {})
            if "caption" not in figure:
                figure["caption"] = caption
                changed += 1
        tag = wanted_tag(cell)
        if tag is None:
            continue
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if any(t in VISIBILITY for t in tags):
            continue
        tags.append(tag)
        changed += 1
    return changed


def tag_file(path: Path, check: bool = False) -> int:
    """Tag one notebook file: a MyST text notebook (``.md``, the committed form) or an ``.ipynb``."""
    if path.suffix == ".md":
        import jupytext  # only the text notebooks need it; the build tags executed .ipynb copies

        nb = jupytext.read(path, fmt="md:myst")
        changed = tag_notebook(nb, path.stem)
        if changed and not check:
            jupytext.write(nb, path, fmt="md:myst")
        return changed
    nb = json.loads(path.read_text())
    changed = tag_notebook(nb, path.stem)
    if changed and not check:
        # same layout as Jupyter writes (indent 1, trailing newline), so diffs stay small
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="report, change nothing, exit 1 if untagged")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    paths = args.notebooks or sorted((root / "notebooks").glob("*.md"))
    if not paths:
        print("tag_notebooks: no notebooks given or found in notebooks/", file=sys.stderr)
        return 2
    pending = 0
    for path in paths:
        if not path.exists():
            print(f"tag_notebooks: {path} does not exist", file=sys.stderr)
            return 2
        changed = tag_file(path, check=args.check)
        pending += changed
        if changed:
            print(f"{path}: {changed} cell(s) {'need tags' if args.check else 'tagged'}")
    return 1 if (args.check and pending) else 0


if __name__ == "__main__":
    sys.exit(main())
