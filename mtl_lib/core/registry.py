"""Name → factory registries, so any ingredient can be chosen by a string in a config.

Every ingredient kind (architecture, loss weighting, gradient aggregator, optimizer,
problem) owns one :class:`Registry`. ``build`` accepts either a registered name or an
already-built object, which lets notebooks pass custom objects through the same code path.

A registry also answers the questions an error message needs: the valid names, a one-line
description of each (:meth:`Registry.describe`, from its docstrings), a did-you-mean that
looks at aliases and descriptions as well as spelling (``"uncertainty"`` → ``uw``, whose
description is "UW: uncertainty weighting ..."), and the option names a factory takes
(:meth:`Registry.option_names`), so that an unknown option is refused before anything is built.
"""

from __future__ import annotations

import difflib
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

import torch

from mtl_lib.core.options import OptionError

T = TypeVar("T")

_WORD = re.compile(r"[a-z0-9]+")


class UnknownNameError(KeyError):
    """Raised when a name is not in a registry; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0])


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
#: A sentence ends at . ! ? after a lowercase letter, digit or closing bracket/quote, not after
#: an initial ("L. Liu") or an abbreviation ("et al.", "e.g.", "i.e.").
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)\]\"'][.!?])(?<!al\.)(?<!\.g\.)(?<!\.e\.)\s")


def _first_sentence(text: str | None, limit: int = 90) -> str:
    """The first sentence of a docstring's first paragraph, reST roles and literals as plain text."""
    paragraph = " ".join((text or "").strip().split("\n\n")[0].split())
    paragraph = _ROLE.sub(r"\1", paragraph).replace("``", "")
    sentence = _SENTENCE_END.split(paragraph, maxsplit=1)[0]
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


def _init_chain(factory: Callable[..., Any]) -> list[Callable[..., Any]]:
    """The ``__init__`` methods a class's keywords can reach, most derived first, up to (not
    including) ``object``'s and ``torch.nn.Module``'s, which take no options."""
    if not inspect.isclass(factory):
        return [factory]
    chain = []
    for cls in inspect.getmro(factory):
        if cls is object or cls is torch.nn.Module:
            break
        if "__init__" in vars(cls):
            chain.append(cls.__init__)
    return chain


def _init_parameters(factory: Callable[..., Any]) -> tuple[set[str], bool] | None:
    """The named parameters of ``factory`` and whether it also takes arbitrary keywords that it
    does *not* forward to a known signature. Classes whose ``__init__`` takes ``**kwargs`` are
    followed up their bases (the keywords are forwarded to ``super().__init__``). ``None`` when
    the signature cannot be read."""
    named: set[str] = set()
    for function in _init_chain(factory):
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):
            return None
        named |= {
            n for n, p in parameters.items()
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        }  # fmt: skip
        catch_all = [p.name for p in parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
        if not catch_all or catch_all[0] == "unknown":  # "unknown": the project's "options I reject by name"
            return named - {"self"}, False
        if not inspect.isclass(factory):
            return named - {"self"}, True
    return named - {"self"}, not inspect.isclass(factory)


class Registry(Generic[T]):
    """A named collection of factories for one ingredient kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._aliases: dict[str, str] = {}
        self._descriptions: dict[str, str] = {}

    def register(
        self, name: str, *, aliases: Iterable[str] = (), description: str | None = None
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@REGISTRY.register("pcgrad")`` on a class or factory function.

        ``aliases`` are other names users try (suggested, not accepted: one spelling per run
        id); ``description`` overrides the one taken from the docstrings."""
        key = name.lower()

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if key in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[key] = factory
            self._aliases.update({alias.lower(): key for alias in aliases})
            if description is not None:
                self._descriptions[key] = description
            return factory

        return decorator

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    # ----------------------------------------------------------------- descriptions
    def _docstrings(self, key: str) -> tuple[str, str]:
        factory = self._factories[key]
        module = sys.modules.get(getattr(factory, "__module__", ""), None)
        return (getattr(module, "__doc__", None) or "", getattr(factory, "__doc__", None) or "")

    def describe(self, name: str) -> str:
        """One line about a registered entry: its ``description``, else the first sentence of
        its module's docstring when the module is named after it (``weighting/uw.py`` for
        ``"uw"``), else of the factory's docstring."""
        key = self._key(name)
        if key in self._descriptions:
            return self._descriptions[key]
        module_doc, factory_doc = self._docstrings(key)
        module_name = getattr(self._factories[key], "__module__", "").rsplit(".", 1)[-1]
        if module_doc.strip() and module_name.replace("_", "") == key.replace("_", ""):
            return _first_sentence(module_doc)
        return _first_sentence(factory_doc or module_doc)

    def suggest(self, name: str) -> str | None:
        """The registered name a user probably meant by ``name``: an alias, a close spelling of
        a name or alias, else the entry whose description contains every word of ``name``."""
        query = name.lower()
        if query in self._aliases:
            return self._aliases[query]
        spellings = {**{n: n for n in self._factories}, **self._aliases}
        words = [w for w in _WORD.findall(query) if len(w) >= 3]
        described = [key for key in self.names() if words and self._mentions(key, words, exact=True)]
        if len(described) == 1:
            return described[0]
        close = difflib.get_close_matches(query, described or list(spellings), n=1, cutoff=0.0 if described else 0.6)
        if close:
            return spellings[close[0]]
        loosely = [key for key in self.names() if words and self._mentions(key, words, exact=False)]
        return loosely[0] if len(loosely) == 1 else None

    def _mentions(self, key: str, words: list[str], *, exact: bool) -> bool:
        """Whether every one of ``words`` is a word (``exact``) or a word's beginning in the
        entry's descriptions."""
        text = " ".join(_first_sentence(doc, 400) for doc in self._docstrings(key))
        vocabulary = set(_WORD.findall(f"{text} {self._descriptions.get(key, '')} {key}".lower()))
        if exact:
            return all(w in vocabulary for w in words)
        return all(any(v.startswith(w) for v in vocabulary) for w in words)

    def _key(self, name: str) -> str:
        key = name.lower()
        if key not in self._factories:
            guess = self.suggest(name)
            hint = f" Did you mean {guess!r} ({self.describe(guess)})?" if guess else ""
            raise UnknownNameError(f"Unknown {self.kind} {name!r}. Valid names: {', '.join(self.names())}.{hint}")
        return key

    def get(self, name: str) -> Callable[..., T]:
        return self._factories[self._key(name)]

    # ----------------------------------------------------------------- options
    def option_names(self, name: str, supplied: Iterable[str] = ()) -> list[str] | None:
        """The options the entry's factory takes, without those the library ``supplied`` itself
        (e.g. an optimizer's ``params``); ``None`` when its signature cannot tell."""
        found = _init_parameters(self.get(name))
        if found is None or found[1]:
            return None
        return sorted(found[0] - set(supplied))

    def option_problems(
        self, name: str, options: Iterable[str], supplied: Iterable[str] = (), *, kind: str | None = None
    ) -> list[str]:
        """What is wrong with the option names ``options`` for entry ``name`` (empty if nothing):
        unknown names, with the valid ones and a did-you-mean; options the library ``supplied``
        itself count as unknown, with a note saying so. ``kind`` overrides the registry's word
        for its entries in the message (a config field's name, say)."""
        given, supplied = set(options), set(supplied)
        valid = self.option_names(name, supplied)
        set_by_library = sorted(given & supplied)
        unknown = set_by_library if valid is None else sorted(given - set(valid))
        if not unknown:
            return []
        notes = "".join(
            f"; {u!r}: did you mean {close[0]!r}?"
            for u in unknown
            if u not in supplied and (close := difflib.get_close_matches(u, valid or [], n=1))
        )
        if set_by_library:
            notes += (
                f"; {', '.join(map(repr, set_by_library))} set by the library (a setting of its own), not an option"
            )
        listing = f"; its options: {', '.join(valid) or 'none'}" if valid is not None else ""
        return [f"{kind or self.kind} {name!r} takes no option(s) {unknown}{listing}{notes}"]

    def build(self, spec: str | T, **kwargs: Any) -> T:
        """Build from a registered name, or return ``spec`` itself if it is already an object.
        Unknown option names raise :class:`~mtl_lib.core.options.OptionError` (listing the valid
        ones) before the factory runs."""
        if isinstance(spec, str):
            problems = self.option_problems(spec, kwargs)
            if problems:
                raise OptionError("; ".join(problems))
            return self.get(spec)(**kwargs)
        if kwargs:
            raise TypeError(f"keyword arguments {sorted(kwargs)} given with an already-built {self.kind}")
        return spec
