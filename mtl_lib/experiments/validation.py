"""Check every config of a sweep before the first one trains.

A typo in the tenth config of a sweep should not surface hours later, after nine runs: the
sweep calls :func:`validate_configs` first, which collects every problem of every config and
raises one :class:`ConfigError` naming each run and what to change.

Option names are checked against the factory's signature (problem builder, weighting,
aggregator, optimizer). A factory that takes ``**kwargs`` cannot be checked this way, except
when its catch-all is named ``unknown``: the project's convention for "options I reject by
name" (every problem builder in :mod:`mtl_lib.problems` does so).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.core.optimizers import OPTIMIZERS
from mtl_lib.core.registry import Registry
from mtl_lib.diagnostics import DIAGNOSTICS
from mtl_lib.experiments.config import RunConfig
from mtl_lib.problems import PROBLEMS
from mtl_lib.weighting import WEIGHTINGS

AUTOCAST = (None, "bf16")

#: Arguments the engine passes itself, never a config's option.
_SUPPLIED = {
    "problem": {"seed", "batch_size", "device"},
    "weighting": {"num_tasks"},
    "aggregator": set(),
    "optimizer": {"params", "lr"},
}


class ConfigError(ValueError):
    """One or more configs of a sweep are invalid; the message lists each run and problem."""


def _unknown_options(factory: Callable[..., Any], options: dict[str, Any], supplied: set[str]) -> list[str] | None:
    """Option names ``factory`` does not take, or ``None`` when its signature cannot tell."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return None
    catch_all = [p for p in parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    if catch_all and catch_all[0].name != "unknown":
        return None
    named = {
        name for name, p in parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }  # fmt: skip
    return sorted(set(options) - named - {"self"}) + sorted(set(options) & supplied)


def _check_ingredient(kind: str, registry: Registry, name: Any, options: Any, problems: list[str]) -> None:
    if not isinstance(name, str):
        problems.append(f"{kind} must be a registered name (a string), got {name!r}")
        return
    if name not in registry:
        problems.append(f"unknown {kind} {name!r}; valid names: {', '.join(registry.names())}")
        return
    if not isinstance(options, dict):
        problems.append(f"{kind}_kwargs must be a dict, got {type(options).__name__}")
        return
    unknown = _unknown_options(registry.get(name), options, _SUPPLIED[kind])
    if unknown:
        factory = registry.get(name)
        valid = sorted(
            n for n, p in inspect.signature(factory).parameters.items()
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
            and n not in _SUPPLIED[kind] | {"self"}
        )  # fmt: skip
        problems.append(f"{kind} {name!r} takes no option(s) {unknown}; its options: {', '.join(valid) or 'none'}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def config_problems(config: Any) -> list[str]:
    """Everything wrong with one config (empty when it is valid)."""
    if not isinstance(config, RunConfig):
        return [f"expected a RunConfig, got {type(config).__name__}"]
    problems: list[str] = []
    _check_ingredient("problem", PROBLEMS, config.problem, config.problem_kwargs, problems)
    _check_ingredient("weighting", WEIGHTINGS, config.weighting, config.weighting_kwargs, problems)
    if config.aggregator is not None:
        _check_ingredient("aggregator", AGGREGATORS, config.aggregator, config.aggregator_kwargs, problems)
    elif config.aggregator_kwargs:
        problems.append(f"aggregator_kwargs {sorted(config.aggregator_kwargs)} given without an aggregator")
    _check_ingredient("optimizer", OPTIMIZERS, config.optimizer, config.optimizer_kwargs, problems)
    if not _is_int(config.epochs) or config.epochs < 1:
        problems.append(f"epochs must be an integer >= 1, got {config.epochs!r}")
    if not _is_int(config.batch_size) or config.batch_size < 1:
        problems.append(f"batch_size must be an integer >= 1, got {config.batch_size!r}")
    if (
        isinstance(config.lr, bool)
        or not isinstance(config.lr, (int, float))
        or not math.isfinite(config.lr)
        or config.lr <= 0
    ):
        problems.append(f"lr must be a finite number > 0, got {config.lr!r}")
    if not _is_int(config.seed) or config.seed < 0:
        problems.append(f"seed must be an integer >= 0, got {config.seed!r}")
    unknown_diagnostics = sorted(set(config.diagnostics) - set(DIAGNOSTICS.names()))
    if unknown_diagnostics:
        problems.append(f"unknown diagnostics {unknown_diagnostics}; available: {', '.join(DIAGNOSTICS.names())}")
    if config.autocast not in AUTOCAST:
        problems.append(f"autocast must be one of {AUTOCAST}, got {config.autocast!r}")
    if not isinstance(config.device, str) or not (
        config.device == "auto" or config.device.split(":")[0] in ("cpu", "cuda", "mps")
    ):
        problems.append(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<i>', got {config.device!r}")
    return problems


def validate_configs(configs: Sequence[Any]) -> None:
    """Raise :class:`ConfigError` listing every invalid config (by position and run id) and what
    is wrong with it; also rejects a sweep that lists the same run twice."""
    lines = []
    seen: dict[str, int] = {}
    for index, config in enumerate(configs):
        problems = config_problems(config)
        name = f"config #{index}"
        if isinstance(config, RunConfig):
            try:
                run_id = config.run_id()
            except (TypeError, ValueError) as error:  # options that are not JSON
                problems.append(f"its options cannot be stored as JSON ({error})")
                run_id = "?"
            name += f" ({run_id})"
            if run_id in seen:
                problems.append(f"the same run as config #{seen[run_id]}: a sweep lists each run once")
            seen.setdefault(run_id, index)
        lines += [f"  {name}: {problem}" for problem in problems]
    if lines:
        raise ConfigError(f"{len(lines)} problem(s) in the sweep's configs; nothing was trained:\n" + "\n".join(lines))
