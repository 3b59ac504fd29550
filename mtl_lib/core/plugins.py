"""The one plugin mechanism: a registry-owning package imports every module inside it.

A method registers itself with ``@REGISTRY.register(name)`` at import time, so importing its
package must import each of its modules. Every ingredient package (and ``problems``) calls
:func:`import_submodules` at the end of its ``__init__``; adding a method is adding a file.
Modules whose name starts with ``_`` and the package's ``base`` module are skipped (they hold
helpers and the registry itself, imported explicitly).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from types import ModuleType


def import_submodules(package: str, path: Iterable[str]) -> list[ModuleType]:
    """Import every public module of ``package`` (``path`` is the package's ``__path__``)."""
    modules = []
    for info in sorted(pkgutil.iter_modules(list(path)), key=lambda m: m.name):
        if not info.name.startswith("_") and info.name != "base":
            modules.append(importlib.import_module(f"{package}.{info.name}"))
    return modules
