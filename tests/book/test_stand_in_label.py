"""The build status page names stand-in data once (issue 23: a label read
"stand-in (stand-in (generated))")."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("book_pages", ROOT / "scripts" / "book_pages.py")
book_pages = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("book_pages", book_pages)
_spec.loader.exec_module(book_pages)


def _run(data: str) -> SimpleNamespace:
    return SimpleNamespace(name="leaf_combinations", profile="smoke", wall_s=1.0, cpu_s=1.0,
                           finished="2026-12-03 12:00:00 UTC", executed=True, version="0", commit="abc",
                           verdicts={"data": data, "stand_in": "stand-in" in data, "claims": []})  # fmt: skip


def test_status_page_says_stand_in_once() -> None:
    build = {"finished": "now", "profile": "smoke", "cores": 2, "jobs": 1, "threads": 1, "workers": 1,
             "execute_s": 1.0, "version": "0", "commit": "abc"}  # fmt: skip
    page = book_pages.status_markdown([_run("stand-in (generated)")], build)
    assert "**stand-in** (generated)" in page
    assert page.count("stand-in") == 1
    other = book_pages.status_markdown([_run("synthetic regression; leaf images: generated stand-in")], build)
    assert "generated **stand-in**" in other
