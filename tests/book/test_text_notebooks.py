"""The notebooks are committed as MyST text without outputs; their .ipynb twins are generated.

If a test here fails after editing a notebook in Jupyter: save the edit into the text notebook
(`jupytext --to md:myst notebooks/<name>.ipynb`), then `make notebooks`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def _load_sync():
    spec = importlib.util.spec_from_file_location("sync_notebooks", ROOT / "scripts" / "sync_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync_notebooks = _load_sync()


def _tracked(pattern: str) -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: cannot tell which files are committed")
    out = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.split()


def _toc_notebooks() -> list[str]:
    toc = (ROOT / "_toc.yml").read_text()
    return sorted(line.split("notebooks/")[1].strip() for line in toc.splitlines() if "file: notebooks/" in line)


def test_no_notebook_outputs_are_committed() -> None:
    assert _tracked("notebooks/*.ipynb") == [], "notebooks are committed as notebooks/*.md; untrack the .ipynb twins"
    with_outputs = []
    for name in _tracked("*.ipynb"):
        notebook = json.loads((ROOT / name).read_text())
        if any(cell.get("outputs") for cell in notebook.get("cells", [])):
            with_outputs.append(name)
    assert with_outputs == [], f"committed notebooks with outputs: {with_outputs}"


def test_every_chapter_is_a_text_notebook_with_a_parameters_cell() -> None:
    chapters = _toc_notebooks()
    assert chapters, "no notebook chapter in _toc.yml"
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.md")) == chapters
    for name in chapters:
        notebook = jupytext.read(NOTEBOOKS / f"{name}.md", fmt="md:myst")
        parameters = [c for c in notebook.cells if "parameters" in (c.metadata.get("tags") or [])]
        assert len(parameters) == 1, f"{name}: papermill needs exactly one cell tagged 'parameters'"
        assert "profile" in parameters[0].source, f"{name}: the parameters cell does not set the profile"


def test_no_cell_relies_on_stored_outputs() -> None:
    """Outputs are never stored, so nbval compares none: checks are assertions in the cells."""
    marked = [p.name for p in NOTEBOOKS.glob("*.md") if "NBVAL_CHECK_OUTPUT" in p.read_text()]
    assert marked == [], f"NBVAL_CHECK_OUTPUT has nothing to compare against in {marked}; assert instead"


def test_generated_twins_are_current() -> None:
    assert sync_notebooks.main(["--check"]) == 0, "run `make notebooks` to regenerate notebooks/*.ipynb"


def _text_notebook(folder: Path, code: str) -> Path:
    path = folder / "tiny.md"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(notebook, path, fmt="md:myst")
    return path


def _age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def test_sync_writes_a_missing_twin_and_rewrites_a_stale_one(tmp_path: Path) -> None:
    text = _text_notebook(tmp_path, "x = 1")
    assert sync_notebooks.main(["--check", str(text)]) == 1
    assert sync_notebooks.main([str(text)]) == 0
    twin = text.with_suffix(".ipynb")
    assert nbformat.read(twin, as_version=4).cells[0].source == "x = 1"
    _age(twin, 60)
    _text_notebook(tmp_path, "x = 2")  # the text notebook changed after its twin
    assert sync_notebooks.main([str(text)]) == 0
    assert nbformat.read(twin, as_version=4).cells[0].source == "x = 2"


def test_sync_keeps_the_outputs_of_a_twin_whose_code_is_current(tmp_path: Path) -> None:
    text = _text_notebook(tmp_path, "print(1)")
    sync_notebooks.main([str(text)])
    twin = text.with_suffix(".ipynb")
    executed = nbformat.read(twin, as_version=4)
    executed.cells[0].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nbformat.write(executed, twin)
    assert sync_notebooks.main([str(text)]) == 0
    assert nbformat.read(twin, as_version=4).cells[0].outputs, "the executed twin lost its outputs"


def test_sync_refuses_to_overwrite_a_twin_edited_after_its_text_notebook(tmp_path: Path, capsys) -> None:
    text = _text_notebook(tmp_path, "x = 1")
    sync_notebooks.main([str(text)])
    twin = text.with_suffix(".ipynb")
    edited = nbformat.read(twin, as_version=4)
    edited.cells[0].source = "x = 'edited in Jupyter'"
    _age(text, 60)
    nbformat.write(edited, twin)
    assert sync_notebooks.main([str(text)]) == 1
    assert "edited in Jupyter" in nbformat.read(twin, as_version=4).cells[0].source
    assert "jupytext --to md:myst" in capsys.readouterr().err
