"""Sphinx extension: the API reference's cross-references, checked strictly (the build runs ``-n``).

Two things make a docstring's reference look broken to a nitpicky build although the name is right:

* **A name the API page documents under another path.** The page documents each package's
  public names (``mtl_lib.core.OptionError``), while a docstring may name the defining module
  (``mtl_lib.core.options.OptionError``) or a short name its module sees (``MultiTaskModel``).
  :func:`resolve_library_reference` imports the name from the reference's own context (its module,
  its class, their parent packages) and, when that object is documented under any name, links there.
* **A library name the page does not document at all** (a submodule, a private helper, a type
  alias such as ``ParamsLike``, a ``TypeVar``, an attribute the class sets in ``__init__``): when
  the name imports (or the class's source assigns ``self.<name>``), it is shown as code without
  a link, which is all a reader could get.

A name that does not import from any of those places still fails the build: that is a reference
to something that does not exist (a typo, a renamed function), which ``-n`` is there to catch.

:func:`keep_attribute_prose` stops ``sphinx.ext.napoleon`` from reading the first words of an
attribute's doc comment as its type: for ``#: For the progress bar and plots: True when ...`` it
would print "For the progress bar and plots" as the attribute's type (a reference to nothing).
The library annotates every attribute, so an attribute docstring never states its type inline.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from types import FunctionType, ModuleType
from typing import Any

from docutils import nodes
from sphinx.util.nodes import make_refnode

#: The library whose names the references are resolved in.
PACKAGE = "mtl_lib"
#: A colon outside ``code`` and roles: where napoleon would split "type: description".
_CODE_OR_ROLE = re.compile(r"``.+?``|:[\w:.+-]+:`.+?`")
_SINGLE_COLON = re.compile(r"(?<!:):(?!:)")


def keep_attribute_prose(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Runs before napoleon: an attribute docstring whose first line has a colon starts with an empty
    reST comment (``..``, which renders as nothing), so napoleon's inline-type rule, which reads the
    first non-empty line only, finds no "type:" to take."""
    if what not in ("attribute", "data", "property") or not lines:
        return
    if _SINGLE_COLON.search(_CODE_OR_ROLE.sub("", lines[0])):
        lines[:0] = ["..", ""]


def import_name(dotted: str) -> tuple[bool, Any]:
    """(found, object) for a dotted name inside the library: its longest importable module, then
    attributes. Only names under :data:`PACKAGE` are imported."""
    if dotted != PACKAGE and not dotted.startswith(PACKAGE + "."):
        return False, None
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return False, None
        return True, obj
    return False, None


def candidates(target: str, module: str | None, klass: str | None) -> list[str]:
    """Full names ``target`` may mean where the reference stands: as written, in its class, in its
    module and in each package above it."""
    out = [target]
    if module:
        if klass:
            out.append(f"{module}.{klass}.{target}")
        parts = module.split(".")
        out += [".".join(parts[:cut] + [target]) for cut in range(len(parts), 0, -1)]
    return list(dict.fromkeys(out))


def find_in_submodules(target: str, module: str | None) -> tuple[bool, Any]:
    """A short name (a type alias in a signature) from a loaded submodule of the reference's
    package, e.g. ``ParamsLike`` of ``mtl_lib.optim.adatask`` for a class documented in ``mtl_lib.optim``."""
    if not module or "." in target:
        return False, None
    for name in sorted(n for n in sys.modules if n.startswith(module + ".")):
        if target in vars(sys.modules[name]):
            return True, vars(sys.modules[name])[target]
    return False, None


def instance_attribute(target: str, module: str | None, klass: str | None) -> bool:
    """Whether ``target`` is an attribute the reference's class sets on its instances
    (``self.epoch = 0`` in its source): it exists, but only on an instance, so it does not import."""
    if not (module and klass) or "." in target:
        return False
    found, cls = import_name(f"{module}.{klass}")
    if not (found and isinstance(cls, type)):
        return False
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return False
    return re.search(rf"\bself\.{re.escape(target)}\s*(?::[^=\n]+)?=(?!=)", source) is not None


def _linkable(obj: Any) -> bool:
    """Objects with an identity worth matching (not ints or strings, which many names share)."""
    return isinstance(obj, (type, ModuleType, FunctionType)) or callable(obj)


def documented_objects(env: Any) -> dict[int, tuple[str, str, str]]:
    """id(object) → (name, docname, anchor) of every class, function and module the build documents."""
    cached = getattr(env, "_mtl_documented", None)
    if cached is not None:
        return cached
    domain = env.get_domain("py")
    entries = [(name, entry.docname, entry.node_id) for name, entry in domain.objects.items()]
    entries += [(name, entry.docname, entry.node_id) for name, entry in domain.modules.items()]
    out: dict[int, tuple[str, str, str]] = {}
    for name, docname, anchor in entries:
        found, obj = import_name(name)
        if found and _linkable(obj):
            out.setdefault(id(obj), (name, docname, anchor))
    env._mtl_documented = out
    return out


def resolve_library_reference(app: Any, env: Any, node: Any, contnode: nodes.Element) -> nodes.Element | None:
    """A link to where the API page documents the object, code text when it documents it nowhere,
    or ``None`` (Sphinx warns) when the name does not exist in the library."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    module, klass = node.get("py:module"), node.get("py:class")
    for name in candidates(target, module, klass):
        found, obj = import_name(name)
        if found:
            break
    else:
        found, obj = find_in_submodules(target, module)
    if not found:
        return contnode if instance_attribute(target, module, klass) else None
    documented = documented_objects(env).get(id(obj)) if _linkable(obj) else None
    if documented is None:
        return contnode
    name, docname, anchor = documented
    return make_refnode(app.builder, node["refdoc"], docname, anchor, contnode, name)


def forget_documented(app: Any, env: Any, *args: Any) -> None:
    """A new read phase documents other objects: rebuild the index on the next lookup."""
    env._mtl_documented = None


def setup(app: Any) -> dict[str, Any]:
    # napoleon's handler has the default priority 500; this one must see the docstring first
    app.connect("autodoc-process-docstring", keep_attribute_prose, priority=400)
    app.connect("missing-reference", resolve_library_reference)
    app.connect("env-before-read-docs", forget_documented)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
