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

Figures get a caption (cell metadata ``mystnb.figure.caption``) from :data:`CAPTIONS`, matched
by notebook and a piece of the cell's code, unless the cell already has one.

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


#: (notebook stem, a piece of the figure cell's code, caption). Captions say what is drawn;
#: what it shows is computed and stated by the notebook itself. Only cells whose one output is
#: the figure: MyST-NB puts a cell's caption under every output of the cell.
CAPTIONS: list[tuple[str, str, str]] = [
    (
        "synthetic_regression",
        "sns.relplot(",
        "Test task-normalized RMSE per epoch for each task "
        "(columns) and method (colours): mean over seeds with its 95 % interval. Lower is better.",
    ),
    (
        "adatask_rau",
        "study.plot_noise(",
        "Increase of each task's test RMSE when Gaussian noise hits "
        "the shared parameters with the highest rAU(B), against the same noise on as many random "
        "parameters (the control); mean over noise draws.",
    ),
    (
        "adatask_rau",
        "study.plot_buckets(",
        "Share of shared parameters in each rAU(B) bucket at "
        "the end of training, per method, for all shared parameters and for each layer; mean over seeds.",
    ),
    (
        "adatask_rau",
        "study.plot_bucket_history(",
        "Share of shared parameters in each rAU(B) "
        "bucket over training (first seed), per method: the form of the paper's Fig. 2.",
    ),
    (
        "leaf_combinations",
        "plt.subplots(3, 8",
        "The first image of each (species, health) class in the data in use, titled species / health.",
    ),
    (
        "leaf_combinations",
        "study.plot_figures(",
        "Accuracy and weighted F1 of each task for "
        "approaches A–H (bars: ours, mean over folds; black ticks: the study's published values).",
    ),
    (
        "survey_pareto",
        "solutions = {",
        "Solutions found by each scalarisation, one per preference "
        "vector (colour), against the Pareto front of the Fonseca–Fleming problem (red).",
    ),
    (
        "survey_*",
        "survey.show_method(",
        "Left: the method's update direction on the fixed "
        "gradient pair. Middle and right: toy runs from several starts in parameter space and in "
        "objective space, with the Pareto set / front in red.",
    ),
]


def caption_for(notebook: str, cell: dict) -> str | None:
    if cell.get("cell_type") != "code":
        return None
    source = _source(cell)
    for stem, piece, caption in CAPTIONS:
        matches = notebook.startswith(stem[:-1]) if stem.endswith("*") else notebook == stem
        if matches and piece in source:
            return caption
    return None


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
