"""Notebooks fail fast on bad parameters (issue 9, item 6).

Three tables: (1) :func:`check_notebook_parameters` on bad and good values, each error naming
the parameter and the offending value or path; (2) every notebook calls it, with all of its
parameters, in the first code cell after the parameters cell; (3) papermill runs of notebooks
with a bad parameter stop in that cell: the error names the parameter and no later cell (so no
training) has run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mtl_lib.data import NotebookParameterError, check_notebook_parameters
from mtl_lib.data.leaf import CLASS_TABLE, HEALTH_NAMES, PLANT_FOLDERS
from mtl_lib.data.leaf import cache as leaf_cache

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


# ------------------------------------------------------------------------------ fixtures
def leaf_tree(root: Path, skip: str | None = None) -> Path:
    """A complete leaf tree (one tiny PNG per class); ``skip`` leaves one plant out."""
    from PIL import Image

    for species, health, prefix, _ in CLASS_TABLE:
        if PLANT_FOLDERS[species] == skip:
            continue
        folder = root / PLANT_FOLDERS[species] / HEALTH_NAMES[health]
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (6, 4), (1, 2, 3)).save(folder / f"{prefix}_0001.png")
    return root


def cityscapes_tree(root: Path) -> Path:
    for split in ("train", "val"):
        arrays = {
            "image": np.zeros((4, 8, 3), np.float32),
            "label_7": np.zeros((4, 8), np.float32),
            "depth": np.ones((4, 8, 1), np.float32),
        }
        for folder, array in arrays.items():
            (root / split / folder).mkdir(parents=True)
            np.save(root / split / folder / "0.npy", array)
    return root


@dataclass
class Case:
    id: str
    make: Callable[[Path], dict[str, Any]]  # tmp_path -> keyword arguments
    parameter: str | None  # None: the parameters are fine
    names: tuple[
        str, ...
    ] = ()  # besides the parameter: substrings of the message ("{tmp}" = tmp_path)


def _kw(**kwargs) -> Callable[[Path], dict[str, Any]]:
    return lambda tmp: {"profile": "smoke", **kwargs}


def _leaf(make_dir: Callable[[Path], Any]) -> Callable[[Path], dict[str, Any]]:
    return lambda tmp: {"profile": "smoke", "dataset": "leaf", "data_dir": make_dir(tmp)}


def _city(make_dir: Callable[[Path], Any]) -> Callable[[Path], dict[str, Any]]:
    return lambda tmp: {"profile": "smoke", "dataset": "cityscapes", "data_dir": make_dir(tmp)}


def _file(tmp: Path, name: str = "a-file.txt") -> Path:
    (tmp / name).write_text("x")
    return tmp / name


def _empty_dir(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


def _renamed_plants(tmp: Path) -> Path:
    root = leaf_tree(tmp / "leaves")
    (root / "Gauva (P3)").rename(root / "Guava (P3)")
    return root


def _truncated_first_sample(tmp: Path) -> Path:
    root = cityscapes_tree(tmp / "cs")
    (root / "val" / "depth" / "0.npy").write_bytes(b"\x93NUMPY")
    return root


def _cache_case(state: str) -> Callable[[Path], dict[str, Any]]:
    def make(tmp: Path) -> dict[str, Any]:
        folder = tmp / "leaf-cache"
        folder.mkdir()
        if state == "damaged":
            (folder / "leaf_chouhan2019_32px.pt").write_bytes(b"")
        elif state == "valid":
            from mtl_lib.data import load_leaf

            load_leaf(leaf_tree(tmp / "leaves"), cache_dir=folder, image_size=8, progress=False)
        leaf_cache_dir[0] = folder
        return {"profile": "smoke", "dataset": "leaf", "data_dir": "cache"}

    return make


leaf_cache_dir: list[Path | None] = [None]  # set by the "cache" cases, read by the fixture below

CUDA = torch.cuda.is_available()

CASES = [
    # --- good parameters pass
    Case("defaults", _kw(), None),
    Case("every-profile-quick", _kw(profile="quick"), None),
    Case("device-cpu", _kw(device="cpu"), None),
    Case("results-dir-new-folder", lambda tmp: {"profile": "smoke", "results_dir": str(tmp / "new" / "results")}, None),
    Case("standin-data-dir-none", _leaf(lambda tmp: None), None),
    Case("leaf-complete-tree", _leaf(lambda tmp: leaf_tree(tmp / "leaves")), None),
    Case("leaf-prepared-cache", _cache_case("valid"), None),
    Case("cityscapes-valid-tree", _city(lambda tmp: cityscapes_tree(tmp / "cs")), None),
    # --- profile
    Case("profile-unknown", _kw(profile="fast"), "profile", ("'fast'", "smoke, quick, paper")),
    Case("profile-wrong-case", _kw(profile="Smoke"), "profile", ("'Smoke'",)),
    Case("profile-empty", _kw(profile=""), "profile", ("''",)),
    Case("profile-int", _kw(profile=3), "profile", ("int",)),
    Case("profile-none", _kw(profile=None), "profile", ("NoneType",)),
    Case("profile-list", _kw(profile=["smoke"]), "profile", ("list",)),
    # --- device
    Case("device-unknown", _kw(device="gpu"), "device", ("'gpu'",)),
    Case("device-int", _kw(device=0), "device", ("int",)),
    Case("device-cuda-absent", _kw(device="cuda"), "device", ("CUDA is not available",)),
    # --- results_dir
    Case("results-dir-int", _kw(results_dir=5), "results_dir", ("int",)),
    Case("results-dir-bool", _kw(results_dir=True), "results_dir", ("bool",)),
    Case("results-dir-is-a-file", lambda tmp: {"profile": "smoke", "results_dir": str(_file(tmp))}, "results_dir", ("{tmp}/a-file.txt", "is a file")),
    # --- leaf data_dir
    Case("leaf-missing-folder", _leaf(lambda tmp: str(tmp / "nowhere")), "data_dir", ("{tmp}/nowhere", "does not exist", "data/README.md", "mtl_lib.data.leaf prepare")),
    Case("leaf-relative-missing", _leaf(lambda tmp: "no/such/leaves"), "data_dir", ("no/such/leaves", os.getcwd())),
    Case("leaf-file-not-zip", _leaf(lambda tmp: str(_file(tmp, "leaves.tar"))), "data_dir", ("{tmp}/leaves.tar", "not a .zip")),
    Case("leaf-empty-folder", _leaf(lambda tmp: str(_empty_dir(tmp))), "data_dir", ("{tmp}/empty", "no leaf images")),
    Case("leaf-missing-plant", _leaf(lambda tmp: str(leaf_tree(tmp / "leaves", skip="Bael (P4)"))), "data_dir", ("Bael (P4)", "allow_subset")),
    Case("leaf-unknown-plant", _leaf(lambda tmp: str(_renamed_plants(tmp))), "data_dir", ("Guava (P3)", "Gauva (P3)")),
    Case("leaf-data-dir-int", _leaf(lambda tmp: 5), "data_dir", ("int",)),
    Case("leaf-data-dir-empty-string", _leaf(lambda tmp: ""), "data_dir", ("empty path",)),
    Case("leaf-cache-absent", _cache_case("absent"), "data_dir", ("{tmp}/leaf-cache", "no prepared leaf cache", "prepare")),
    Case("leaf-cache-damaged", _cache_case("damaged"), "data_dir", ("{tmp}/leaf-cache/leaf_chouhan2019_32px.pt", "not usable")),
    # --- cityscapes data_dir
    Case("cityscapes-missing-folder", _city(lambda tmp: str(tmp / "nowhere")), "data_dir", ("{tmp}/nowhere", "does not exist", "data/README.md")),
    Case("cityscapes-is-a-file", _city(lambda tmp: str(_file(tmp))), "data_dir", ("{tmp}/a-file.txt", "not a folder")),
    Case("cityscapes-leaf-folder-given", _city(lambda tmp: str(leaf_tree(tmp / "leaves"))), "data_dir", ("{tmp}/leaves/train",)),
    Case("cityscapes-missing-val", _city(lambda tmp: (shutil.rmtree(cityscapes_tree(tmp / "cs") / "val"), tmp / "cs")[1]), "data_dir", ("{tmp}/cs/val",)),
    Case("cityscapes-truncated-sample", _city(lambda tmp: str(_truncated_first_sample(tmp))), "data_dir", ("{tmp}/cs/val/depth/0.npy", "cannot be read")),
    Case("cityscapes-data-dir-list", _city(lambda tmp: ["a"]), "data_dir", ("list",)),
]  # fmt: skip


@pytest.fixture
def isolated_leaf_cache(monkeypatch, tmp_path):
    """Point the default leaf cache at a temporary folder (never the checkout's data/cache)."""
    leaf_cache_dir[0] = tmp_path / "default-cache"
    monkeypatch.setattr(leaf_cache, "default_cache_dir", lambda: leaf_cache_dir[0])
    yield


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_check_notebook_parameters(case: Case, tmp_path: Path, isolated_leaf_cache) -> None:
    if case.id == "device-cuda-absent" and CUDA:
        pytest.skip("CUDA is available here")
    kwargs = case.make(tmp_path)
    if case.parameter is None:
        check_notebook_parameters(**kwargs)
        return
    with pytest.raises(NotebookParameterError) as info:
        check_notebook_parameters(**kwargs)
    message = str(info.value)
    assert info.value.parameter == case.parameter
    assert message.startswith(f"notebook parameter {case.parameter}=")
    for name in case.names:
        name = name.format(tmp=tmp_path)
        assert name in message, f"{name!r} not in:\n{message}"


# ------------------------------------------------------------------------------ every notebook checks first
def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _parameters(path: Path) -> tuple[int, list[str]]:
    cells = _cells(path)
    index = next(
        i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])
    )
    return index, re.findall(r"^(\w+)\s*=", "".join(cells[index]["source"]), re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_first_cell_after_parameters_checks_every_parameter(path: Path) -> None:
    cells = _cells(path)
    index, names = _parameters(path)
    first = next(c for c in cells[index + 1 :] if c["cell_type"] == "code")
    source = "".join(first["source"])
    assert "check_notebook_parameters(" in source, (
        f"{path.name}: the first cell after the parameters does not check them"
    )
    for name in names:
        assert f"{name}={name}" in source, f"{path.name}: parameter {name!r} is not checked"
    if "data_dir" in names:
        assert re.search(r'dataset="(leaf|cityscapes)"', source)


# ------------------------------------------------------------------------------ papermill runs
#: Kept to three (each run starts a kernel, ~5 s; ~17 s on two busy cores): the notebook that
#: used to run its whole synthetic sweep before reading data_dir, and one leaf notebook. The
#: other notebooks are covered by the static test above plus the table of direct calls.
PAPERMILL_CASES = [
    (
        "adatask_tables",
        {"data_dir": "/nonexistent/cityscapes"},
        "data_dir",
        "/nonexistent/cityscapes",
    ),
    ("adatask_tables", {"profile": "fast"}, "profile", "'fast'"),
    ("leaf_combinations", {"data_dir": "/nonexistent/leaves"}, "data_dir", "/nonexistent/leaves"),
]


@pytest.mark.parametrize(
    "notebook, parameters, parameter, shown",
    PAPERMILL_CASES,
    ids=[f"{n}-{p}" for n, _, p, _ in PAPERMILL_CASES],
)
def test_notebook_fails_in_its_check_cell(
    notebook, parameters, parameter, shown, tmp_path, monkeypatch
) -> None:
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv(
        "PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    monkeypatch.setenv("PYTHONPATH", f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setenv("MTL_RESULTS_DIR", str(tmp_path / "results"))
    out = tmp_path / f"{notebook}.ipynb"
    start = time.perf_counter()
    with pytest.raises(papermill.PapermillExecutionError) as info:
        papermill.execute_notebook(
            str(REPO / "notebooks" / f"{notebook}.ipynb"), str(out), parameters=parameters,
            kernel_name="python3", cwd=str(REPO / "notebooks"), progress_bar=False, log_output=False,
        )  # fmt: skip
    elapsed = time.perf_counter() - start
    error = info.value
    assert error.ename == "NotebookParameterError"
    assert f"notebook parameter {parameter}=" in error.evalue and shown in error.evalue
    # It stopped in the check cell: nothing after it ran (no sweep, no training).
    cells = _cells(out)
    check = next(
        i for i, c in enumerate(cells) if "check_notebook_parameters(" in "".join(c["source"])
    )
    assert any(o.get("ename") == "NotebookParameterError" for o in cells[check]["outputs"])
    assert all(
        c.get("execution_count") is None for c in cells[check + 1 :] if c["cell_type"] == "code"
    )
    print(f"{notebook} {parameters}: failed in {elapsed:.1f} s (kernel start included)")
