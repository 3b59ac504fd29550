"""Check configs before anything trains: one run (:func:`validate_run_config`, which
:func:`~mtl_lib.experiments.run` calls first) or every config of a sweep
(:func:`validate_configs`).

A typo in the tenth config of a sweep should not surface hours later, after nine runs: every
problem of every config is collected and raised as one :class:`ConfigError` naming each run and
what to change — unknown names with the valid ones and a did-you-mean that reads the
registries' descriptions (``weighting="uncertainty"`` → ``'uw'``), option names of every
ingredient (problem, weighting, aggregator, optimizer, architecture) against the factory's
signature, and the ranges of epochs, batch size, learning rate and seed.

Option names are checked against the factory's signature (see
:meth:`~mtl_lib.core.registry.Registry.option_names`: a class forwarding ``**kwargs`` to its base
is followed up the base classes). A factory that takes ``**kwargs`` for itself cannot be checked
this way, except when its catch-all is named ``unknown``: the project's convention for "options
I reject by name" (every problem builder in :mod:`mtl_lib.problems` does so). The checks that
need the built model and data (model interface, loss shapes, dtypes) are the trainer's
(:mod:`mtl_lib.engine.validation`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.architectures import ARCHITECTURES
from mtl_lib.core.errors import UsageError
from mtl_lib.core.optimizers import OPTIMIZERS
from mtl_lib.core.registry import Registry
from mtl_lib.diagnostics import DIAGNOSTICS
from mtl_lib.engine.validation import check_device
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
    "architecture": {"base"},
}


class ConfigError(UsageError):
    """One or more configs are invalid; the message lists each run and problem."""


def unknown_name_message(kind: str, registry: Registry, name: str) -> str:
    """``unknown <kind> 'x'; valid names: ...; did you mean 'y' (what y is)?``"""
    guess = registry.suggest(name)
    hint = f"; did you mean {guess!r} ({registry.describe(guess)})?" if guess else ""
    return f"unknown {kind} {name!r}; valid names: {', '.join(registry.names())}{hint}"


def _check_ingredient(kind: str, registry: Registry, name: Any, options: Any, problems: list[str]) -> None:
    if not isinstance(name, str):
        problems.append(f"{kind} must be a registered name (a string), got {name!r}")
        return
    if name not in registry:
        problems.append(unknown_name_message(kind, registry, name))
        return
    if not isinstance(options, dict):
        problems.append(f"{kind}_kwargs must be a dict, got {type(options).__name__}")
        return
    problems += registry.option_problems(name, options, _SUPPLIED[kind], kind=kind)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ingredient_problems(config: RunConfig) -> list[str]:
    problems: list[str] = []
    _check_ingredient("problem", PROBLEMS, config.problem, config.problem_kwargs, problems)
    _check_ingredient("weighting", WEIGHTINGS, config.weighting, config.weighting_kwargs, problems)
    if config.aggregator is not None:
        _check_ingredient("aggregator", AGGREGATORS, config.aggregator, config.aggregator_kwargs, problems)
    elif config.aggregator_kwargs:
        problems.append(f"aggregator_kwargs {sorted(config.aggregator_kwargs)} given without an aggregator")
    _check_ingredient("optimizer", OPTIMIZERS, config.optimizer, config.optimizer_kwargs, problems)
    if config.architecture is not None:
        _check_ingredient("architecture", ARCHITECTURES, config.architecture, config.architecture_kwargs, problems)
    elif config.architecture_kwargs:
        problems.append(f"architecture_kwargs {sorted(config.architecture_kwargs)} given without an architecture")
    unknown_diagnostics = sorted(set(config.diagnostics) - set(DIAGNOSTICS.names()))
    if unknown_diagnostics:
        problems.append(f"unknown diagnostics {unknown_diagnostics}; available: {', '.join(DIAGNOSTICS.names())}")
    return problems


def _range_problems(config: RunConfig) -> list[str]:
    problems: list[str] = []
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
    if config.autocast not in AUTOCAST:
        problems.append(f"autocast must be one of {AUTOCAST}, got {config.autocast!r}")
    if not isinstance(config.device, str) or not (
        config.device == "auto" or config.device.split(":")[0] in ("cpu", "cuda", "mps")
    ):
        problems.append(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<i>', got {config.device!r}")
    if config.label is not None and not isinstance(config.label, str):
        problems.append(f"label must be a string or None, got {config.label!r}")
    return problems


def config_problems(config: Any) -> list[str]:
    """Everything wrong with one config (empty when it is valid). Machine-independent: a config
    for ``device="cuda"`` is valid here even on a CPU-only machine (a sweep may hand it to a
    cluster); :func:`validate_run_config` checks the device on the machine that trains."""
    if not isinstance(config, RunConfig):
        return [f"expected a RunConfig, got {type(config).__name__}"]
    return _ingredient_problems(config) + _range_problems(config)


def validate_run_config(config: Any) -> None:
    """Raise :class:`ConfigError` naming every problem of the config of one run about to train
    here (including a device this machine does not have); nothing is built before."""
    problems = config_problems(config)
    if not problems:
        try:
            check_device(config.device)
        except UsageError as error:
            problems.append(str(error))
    if problems:
        try:
            name = config.run_id()
        except (AttributeError, TypeError, ValueError):  # not a RunConfig, or options that are not JSON
            name = "this run"
        lines = "\n".join(f"  {problem}" for problem in problems)
        raise ConfigError(f"{len(problems)} problem(s) in the config of {name}; nothing was trained:\n{lines}")


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
