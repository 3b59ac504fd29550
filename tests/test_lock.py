"""One locked dependency set: requirements.lock, installed by both commands and by environment.yml."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lock_tool():
    spec = importlib.util.spec_from_file_location("lock_dependencies", ROOT / "scripts" / "lock_dependencies.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_locked_package_is_pinned_exactly() -> None:
    lines = [line for line in (ROOT / "requirements.lock").read_text().splitlines() if line and not line[0] == "#"]
    assert lines, "requirements.lock is empty"
    unpinned = [line for line in lines if line.count("==") != 1]
    assert unpinned == [], f"not pinned with ==: {unpinned}"
    assert "torch==2.13.0" in lines, "the lock must pin the CPU build torch==2.13.0"


def test_lock_covers_every_declared_dependency() -> None:
    assert _lock_tool().main(["--check"]) == 0, "run scripts/lock_dependencies.py after editing pyproject.toml"


def test_the_two_commands_and_conda_install_from_the_lock() -> None:
    assert '-r "$ROOT/requirements.lock"' in (ROOT / "scripts" / "ensure_env.sh").read_text()
    assert "- -r requirements.lock" in (ROOT / "environment.yml").read_text()
