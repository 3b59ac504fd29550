"""Validation of a method's options at construction, shared by every aggregator and weighting.

Two layers:

* **Automatic, from the type hints** (:func:`check_annotated_options`, run by the aggregator and
  weighting base classes before a method's ``__init__``): an option hinted ``float`` must be a
  finite real number (NaN and ±inf are refused; an int is fine), ``int`` an integer (a float
  such as 2.5, or a bool, is refused), ``bool`` a bool, ``Sequence[float]`` / ``torch.Tensor``
  finite entries only. A new method gets this for free by annotating its ``__init__``. A method
  whose option may be infinite on purpose (Nash-MTL's ``max_norm = inf``: no clipping) lists it
  in ``infinite_options``.
* **Explicit ranges** inside a method's ``__init__`` with the helpers below
  (:func:`require_positive`, :func:`require_in_range`, :func:`require_integer`, ...), each
  error naming the method, the option, the value and the valid range.

Every error is an :class:`OptionError` (a ``ValueError``).
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import torch


class OptionError(ValueError):
    """A method option has a wrong type or value; the message names the method and the option."""


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _fail(owner: str, name: str, requirement: str, value: Any) -> OptionError:
    return OptionError(f"{owner}: option {name!r} must be {requirement}, got {_describe(value)}")


def require_real(owner: str, name: str, value: Any, *, allow_infinite: bool = False) -> float:
    """``value`` as a float: a real number (not a bool), finite unless ``allow_infinite``
    (NaN is always refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(owner, name, "a real number", value)
    number = float(value)
    if math.isnan(number) or (math.isinf(number) and not allow_infinite):
        raise _fail(owner, name, "a finite number", value)
    return number


def require_positive(owner: str, name: str, value: Any) -> float:
    """A finite number > 0."""
    number = require_real(owner, name, value)
    if number <= 0:
        raise _fail(owner, name, "positive (> 0)", value)
    return number


def require_non_negative(owner: str, name: str, value: Any, *, allow_infinite: bool = False) -> float:
    """A number ≥ 0 (finite unless ``allow_infinite``)."""
    number = require_real(owner, name, value, allow_infinite=allow_infinite)
    if number < 0:
        raise _fail(owner, name, "non-negative (>= 0)", value)
    return number


def require_in_range(
    owner: str, name: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """A finite number in [low, high] (an open end when ``low_open`` / ``high_open``)."""
    number = require_real(owner, name, value)
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if too_low or too_high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise _fail(owner, name, f"in {interval}", value)
    return number


def require_integer(owner: str, name: str, value: Any, *, minimum: int | None = None) -> int:
    """An integer (not a bool, not a float even if integral: 2.0 usually means a typo'd config),
    at least ``minimum`` when given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        hint = f" (e.g. {name}={round(value)})" if isinstance(value, float) and math.isfinite(value) else ""
        raise OptionError(f"{owner}: option {name!r} must be an integer, got {_describe(value)}{hint}")
    if minimum is not None and value < minimum:
        raise _fail(owner, name, f"an integer >= {minimum}", value)
    return int(value)


def require_finite_values(owner: str, name: str, values: Any) -> None:
    """Every entry of a sequence or tensor is a finite real number."""
    if isinstance(values, torch.Tensor):
        if values.is_floating_point() and not bool(torch.isfinite(values).all()):
            raise OptionError(f"{owner}: option {name!r} must hold finite numbers, got {values.tolist()}")
        return
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise _fail(owner, name, "a sequence of numbers", values)
    entries = list(values)
    for entry in entries:
        if isinstance(entry, bool) or not isinstance(entry, numbers.Real) or not math.isfinite(float(entry)):
            raise OptionError(f"{owner}: option {name!r} must hold finite real numbers, got {entries}")


def require_choice(owner: str, name: str, value: Any, choices: Iterable[str]) -> str:
    """One of ``choices``, with a did-you-mean when the value is close to one."""
    import difflib

    options = list(choices)
    if value in options:
        return value
    close = difflib.get_close_matches(str(value), options, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise OptionError(f"{owner}: option {name!r} must be one of {options}, got {value!r}{hint}")


# ----------------------------------------------------------------------------- from type hints
def _components(annotation: Any) -> set[str]:
    """The parts of a (string) annotation's union: ``"float | None"`` → {"float", "None"}."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return {part.strip() for part in text.split("|")}


def _check_one(owner: str, name: str, value: Any, parts: set[str], allow_infinite: bool) -> None:
    if value is None and "None" in parts:
        return
    sequence_hint = any(part.startswith(("Sequence[float]", "list[float]", "tuple[float")) for part in parts)
    if isinstance(value, torch.Tensor) and ("torch.Tensor" in parts or sequence_hint):
        require_finite_values(owner, name, value)
    elif sequence_hint and not isinstance(value, (numbers.Real, str)):
        require_finite_values(owner, name, value)
    elif "float" in parts:
        require_real(owner, name, value, allow_infinite=allow_infinite)
    elif "int" in parts:
        require_integer(owner, name, value)
    elif parts == {"bool"} and not isinstance(value, bool):
        raise _fail(owner, name, "True or False", value)


def check_annotated_options(
    owner: str,
    init: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    allow_infinite: Iterable[str] = (),
) -> None:
    """Check the arguments of ``init(self, *args, **kwargs)`` against its type hints (see the
    module's docstring). Unknown or missing arguments are left to Python's own error."""
    signature = inspect.signature(init)
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError:
        return
    infinite = set(allow_infinite)
    for name, value in list(bound.arguments.items())[1:]:
        parameter = signature.parameters[name]
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.annotation is inspect.Parameter.empty:
            continue
        _check_one(owner, name, value, _components(parameter.annotation), name in infinite)


def validating_init(cls: type) -> None:
    """Wrap ``cls.__init__`` (when ``cls`` defines its own) so that its annotated options are
    checked before it runs; used by the base classes' ``__init_subclass__``."""
    init = cls.__dict__.get("__init__")
    if init is None or getattr(init, "__validates_options__", False):
        return

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        check_annotated_options(
            type(self).__name__, init, args, kwargs, allow_infinite=getattr(self, "infinite_options", ())
        )
        init(self, *args, **kwargs)

    __init__.__validates_options__ = True  # type: ignore[attr-defined]
    __init__.__wrapped__ = init  # type: ignore[attr-defined]  # inspect.signature sees the real one
    __init__.__doc__ = init.__doc__
    cls.__init__ = __init__  # type: ignore[misc]
