"""The properties table (issue 24): one row per registered method, measured verdicts that can
fail, the paper's claims beside them."""

import math

import pytest

from mtl_lib import AGGREGATORS, WEIGHTINGS
from mtl_lib.studies.method_properties import (
    NON_CONFLICTING,
    PARETO,
    PERMUTATION,
    RESCALING,
    claims_summary,
    method_properties,
)


@pytest.fixture(scope="module")
def table():
    return method_properties(n_jacobians=4, toy_steps=0)


def test_every_registered_method_has_a_row(table):
    rows = set(table.index)
    assert {("aggregator", n) for n in AGGREGATORS.names()} <= rows
    assert {("weighting", n) for n in WEIGHTINGS.names()} <= rows


@pytest.mark.parametrize(
    ("kind", "name", "prop", "verdict"),
    [
        ("aggregator", "mgda", NON_CONFLICTING, "yes"),
        ("aggregator", "upgrad", NON_CONFLICTING, "yes"),
        ("aggregator", "sum", NON_CONFLICTING, "no"),
        ("weighting", "ew", NON_CONFLICTING, "no"),
        ("aggregator", "nash_mtl", RESCALING, "yes"),
        ("aggregator", "imtl_g", RESCALING, "yes"),
        ("weighting", "gls", RESCALING, "yes"),
        ("aggregator", "mgda", RESCALING, "no"),
        ("aggregator", "pcd", PERMUTATION, "no"),  # task 0 is the primary objective
        ("aggregator", "mgda", PERMUTATION, "yes"),
        ("aggregator", "mgda", PARETO, "n/a"),  # toy skipped here
    ],
)
def test_measured_verdicts(table, kind, name, prop, verdict):
    assert table.loc[(kind, name), prop] == verdict


def test_methods_that_need_a_model_say_so(table):
    assert table.loc[("weighting", "gradnorm"), NON_CONFLICTING] == "n/a"
    assert table.loc[("weighting", "gradnorm"), "note"]


def test_claims_sit_beside_the_verdicts(table):
    assert table.loc[("aggregator", "mgda"), f"{NON_CONFLICTING} (paper)"] == "yes"
    assert table.loc[("aggregator", "sum"), f"{NON_CONFLICTING} (paper)"] == ""
    summary = claims_summary(table)
    assert len(summary) > 10 and set(summary.columns) >= {"method", "property", "claimed", "measured", "agrees"}
    mgda = summary[(summary.method == "mgda") & (summary.property == NON_CONFLICTING)]
    assert bool(mgda.agrees.iloc[0])


def test_toy_columns_are_measured():
    table = method_properties([("aggregator", "mgda"), ("weighting", "gls")], n_jacobians=2, toy_steps=100)
    for value in table["toy: distance to Pareto set"]:
        assert math.isfinite(value) and value >= 0
    assert set(table[PARETO]) <= {"yes", "no"}


def test_a_new_method_gets_its_row_for_free():
    import torch

    from mtl_lib.aggregators import Aggregation, Aggregator

    class FirstTaskOnly(Aggregator):
        """Follows task 0's gradient: conflicts with the others, not permutation invariant."""

        def aggregate(self, jacobian: torch.Tensor) -> Aggregation:
            return Aggregation(direction=jacobian[0] * jacobian.shape[0])

    AGGREGATORS.register("first_task_only_for_test")(FirstTaskOnly)
    try:
        table = method_properties(n_jacobians=2, toy_steps=0)
        row = table.loc[("aggregator", "first_task_only_for_test")]
        assert row[NON_CONFLICTING] == "no" and row[PERMUTATION] == "no"
        assert row[RESCALING] == "yes"  # a direction along g_0 keeps its orientation
    finally:
        AGGREGATORS._factories.pop("first_task_only_for_test")
