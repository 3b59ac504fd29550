"""Sphinx extension: the book's glossary of methods, written from the library's registries.

``book/methods.md`` holds one directive per ingredient kind::

    ```{mtl-methods} aggregator
    ```

which expands, at build time, into a MyST ``{glossary}``: one term per registry name (the string a
config uses, e.g. ``pcgrad``), with the method's name (the head of its module's docstring), the
first sentence of its class docstring, the module that implements it, and a citation of every
``book/references.bib`` entry whose ``mtlnames`` field lists the name. Nothing on the page is
typed by hand, so a newly registered method appears on the next build; a method with no
bibliography entry is listed as uncited (and ``tests/book/test_methods_glossary.py`` fails for
the kinds where every member must cite its paper). Other pages link a name with ``{term}`pcgrad```.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: kind (the directive's argument) → (package that owns the registry, the registry's name in it).
KINDS: dict[str, tuple[str, str]] = {
    "weighting": ("mtl_lib.weighting", "WEIGHTINGS"),
    "aggregator": ("mtl_lib.aggregators", "AGGREGATORS"),
    "optimizer": ("mtl_lib.optim", "OPTIMIZERS"),
    "architecture": ("mtl_lib.architectures", "ARCHITECTURES"),
}
BIB = Path(__file__).resolve().parents[1] / "references.bib"
_ROLE = re.compile(r":(?:\w+:)*\w+:`~?([^`<]+?)(?:\s*<[^>]+>)?`")  # :class:`~a.B` → `a.B`
_ENTRY = re.compile(r"@\w+\{([^,\s]+),(.*?)\n\}", re.S)
_NAMES = re.compile(r"mtlnames\s*=\s*\{([^}]*)\}", re.I)


@dataclass(frozen=True)
class MethodEntry:
    """One registry name as the glossary shows it."""

    name: str  # the registry name
    kind: str
    method: str  # the method's own name, e.g. "PCGrad"
    summary: str  # first sentence of the class (or factory) docstring, in MyST
    module: str  # where it is documented (its package) or implemented
    citations: tuple[str, ...]  # bibliography keys
    documented: bool = False  # listed in the API reference (its package exports it)


def citations_by_name(bib: Path = BIB) -> dict[str, tuple[str, ...]]:
    """Registry name → the keys of every bibliography entry whose ``mtlnames`` lists it."""
    out: dict[str, list[str]] = {}
    for key, body in _ENTRY.findall(bib.read_text(encoding="utf-8")):
        match = _NAMES.search(body)
        for name in match.group(1).split(",") if match else []:
            out.setdefault(name.strip().lower(), []).append(key)
    return {name: tuple(keys) for name, keys in out.items()}


def to_myst(text: str) -> str:
    """reST inline markup of a docstring line as MyST: roles become inline code."""
    return _ROLE.sub(lambda m: f"`{m.group(1)}`", text).replace("``", "`")


def _first_sentence(doc: str) -> str:
    """The docstring's first sentence (up to a full stop before a capital, or the paragraph's end)."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    match = re.match(r"(.+?[.;:])(?=\s+[A-Z(]|$)", paragraph)
    sentence = (match.group(1) if match else paragraph).rstrip(";:")
    return sentence if not sentence or sentence.endswith(".") else sentence + "."


def _method_name(factory: Any, shared_module: bool) -> str:
    """The method's name as its module's docstring starts ("PCGrad (Yu et al. …" → "PCGrad"), or
    the class name where the module is not the method's own (a base module, torch, a module that
    registers several names)."""
    module = importlib.import_module(factory.__module__)
    own = factory.__module__.startswith("mtl_lib.") and not factory.__module__.endswith(".base")
    own = own and not shared_module
    head = re.split(r":|\s\(", (module.__doc__ or "").strip(), maxsplit=1)[0].strip()
    return head if own and head and len(head) <= 48 and "\n" not in head else factory.__name__


def entries(kind: str, bib: Path = BIB) -> list[MethodEntry]:
    """Every name of one registry, in alphabetical order."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} for mtl-methods: expected one of {', '.join(KINDS)}")
    package, attribute = KINDS[kind]
    registry = getattr(importlib.import_module(package), attribute)
    cited = citations_by_name(bib)
    modules = [registry.get(name).__module__ for name in registry.names()]
    out = []
    for name in registry.names():
        factory = registry.get(name)
        summary = to_myst(_first_sentence(inspect.getdoc(factory) or "")) or "(no docstring)"
        shared = modules.count(factory.__module__) > 1
        # the path the API reference documents it under: its package's, when the package exports it
        exported = factory.__name__ in getattr(importlib.import_module(package), "__all__", ())
        where = f"{package}.{factory.__name__}" if exported else f"{factory.__module__}.{factory.__name__}"
        out.append(
            MethodEntry(name, kind, _method_name(factory, shared), summary, where, cited.get(name, ()), exported)
        )
    return out


def glossary_markdown(kind: str, bib: Path = BIB) -> str:
    """The MyST ``{glossary}`` block for one registry."""
    lines = [":::{glossary}"]
    for entry in entries(kind, bib):
        paper = f" {{cite:p}}`{','.join(entry.citations)}`" if entry.citations else " (no paper cited)"
        # what the API reference documents is linked to it; the rest (torch's, factories) only named
        where = f"{{py:obj}}`{entry.module}`" if entry.documented else f"`{entry.module}`"
        lines += [entry.name, f"  **{entry.method}** ({where}). {entry.summary}{paper}", ""]
    return "\n".join([*lines[:-1], ":::"])


def setup(app: Any) -> dict[str, Any]:
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    class MethodsDirective(SphinxDirective):
        """``{mtl-methods} KIND``: the glossary of one registry."""

        required_arguments = 1
        has_content = False

        def run(self) -> list[nodes.Node]:
            container = nodes.container()
            text = glossary_markdown(self.arguments[0])
            self.state.nested_parse(StringList(text.splitlines(), source=self.get_source_info()[0]),
                                    self.content_offset, container)  # fmt: skip
            return container.children

    app.add_directive("mtl-methods", MethodsDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
