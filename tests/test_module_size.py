"""No module of the library, its scripts or benchmarks grows past 450 lines: a longer one mixes
concerns and is split along its seams (function complexity is capped by ruff's C901 at 15)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 450


def test_no_module_is_longer_than_the_limit() -> None:
    long = {}
    for folder in ("mtl_lib", "scripts", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                long[path.relative_to(ROOT).as_posix()] = lines
    assert long == {}, f"modules over {MAX_LINES} lines (split them along their seams): {long}"
