"""Name → factory registries, so any ingredient can be chosen by a string in a config.

Every ingredient kind (architecture, loss weighting, gradient aggregator, optimizer,
problem) owns one :class:`Registry`. ``build`` accepts either a registered name or an
already-built object, which lets notebooks pass custom objects through the same code path.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised when a name is not in a registry; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0])


class Registry(Generic[T]):
    """A named collection of factories for one ingredient kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@REGISTRY.register("pcgrad")`` on a class or factory function."""
        key = name.lower()

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if key in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[key] = factory
            return factory

        return decorator

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> Callable[..., T]:
        key = name.lower()
        if key not in self._factories:
            close = difflib.get_close_matches(key, self._factories, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(f"Unknown {self.kind} {name!r}. Valid names: {', '.join(self.names())}.{hint}")
        return self._factories[key]

    def build(self, spec: str | T, **kwargs: Any) -> T:
        """Build from a registered name, or return ``spec`` itself if it is already an object."""
        if isinstance(spec, str):
            return self.get(spec)(**kwargs)
        if kwargs:
            raise TypeError(f"keyword arguments {sorted(kwargs)} given with an already-built {self.kind}")
        return spec
