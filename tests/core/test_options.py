"""Method options are validated at construction (issue 25): NaN/inf refused for float options,
floats refused where integers belong, each error naming the method and the option. The first
table is the issue's list; the second is derived from every registered method's type hints, so
a new method is covered without a new row."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from mtl_lib import AGGREGATORS, WEIGHTINGS
from mtl_lib.core.options import (
    OptionError,
    require_choice,
    require_in_range,
    require_integer,
    require_positive,
)

#: (registry, name, options, the option the error must name) — the cases issue 25 lists.
ISSUE_CASES = [
    ("aggregator", "upgrad", {"pref_vector": [1.0, math.nan]}, "pref_vector"),
    ("aggregator", "upgrad", {"reg_eps": math.inf}, "reg_eps"),
    ("aggregator", "upgrad", {"reg_eps": math.nan}, "reg_eps"),
    ("aggregator", "fairgrad", {"alpha": math.nan}, "alpha"),
    ("aggregator", "excess_mtl", {"robust_step_size": math.inf}, "robust_step_size"),
    ("aggregator", "modo", {"gamma": math.nan}, "gamma"),
    ("aggregator", "sdmgrad", {"lr": math.inf}, "lr"),
    ("aggregator", "sdmgrad", {"n_iter": 2.5}, "n_iter"),
    ("aggregator", "krum", {"n_byzantine": 1.0}, "n_byzantine"),
    ("aggregator", "trimmed_mean", {"trim_number": 1.5}, "trim_number"),
    ("weighting", "famo", {"lr": math.nan}, "lr"),
]
REGISTRIES = {"aggregator": AGGREGATORS, "weighting": WEIGHTINGS}


@pytest.mark.parametrize(
    ("kind", "name", "options", "option"), ISSUE_CASES, ids=[f"{c[1]}-{c[3]}" for c in ISSUE_CASES]
)
def test_issue_cases_are_refused_at_construction(kind, name, options, option):
    with pytest.raises(OptionError, match=rf"option '{option}'"):
        REGISTRIES[kind].build(name, **options)


def _annotated_options(kind: str) -> list[tuple[str, str, str, str]]:
    """(kind, method, option, hint) for every annotated option of every registered method."""
    out = []
    for name in REGISTRIES[kind].names():
        cls = type(REGISTRIES[kind].build(name))
        for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            hint = str(parameter.annotation)
            parts = {p.strip() for p in hint.split("|")}
            if "float" in parts or "int" in parts or any(p.startswith("Sequence[float]") for p in parts):
                out.append((kind, name, parameter.name, hint))
    return out


OPTION_CASES = _annotated_options("aggregator") + _annotated_options("weighting")


def test_the_derived_table_covers_the_issue_methods():
    covered = {(name, option) for _, name, option, _ in OPTION_CASES}
    assert {(name, option) for _, name, _, option in ISSUE_CASES} <= covered


@pytest.mark.parametrize(("kind", "name", "option", "hint"), OPTION_CASES, ids=[f"{c[1]}-{c[2]}" for c in OPTION_CASES])
def test_every_numeric_option_refuses_bad_values(kind, name, option, hint):
    registry = REGISTRIES[kind]
    parts = {p.strip() for p in hint.split("|")}
    infinite_ok = option in getattr(type(registry.build(name)), "infinite_options", ())
    if any(p.startswith("Sequence[float]") for p in parts):
        bad = [[1.0, math.nan], [math.inf, 1.0]]
    elif "float" in parts:
        bad = [math.nan] + ([] if infinite_ok else [math.inf, -math.inf]) + ["0.5"]
    else:
        bad = [2.5, 1.0, True, "2"]
    for value in bad:
        with pytest.raises(OptionError, match=rf"{option}"):
            registry.build(name, **{option: value})


def test_an_infinite_option_that_means_no_limit_is_accepted():
    assert math.isinf(AGGREGATORS.build("nash_mtl", max_norm=math.inf).max_norm)


def test_helpers_name_the_option_and_range():
    with pytest.raises(OptionError, match=r"Foo: option 'lr' must be positive"):
        require_positive("Foo", "lr", 0.0)
    with pytest.raises(OptionError, match=r"must be in \[0, 1\)"):
        require_in_range("Foo", "beta", 1.0, 0.0, 1.0, high_open=True)
    with pytest.raises(OptionError, match=r"an integer >= 1"):
        require_integer("Foo", "n_iter", 0, minimum=1)
    with pytest.raises(OptionError, match=r"did you mean 'adam'"):
        require_choice("Foo", "optimizer", "adm", ["adam", "sgd"])
    assert require_integer("Foo", "n", torch.tensor(3).item()) == 3


def test_a_new_method_is_validated_without_code_of_its_own():
    from mtl_lib.aggregators import Aggregator

    class Damped(Aggregator):
        def __init__(self, damping: float = 0.5, rounds: int = 3) -> None:
            self.damping, self.rounds = damping, rounds

    assert Damped(0.2, 4).rounds == 4
    with pytest.raises(OptionError, match=r"Damped: option 'damping' must be a finite number"):
        Damped(damping=math.nan)
    with pytest.raises(OptionError, match=r"Damped: option 'rounds' must be an integer, got 2.5"):
        Damped(rounds=2.5)
