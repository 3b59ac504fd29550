"""One table of reference values for every registered gradient aggregator and loss weighting.

Each row pins what a method returns on fixed small inputs (two Jacobians for aggregators, two
loss vectors for weightings), and says which properties the method promises there; the tests
check the value, the properties (:mod:`tests._asserts`) and, where TorchJD has the method, that
TorchJD agrees. A test fails when a registered method has no row, and its message prints the row
to add: **a new method is tested by adding one row**.

The expected values were computed once from the implementations of this library and, where
TorchJD 0.18 has the method, cross-checked against it (``torchjd`` column: TorchJD's class and
arguments, and the factor between the two conventions — our directions are on the *sum* scale,
TorchJD's MGDA, IMTL-G and Aligned-MTL on the mean scale, so ours = K × theirs). Methods that
draw random numbers are built with ``seed=0`` (as the runner does), so their values are fixed too.

To print a row for a method: ``python -m tests.test_values aggregator <name>`` (or
``weighting <name>``).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from mtl_lib import AGGREGATORS, WEIGHTINGS
from mtl_lib.core.runtime import accepts_argument
from tests._asserts import (
    assert_finite,
    assert_non_conflicting,
    assert_permutation_equivariant,
    assert_permutation_invariant,
    assert_scaling,
)
from tests.helpers import REFERENCE_JACOBIAN, THREE_TASK_JACOBIAN

#: The aggregators' inputs: ``J2`` is the two-task example of CAGrad's and TorchJD's tests (the
#: tasks conflict on the first parameter), ``J3`` three tasks with unequal norms.
JACOBIANS: dict[str, torch.Tensor] = {
    "J2": REFERENCE_JACOBIAN.double(),
    "J3": THREE_TASK_JACOBIAN.double(),
}
#: The weightings' inputs: per-task losses at the first step.
LOSSES: dict[str, torch.Tensor] = {
    "L2": torch.tensor([1.0, 4.0], dtype=torch.float64),
    "L3": torch.tensor([0.5, 2.0, 8.0], dtype=torch.float64),
}


@dataclass(frozen=True)
class AggregatorRow:
    """``name`` (registry) with ``kwargs`` maps each Jacobian of :data:`JACOBIANS` to
    ``expected`` (the direction, 4 decimals).

    Properties the method promises: ``sum_scale`` (K identical gradients g → K·g, the library's
    convention), ``non_conflicting`` (on these Jacobians: ⟨g_k, d⟩ ≥ 0 for
    every task), ``scale_degree`` (d(cJ) = c^degree d(J) for c > 0; None: no promise),
    ``permutation_invariant`` (reordering tasks leaves d unchanged). ``torchjd``: TorchJD's
    class name and arguments, ``torchjd_times_k``: ours = K × TorchJD's, ``torchjd_on``: the
    Jacobians on which the two must agree."""

    name: str
    expected: dict[str, tuple[float, ...]]
    kwargs: dict[str, Any] = field(default_factory=dict)
    non_conflicting: tuple[str, ...] = ()
    scale_degree: int | None = None
    permutation_invariant: bool = False
    torchjd: tuple[str, dict[str, Any]] | None = None
    torchjd_times_k: bool = False
    torchjd_on: tuple[str, ...] = ("J2", "J3")
    #: The library's convention: K identical task gradients g give K·g (the sum's scale).
    sum_scale: bool = False

    @property
    def id(self) -> str:
        return self.name + "".join(f"-{k}={v}" for k, v in self.kwargs.items())


@dataclass(frozen=True)
class WeightingRow:
    """``name`` with ``kwargs``, fresh, maps each loss vector of :data:`LOSSES` to ``expected``
    (the weighted terms whose sum is the objective, 4 decimals). ``permutation_equivariant``:
    reordering the tasks' losses reorders the terms the same way."""

    name: str
    expected: dict[str, tuple[float, ...]]
    kwargs: dict[str, Any] = field(default_factory=dict)
    permutation_equivariant: bool = False

    @property
    def id(self) -> str:
        return self.name + "".join(f"-{k}={v}" for k, v in self.kwargs.items())


ALL = ("J2", "J3")

AGGREGATOR_VALUES: list[AggregatorRow] = [
    AggregatorRow(
        "sum",
        {"J2": (2.0, 2.0, 2.0), "J3": (0.0, 3.0, 1.5, 1.0)},
        sum_scale=True,
        scale_degree=1,
        permutation_invariant=True,
        torchjd=("Sum", {}),
    ),
    AggregatorRow(
        "pcgrad",
        {"J2": (0.5848, 3.8012, 3.8012), "J3": (0.1556, 3.7407, 1.8704, 2.0519)},
        sum_scale=True,
        non_conflicting=("J2",),  # PCGrad's guarantee is for two tasks
        scale_degree=1,
        # TorchJD draws its projection order from the global RNG: only two tasks compare
        torchjd=("PCGrad", {}),
        torchjd_on=("J2",),
    ),
    AggregatorRow(
        "pcgrad_wrapper",
        {"J2": (0.2924, 1.9006, 1.9006), "J3": (0.0519, 1.2469, 0.6235, 0.684)},
        non_conflicting=("J2",),
        scale_degree=1,
    ),
    AggregatorRow(
        "gradvac",
        {"J2": (0.5848, 3.8012, 3.8012), "J3": (0.5259, 3.7407, 1.8704, 1.8667)},
        sum_scale=True,
        scale_degree=1,
        # TorchJD visits the tasks in another random order, so only two tasks compare
        torchjd=("GradVac", {}),
        torchjd_on=("J2",),
    ),
    AggregatorRow(
        "cagrad",
        {"J2": (0.5979, 2.0057, 2.0057), "J3": (0.0155, 3.1011, 1.5505, 1.9227)},
        scale_degree=1,
        permutation_invariant=True,
    ),
    AggregatorRow(
        "cagrad",
        {"J2": (0.6936, 2.3266, 2.3266), "J3": (0.0179, 3.5973, 1.7986, 2.2304)},
        kwargs={"c": 0.4, "rescale": 0},
        scale_degree=1,
        permutation_invariant=True,
        torchjd=("CAGrad", {"c": 0.4}),
        torchjd_times_k=True,
    ),
    AggregatorRow(
        "mgda",
        {"J2": (0.0, 2.0, 2.0), "J3": (-0.6579, 2.1053, 1.0526, 1.9737)},
        sum_scale=True,
        non_conflicting=ALL,
        scale_degree=1,
        permutation_invariant=True,
        torchjd=("MGDA", {"epsilon": 1e-10, "max_iters": 100_000}),
        torchjd_times_k=True,
    ),
    AggregatorRow(
        "imtl_g",
        {"J2": (0.1534, 2.0, 2.0), "J3": (0.4096, 2.493, 1.2465, 1.8126)},
        sum_scale=True,
        non_conflicting=ALL,
        scale_degree=1,
        permutation_invariant=True,
        torchjd=("IMTLG", {}),
        torchjd_times_k=True,
    ),
    AggregatorRow(
        "nash_mtl",
        {"J2": (0.0542, 0.7061, 0.7061), "J3": (0.0074, 0.7874, 0.3937, 0.4743)},
        non_conflicting=ALL,
        scale_degree=0,
        permutation_invariant=True,
        torchjd=("NashMTL", {"n_tasks": "K"}),
    ),
    AggregatorRow(
        "aligned_mtl",
        {"J2": (0.4266, 1.9347, 1.9347), "J3": (-0.0864, 1.3589, 0.6794, 0.8272)},
        sum_scale=True,
        scale_degree=1,
        permutation_invariant=True,
        torchjd=("AlignedMTL", {}),
        torchjd_times_k=True,
    ),
    AggregatorRow("graddrop", {"J2": (-4.0, 2.0, 2.0), "J3": (-1.0, 3.0, 1.5, -1.0)}, sum_scale=True),
    AggregatorRow("moco", {"J2": (-0.25, 1.0, 1.0), "J3": (0.0219, 1.4438, 0.7219, 0.5823)}),
]

WEIGHTING_VALUES: list[WeightingRow] = [
    WeightingRow("ew", {"L2": (1.0, 4.0), "L3": (0.5, 2.0, 8.0)}, permutation_equivariant=True),
    WeightingRow("dwa", {"L2": (1.0, 4.0), "L3": (0.5, 2.0, 8.0)}, permutation_equivariant=True),
    WeightingRow("gls", {"L2": (2.0, 2.0), "L3": (2.0, 2.0, 2.0)}, permutation_equivariant=True),
    WeightingRow("gradnorm", {"L2": (1.0, 4.0), "L3": (0.5, 2.0, 8.0)}, permutation_equivariant=True),
    WeightingRow("imtl_l", {"L2": (1.0, 4.0), "L3": (0.5, 2.0, 8.0)}, permutation_equivariant=True),
    WeightingRow("rlw", {"L2": (1.7246, 1.1017), "L3": (1.267, 0.8094, 0.4914)}),
    WeightingRow("stch", {"L2": (0.0, 1.3863), "L3": (-0.6931, 0.6931, 2.0794)}, permutation_equivariant=True),
    WeightingRow("uw", {"L2": (1.0, 4.0), "L3": (0.5, 2.0, 8.0)}, permutation_equivariant=True),
]


# ----------------------------------------------------------------------------- building
def _with_defaults(factory: Any, kwargs: dict[str, Any], num_tasks: int) -> dict[str, Any]:
    """As the trainer and runner do: ``num_tasks`` and ``seed=0`` when the method takes them."""
    kwargs = dict(kwargs)
    if accepts_argument(factory, "num_tasks"):
        kwargs.setdefault("num_tasks", num_tasks)
    if accepts_argument(factory, "seed"):
        kwargs.setdefault("seed", 0)
    return kwargs


def aggregate(name: str, kwargs: dict[str, Any], jacobian: torch.Tensor) -> torch.Tensor:
    """The direction of a freshly built aggregator on ``jacobian``."""
    factory = AGGREGATORS.get(name)
    aggregator = factory(**_with_defaults(factory, kwargs, jacobian.shape[0]))
    if getattr(aggregator, "acts_on_all_parameters", False):
        # one tensor, all of it shared: the whole-model methods see just the Jacobian
        aggregator.bind_all_parameters(["w"], [jacobian.shape[1]], [True])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return aggregator(jacobian).direction


def weigh(name: str, kwargs: dict[str, Any], losses: torch.Tensor) -> torch.Tensor:
    """The weighted terms of a freshly built loss weighting on ``losses``."""
    factory = WEIGHTINGS.get(name)
    weighting = factory(**_with_defaults(factory, kwargs, losses.shape[0]))
    return weighting(losses).detach().to(losses.dtype)


def suggested_row(kind: str, name: str) -> str:
    """The row to paste for ``name`` with the values the current implementation returns."""
    if kind == "aggregator":
        values = {key: aggregate(name, {}, jac) for key, jac in JACOBIANS.items()}
        row_type, table = "AggregatorRow", "AGGREGATOR_VALUES"
    else:
        values = {key: weigh(name, {}, losses) for key, losses in LOSSES.items()}
        row_type, table = "WeightingRow", "WEIGHTING_VALUES"
    expected = ", ".join(f'"{k}": ({", ".join(str(round(x, 4)) for x in v.tolist())})' for k, v in values.items())
    return f'to {table}: {row_type}("{name}", {{{expected}}}),'


# ----------------------------------------------------------------------------- every method has a row
@pytest.mark.parametrize(
    ("kind", "names", "rows"),
    [
        ("aggregator", AGGREGATORS.names(), AGGREGATOR_VALUES),
        ("weighting", WEIGHTINGS.names(), WEIGHTING_VALUES),
    ],
    ids=["aggregators", "weightings"],
)
def test_every_registered_method_has_a_row(kind, names, rows):
    covered = {row.name for row in rows}
    missing = [name for name in names if name not in covered]
    advice = "\n".join(f"    {suggested_row(kind, name)}" for name in missing)
    assert not missing, (
        f"registered {kind}(s) {missing} have no row in tests/test_values.py. Add one per method:\n"
        f"{advice}\n"
        "The numbers above are what the implementation returns now: check them (paper, hand "
        "computation, or TorchJD: set torchjd=(class name, kwargs)) before committing, and declare "
        "the properties the method promises (non_conflicting, scale_degree, permutation_invariant / "
        f"permutation_equivariant). `python -m tests.test_values {kind} <name>` prints a row again."
    )
    unknown = sorted(covered - set(names))
    assert not unknown, f"rows for unregistered {kind}s {unknown}"


# ----------------------------------------------------------------------------- aggregators
AGG_CASES = [(row, key) for row in AGGREGATOR_VALUES for key in row.expected]
over_agg_cases = pytest.mark.parametrize(("row", "key"), AGG_CASES, ids=[f"{r.id}-{k}" for r, k in AGG_CASES])


@over_agg_cases
def test_aggregator_value(row: AggregatorRow, key: str):
    direction = aggregate(row.name, row.kwargs, JACOBIANS[key])
    assert_finite(direction)
    expected = torch.tensor(row.expected[key], dtype=direction.dtype)
    torch.testing.assert_close(direction, expected, atol=1e-4, rtol=1e-4)


@over_agg_cases
def test_aggregator_properties(row: AggregatorRow, key: str):
    jacobian = JACOBIANS[key]

    def direction(j: torch.Tensor) -> torch.Tensor:
        return aggregate(row.name, row.kwargs, j)

    if key in row.non_conflicting:
        assert_non_conflicting(jacobian, direction(jacobian))
    if row.scale_degree is not None:
        assert_scaling(direction, jacobian, row.scale_degree)
    if row.permutation_invariant:
        assert_permutation_invariant(direction, jacobian)


@pytest.mark.parametrize("row", [r for r in AGGREGATOR_VALUES if r.permutation_invariant], ids=lambda r: r.id)
def test_aggregator_permutation_on_five_tasks(row: AggregatorRow):
    """Reordering five tasks leaves the direction unchanged and, for methods that weight the
    Gram matrix, permutes the weights the same way."""
    jacobian = torch.randn(5, 40, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert_permutation_invariant(lambda j: aggregate(row.name, row.kwargs, j), jacobian)
    factory = AGGREGATORS.get(row.name)
    aggregator = factory(**_with_defaults(factory, row.kwargs, 5))
    if hasattr(aggregator, "weights_from_gram"):
        assert_permutation_equivariant(lambda j: aggregator.weights_from_gram(j @ j.T), jacobian)


#: Jacobians that break careless normalisations: all zero, a zero row beside opposite rows,
#: exactly opposite rows, collinear rows of both signs.
DEGENERATE = [
    torch.zeros(3, 5, dtype=torch.float64),
    torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 3.0], [-1.0, 2.0, -3.0]], dtype=torch.float64),
    torch.tensor([[1.0, -2.0, 3.0], [-1.0, 2.0, -3.0]], dtype=torch.float64),
    torch.tensor([[1.0, 2.0], [2.0, 4.0], [-3.0, -6.0]], dtype=torch.float64),
]


@pytest.mark.parametrize("row", AGGREGATOR_VALUES, ids=[r.id for r in AGGREGATOR_VALUES])
def test_aggregator_degenerate_jacobians(row: AggregatorRow):
    """Every aggregator stays finite on degenerate Jacobians and maps all-zero gradients to 0;
    a sum-scale one maps K identical gradients g to K·g."""
    for jacobian in DEGENERATE:
        assert_finite(aggregate(row.name, row.kwargs, jacobian))
    assert torch.count_nonzero(aggregate(row.name, row.kwargs, DEGENERATE[0])) == 0
    if row.sum_scale:
        g = torch.randn(17, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        for k in (2, 3, 5):
            torch.testing.assert_close(aggregate(row.name, row.kwargs, g.repeat(k, 1)), k * g)


TORCHJD_CASES = [(row, key) for row, key in AGG_CASES if row.torchjd is not None and key in row.torchjd_on]


@pytest.mark.parametrize(("row", "key"), TORCHJD_CASES, ids=[f"{r.id}-{k}" for r, k in TORCHJD_CASES])
def test_aggregator_agrees_with_torchjd(row: AggregatorRow, key: str):
    torchjd = pytest.importorskip("torchjd.aggregation")
    jacobian = JACOBIANS[key]
    k = jacobian.shape[0]
    class_name, kwargs = row.torchjd  # type: ignore[misc]
    kwargs = {name: (k if value == "K" else value) for name, value in kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(torchjd, class_name)(**kwargs)(jacobian)
    ours = aggregate(row.name, row.kwargs, jacobian)
    torch.testing.assert_close(ours, (k if row.torchjd_times_k else 1) * theirs, atol=1e-4, rtol=1e-4)


# ----------------------------------------------------------------------------- weightings
W_CASES = [(row, key) for row in WEIGHTING_VALUES for key in row.expected]


@pytest.mark.parametrize(("row", "key"), W_CASES, ids=[f"{r.id}-{k}" for r, k in W_CASES])
def test_weighting_value(row: WeightingRow, key: str):
    terms = weigh(row.name, row.kwargs, LOSSES[key])
    assert_finite(terms)
    torch.testing.assert_close(terms, torch.tensor(row.expected[key], dtype=terms.dtype), atol=1e-4, rtol=1e-4)
    if row.permutation_equivariant:
        assert_permutation_equivariant(lambda losses: weigh(row.name, row.kwargs, losses), LOSSES[key])


if __name__ == "__main__":  # python -m tests.test_values aggregator|weighting NAME
    if len(sys.argv) != 3 or sys.argv[1] not in ("aggregator", "weighting"):
        sys.exit("usage: python -m tests.test_values aggregator|weighting NAME")
    print(suggested_row(sys.argv[1], sys.argv[2]))
