"""The API reference page (book/api.md) is rendered by autodoc, not shown as raw reST: MyST
passes a bare ```{automodule} block's generated reST through as Markdown (issue 23: the page
read ".. py:class:: Callback() :module: mtl_lib.core"), so every autodoc directive must sit in
an ``{eval-rst}`` block. The rendered page itself is checked by tests/book/test_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "book" / "api.md"
FENCE = re.compile(r"```\{([\w-]+)\}[^\n]*\n(.*?)```", re.S)


def test_every_autodoc_directive_is_inside_eval_rst() -> None:
    text = API.read_text()
    blocks = FENCE.findall(text)
    bare = [name for name, _ in blocks if name.startswith("auto")]
    assert not bare, f"autodoc directives outside {{eval-rst}} render as raw reST: {bare}"
    modules = [m for name, body in blocks if name == "eval-rst" for m in re.findall(r"\.\. automodule:: (\S+)", body)]
    # the layers the page promises, each documented
    for package in ("core", "architectures", "weighting", "aggregators", "optim", "metrics", "diagnostics",
                    "data", "problems", "engine", "experiments"):  # fmt: skip
        assert f"mtl_lib.{package}" in modules, f"book/api.md does not document mtl_lib.{package}"
