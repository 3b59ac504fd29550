"""The glossary of methods (book/methods.md, written by book/_ext/mtl_methods.py at build time):
every registered method is listed and cites its paper; the bibliography names no method that
does not exist. Fast: imports the registries, builds nothing."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("mtl_methods", ROOT / "book" / "_ext" / "mtl_methods.py")
mtl_methods = importlib.util.module_from_spec(_spec)
sys.modules["mtl_methods"] = mtl_methods
_spec.loader.exec_module(mtl_methods)

#: Names that are the baseline or plain tools, not methods of a paper.
UNCITED = {"ew", "sum", "sgd", "small_cnn"}


@pytest.mark.parametrize("kind", list(mtl_methods.KINDS))
def test_every_registered_method_cites_its_paper(kind: str) -> None:
    entries = mtl_methods.entries(kind)
    assert entries, f"no {kind} registered"
    missing = [e.name for e in entries if not e.citations and e.name not in UNCITED]
    assert not missing, (
        f"{kind}s without a bibliography entry: {missing}; add one to book/references.bib with `mtlnames = {{<name>}}`"
    )


def test_bibliography_names_only_registered_methods() -> None:
    registered = {e.name for kind in mtl_methods.KINDS for e in mtl_methods.entries(kind)}
    stale = sorted(set(mtl_methods.citations_by_name()) - registered)
    assert not stale, f"book/references.bib lists mtlnames that no registry has: {stale}"


@pytest.mark.parametrize("kind", list(mtl_methods.KINDS))
def test_glossary_is_myst_without_rest_roles(kind: str) -> None:
    text = mtl_methods.glossary_markdown(kind)
    assert text.startswith(":::{glossary}") and text.endswith(":::")
    assert not re.search(r":\w+:`", text.replace("{cite:p}`", "")), "a reST role reached the glossary"
    for entry in mtl_methods.entries(kind):
        assert f"\n{entry.name}\n  **" in text


def test_roles_become_code() -> None:
    assert mtl_methods.to_myst("shared :class:`~mtl_lib.x.SegNetTrunk` and ``depth``") == (
        "shared `mtl_lib.x.SegNetTrunk` and `depth`"
    )


def test_unknown_kind_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="weighting, aggregator, optimizer, architecture"):
        mtl_methods.entries("loss")
