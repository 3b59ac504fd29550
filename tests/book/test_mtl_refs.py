"""book/_ext/mtl_refs.py: under ``-n`` a reference to a library name that exists never warns (it
links to where the page documents the object, or shows as code), one to a name that does not
exist still does, and napoleon never prints an attribute's prose as its type. A tiny Sphinx
project is built (HTML builder, a few seconds)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import mtl_refs  # noqa: E402

PAGE = """\
API
===

.. py:class:: mtl_lib.core.MultiTaskModel

.. py:function:: demo()

   Linked where documented: :class:`mtl_lib.core.model.MultiTaskModel`.
   Shown as code, documented nowhere: :mod:`mtl_lib.core.options`, :func:`mtl_lib.core.registry.Registry`.
   Broken on purpose: :func:`mtl_lib.core.no_such_function`.

.. autoattribute:: mtl_lib.core.Task.higher_is_better
"""


def _build(tmp_path: Path) -> tuple[str, str]:
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        "extensions = ['sphinx.ext.autodoc', 'sphinx.ext.napoleon', 'mtl_refs']\n"
        "nitpicky = True\nnapoleon_google_docstring = True\n"
        "nitpick_ignore_regex = [('py:.*', 'collections.*')]\n"
    )
    (src / "index.rst").write_text(PAGE)
    warnings = io.StringIO()
    app = Sphinx(str(src), str(src), str(tmp_path / "out"), str(tmp_path / "doctrees"), "html",
                 status=None, warning=warnings, freshenv=True)  # fmt: skip
    app.build()
    return warnings.getvalue(), (tmp_path / "out" / "index.html").read_text()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[str, str]:
    return _build(tmp_path_factory.mktemp("mtl_refs"))


def test_only_the_name_that_does_not_exist_warns(built) -> None:
    warnings, _ = built
    missing = [line for line in warnings.splitlines() if "reference target not found" in line]
    assert len(missing) == 1 and "mtl_lib.core.no_such_function" in missing[0], warnings


def test_an_attribute_comment_is_not_read_as_its_type(built) -> None:
    warnings, text = built
    assert "For the progress bar and plots" not in warnings
    assert "For the progress bar and plots: True when" in text  # the prose survives, colon and all


def test_a_name_documented_under_another_path_links_there(built) -> None:
    _, html = built
    assert 'class="reference internal" href="#mtl_lib.core.MultiTaskModel"' in html
    assert "mtl_lib.core.options</span></code>" in html  # documented nowhere: code, no link


def test_candidates_walk_from_the_class_up_the_packages() -> None:
    assert mtl_refs.candidates("epoch", "mtl_lib.engine", "Trainer") == [
        "epoch", "mtl_lib.engine.Trainer.epoch", "mtl_lib.engine.epoch", "mtl_lib.epoch",
    ]  # fmt: skip


def test_only_library_names_are_imported() -> None:
    assert mtl_refs.import_name("os.path") == (False, None)
    assert mtl_refs.import_name("mtl_lib.core.no_such_name") == (False, None)
    found, obj = mtl_refs.import_name("mtl_lib.core.options.OptionError")
    assert found and obj.__name__ == "OptionError"


def test_instance_attributes_are_found_in_the_class_source() -> None:
    assert mtl_refs.instance_attribute("epoch", "mtl_lib.engine", "Trainer")
    assert not mtl_refs.instance_attribute("no_such_attribute", "mtl_lib.engine", "Trainer")
