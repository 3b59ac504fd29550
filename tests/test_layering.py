"""The package's import graph points one way: core → ingredients → problems/engine →
experiments → studies. A test, so that a cycle cannot come back by accident."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import mtl_lib

PACKAGE_ROOT = Path(mtl_lib.__file__).parent

#: What each package may import from ``mtl_lib`` besides itself.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "metrics": {"core"},
    "data": {"core"},
    "architectures": {"core"},
    "weighting": {"core"},
    "aggregators": {"core"},
    "optim": {"core"},
    "diagnostics": {"core"},
    "problems": {"core", "metrics", "data", "architectures"},
    "engine": {"core", "architectures", "weighting", "aggregators", "optim"},
    "experiments": {
        "core", "metrics", "data", "architectures", "weighting", "aggregators", "optim",
        "diagnostics", "problems", "engine",
    },
    "studies": {
        "core", "metrics", "data", "architectures", "weighting", "aggregators", "optim",
        "diagnostics", "problems", "engine", "experiments",
    },
}  # fmt: skip

#: Top-level modules of ``mtl_lib`` (not packages) and what they may import: the command line
#: is the top layer, above the studies.
TOP_LEVEL: dict[str, set[str]] = {
    "cli": set(ALLOWED) | {"studies"},
    "__main__": {"cli"},
}


def _packages() -> list[str]:
    return sorted(p.name for p in PACKAGE_ROOT.iterdir() if (p / "__init__.py").exists())


def _imported_packages(path: Path) -> set[str]:
    """Sub-packages of mtl_lib that a module imports (top-level ``mtl_lib`` counts as 'mtl_lib')."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "mtl_lib":
                names = [f"mtl_lib.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "mtl_lib":
                found.add(parts[1] if len(parts) > 1 else "mtl_lib")
    return found


def test_every_package_has_a_declared_layer() -> None:
    assert set(_packages()) == set(ALLOWED), "declare the new package's layer in ALLOWED"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_lower_layers(package: str) -> None:
    violations = []
    for module in sorted((PACKAGE_ROOT / package).rglob("*.py")):
        for imported in _imported_packages(module) - {package}:
            if imported == "__version__":
                continue
            if imported not in ALLOWED[package]:
                violations.append(f"{module.relative_to(PACKAGE_ROOT)} imports mtl_lib.{imported}")
    assert not violations, "layering broken:\n" + "\n".join(violations)


def test_every_top_level_module_has_a_declared_layer() -> None:
    modules = {p.stem for p in PACKAGE_ROOT.glob("*.py")} - {"__init__"}
    assert modules == set(TOP_LEVEL), "declare the new top-level module's imports in TOP_LEVEL"


@pytest.mark.parametrize("module", sorted(TOP_LEVEL))
def test_top_level_module_imports_only_declared_layers(module: str) -> None:
    imported = _imported_packages(PACKAGE_ROOT / f"{module}.py") - {"__version__"}
    assert imported <= TOP_LEVEL[module], f"mtl_lib/{module}.py imports {sorted(imported - TOP_LEVEL[module])}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_alone_in_a_fresh_interpreter(package: str) -> None:
    """Importing any package first must work (no cycle that only import order hides)."""
    result = subprocess.run(
        [sys.executable, "-c", f"import importlib; importlib.import_module('mtl_lib.{package}')"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_exports_its_public_names(package: str) -> None:
    module = __import__(f"mtl_lib.{package}", fromlist=["__all__"])
    exported = getattr(module, "__all__", None)
    assert exported, f"mtl_lib.{package} declares no __all__"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"mtl_lib.{package}.__all__ names missing attributes: {missing}"
