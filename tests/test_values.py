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
Methods that read the step's losses (``needs_losses``) get the fixed :func:`step_losses`; where
a Jacobian has fewer tasks than a method's ``min_tasks`` its row says ``None`` and the test
expects a ValueError naming the requirement. The rows of UPGrad … DB-MTL, the loss-normalised
MGDA and MoCo and FAMO's first weights were also checked (to ≤ 2e-6 relative) against values
computed independently on J2 and a second three-task Jacobian.

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
#: The step's per-task losses handed to aggregators that read them (``needs_losses``: MGDA's loss
#: normalisations, MoCo's, DB-MTL): (1, 2, 0.5) repeated, cut to K — [1, 2] with ``J2``,
#: [1, 2, 0.5] with ``J3``; a test that reorders or scales the tasks reorders or keeps them along.
LOSS_CYCLE = (1.0, 2.0, 0.5)


def step_losses(num_tasks: int) -> torch.Tensor:
    """The fixed losses an aggregator with ``needs_losses`` receives for ``num_tasks`` tasks."""
    return torch.tensor([LOSS_CYCLE[i % len(LOSS_CYCLE)] for i in range(num_tasks)], dtype=torch.float64)


#: The weightings' inputs: per-task losses at the first step.
LOSSES: dict[str, torch.Tensor] = {
    "L2": torch.tensor([1.0, 4.0], dtype=torch.float64),
    "L3": torch.tensor([0.5, 2.0, 8.0], dtype=torch.float64),
}


@dataclass(frozen=True)
class AggregatorRow:
    """``name`` (registry) with ``kwargs`` maps each Jacobian of :data:`JACOBIANS` to
    ``expected`` (the direction, 4 decimals; a method that reads losses gets
    :func:`step_losses`), or to ``None`` where the Jacobian has fewer tasks than the method's
    ``min_tasks``: there it must raise a ValueError naming the requirement.

    Properties the method promises: ``sum_scale`` (K identical gradients g → K·g, the library's
    convention), ``non_conflicting`` (on these Jacobians: ⟨g_k, d⟩ ≥ 0 for
    every task), ``scale_degree`` (d(cJ) = c^degree d(J) for c > 0; None: no promise),
    ``permutation_invariant`` (reordering tasks leaves d unchanged). ``torchjd``: TorchJD's
    class name and arguments (an argument given as a ``(class name, arguments)`` pair is built
    the same way, e.g. a Weighting inside TorchJD's GramianWeightedAggregator; ``"K"``: the
    number of tasks), ``torchjd_times_k``: ours = K × TorchJD's, ``torchjd_on``: the
    Jacobians on which the two must agree."""

    name: str
    expected: dict[str, tuple[float, ...] | None]
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
    AggregatorRow(
        "moco",
        {"J2": (0.4477, 0.2784, 0.2784), "J3": (0.0618, 0.939, 0.4695, 0.0795)},
        kwargs={"normalization": "loss"},
    ),
    AggregatorRow(
        "mgda",
        {"J2": (3.7172, 2.0, 2.0), "J3": (0.8824, 4.2353, 2.1176, -0.3529)},
        kwargs={"normalization": "loss"},
        # the weights come from the normalised gradients but scale the raw ones (as in Sener &
        # Koltun's and LibMTL's code), so the direction may conflict: J2's first task is hurt
        scale_degree=1,
        permutation_invariant=True,
    ),
    AggregatorRow(
        "mgda",
        {"J2": (5.5865, 2.0, 2.0), "J3": (0.8035, 4.3931, 2.1965, -0.5896)},
        kwargs={"normalization": "loss+"},
        # the weights come from the normalised gradients but scale the raw ones (as in Sener &
        # Koltun's and LibMTL's code), so the direction may conflict: J2's first task is hurt
        scale_degree=1,
        permutation_invariant=True,
    ),
    AggregatorRow(
        "upgrad",
        {"J2": (0.5849, 3.801, 3.801), "J3": (0.462, 3.6896, 1.8448, 1.9241)},
        sum_scale=True,
        non_conflicting=ALL,
        scale_degree=1,
        permutation_invariant=True,
    ),
    AggregatorRow(
        "upgrad",
        {"J2": (0.5858, 3.8007, 3.8007), "J3": (0.4619, 3.6895, 1.8448, 1.9239)},
        kwargs={"regularisation": "trace"},  # TorchJD's ridge ε·tr(G)·I
        sum_scale=True,
        non_conflicting=ALL,
        scale_degree=1,
        permutation_invariant=True,
        torchjd=("UPGrad", {}),
        torchjd_times_k=True,
    ),
    AggregatorRow(
        "dualproj",
        {"J2": (1.1116, 2.2221, 2.2221), "J3": (0.0, 3.0, 1.5, 1.0)},
        sum_scale=True,
        # the ridge shifts the projection: the exact one on J2 is (10/9, 20/9, 20/9); ours leaves
        # ⟨g_1, d⟩ = −0.0022 (ε·G_11·v_1), TorchJD's ε·tr(G) ridge −0.0068, so J2 is not declared
        non_conflicting=("J3",),
        scale_degree=1,
        permutation_invariant=True,
    ),
    AggregatorRow(
        "dualproj",
        {"J2": (1.1126, 2.2218, 2.2218), "J3": (0.0, 3.0, 1.5, 1.0)},
        kwargs={"regularisation": "trace"},
        sum_scale=True,
        non_conflicting=("J3",),
        scale_degree=1,
        permutation_invariant=True,
        torchjd=("DualProj", {}),
        torchjd_times_k=True,
    ),
    AggregatorRow(
        "config",
        {"J2": (0.1588, 2.0706, 2.0706), "J3": (0.4074, 2.4795, 1.2398, 1.8028)},
        sum_scale=True,
        non_conflicting=ALL,
        scale_degree=1,
        permutation_invariant=True,
        torchjd=("ConFIG", {}),
    ),
    AggregatorRow(
        "fairgrad",
        {"J2": (0.0766, 0.9985, 0.9985), "J3": (0.0129, 1.3638, 0.6819, 0.8215)},
        non_conflicting=ALL,
        scale_degree=0,  # (1 − α)/(1 + α) with the default α = 1
        permutation_invariant=True,
        torchjd=("FairGrad", {"alpha": 1.0}),
    ),
    AggregatorRow(
        "excess_mtl",
        # the first step records the baseline excess risk and keeps the weights uniform (the
        # authors' code); TorchJD's default updates them on that step, its n_warmup_steps=1 does not
        {"J2": (2.0, 2.0, 2.0), "J3": (0.0, 3.0, 1.5, 1.0)},
        sum_scale=True,
        permutation_invariant=True,
        torchjd=("ExcessMTL", {"n_warmup_steps": 1}),
        torchjd_times_k=True,
    ),
    AggregatorRow(
        "modo",
        {"J2": (-8.0, 2.0, 2.0), "J3": (0.175, 2.55, 1.275, 1.6583)},
        sum_scale=True,
        permutation_invariant=True,
        torchjd=("GramianWeightedAggregator", {"gramian_weighting": ("MoDoWeighting", {})}),
        torchjd_times_k=True,
    ),
    AggregatorRow(
        "sdmgrad",
        {"J2": (9.6923, 2.0, 2.0), "J3": (-2.3077, 3.0, 1.5, 0.2308)},
        sum_scale=True,
        scale_degree=1,
        permutation_invariant=True,
        torchjd=("GramianWeightedAggregator", {"gramian_weighting": ("SDMGradWeighting", {})}),
        torchjd_times_k=True,
    ),
    AggregatorRow(
        "crmogm",
        {"J2": (0.0, 2.0, 2.0), "J3": (-0.6579, 2.1053, 1.0526, 1.9737)},
        sum_scale=True,
        scale_degree=1,
        permutation_invariant=True,
        torchjd=(
            "GramianWeightedAggregator",
            {
                "gramian_weighting": (
                    "CRMOGMWeighting",
                    {"weighting": ("MGDAWeighting", {"epsilon": 1e-10, "max_iters": 100_000})},
                )
            },
        ),
        torchjd_times_k=True,
    ),
    AggregatorRow(
        "pcd",
        {"J2": (-0.82, 2.9434, 2.9434), "J3": (0.9091, 0.7851, 0.3925, 1.8447)},
        scale_degree=1,  # not permutation invariant: task 0 is the primary objective
        torchjd=("PCD", {}),
    ),
    AggregatorRow(
        "krum",
        {"J2": None, "J3": (0.0, 6.0, 3.0, -3.0)},  # None: Krum needs at least 3 tasks
        scale_degree=1,
        torchjd=("Krum", {"n_byzantine": 0}),
        torchjd_times_k=True,
    ),
    AggregatorRow(
        "trimmed_mean",
        {"J2": None, "J3": (0.0, 3.0, 1.5, 0.0)},  # None: trimming one from each end needs 3 tasks
        sum_scale=True,
        scale_degree=1,
        permutation_invariant=True,
        torchjd=("TrimmedMean", {"trim_number": 1}),
        torchjd_times_k=True,
    ),
    AggregatorRow(
        "db_mtl",
        {"J2": (0.0129, 0.1688, 0.1688), "J3": (-0.0658, 0.4449, 0.2225, 0.1459)},
        scale_degree=1,  # for fixed losses
        permutation_invariant=True,
    ),
]

WEIGHTING_VALUES: list[WeightingRow] = [
    WeightingRow("ew", {"L2": (1.0, 4.0), "L3": (0.5, 2.0, 8.0)}, permutation_equivariant=True),
    WeightingRow("dwa", {"L2": (1.0, 4.0), "L3": (0.5, 2.0, 8.0)}, permutation_equivariant=True),
    WeightingRow("gls", {"L2": (2.0, 2.0), "L3": (2.0, 2.0, 2.0)}, permutation_equivariant=True),
    WeightingRow("gradnorm", {"L2": (1.0, 4.0), "L3": (0.5, 2.0, 8.0)}, permutation_equivariant=True),
    WeightingRow("imtl_l", {"L2": (1.0, 4.0), "L3": (0.5, 2.0, 8.0)}, permutation_equivariant=True),
    WeightingRow("rlw", {"L2": (1.7246, 1.1017), "L3": (1.267, 0.8094, 0.4914)}),
    WeightingRow("rlw", {"L2": (1.1304, 3.4785), "L3": (0.6331, 1.9481, 6.0784)}, kwargs={"distribution": "uniform"}),
    WeightingRow("rlw", {"L2": (1.0, 0.0), "L3": (0.0, 0.0, 8.0)}, kwargs={"distribution": "bernoulli"}),
    WeightingRow("rlw", {"L2": (1.0, 0.0), "L3": (0.0, 0.0, 8.0)}, kwargs={"distribution": "constrained_bernoulli"}),
    WeightingRow("famo", {"L2": (0.0, 2.2181), "L3": (-0.7922, 0.7922, 2.3765)}, permutation_equivariant=True),
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


def build(name: str, kwargs: dict[str, Any], num_tasks: int) -> Any:
    """A freshly built aggregator, as the trainer builds it for ``num_tasks`` tasks."""
    factory = AGGREGATORS.get(name)
    return factory(**_with_defaults(factory, kwargs, num_tasks))


def aggregate(
    name: str, kwargs: dict[str, Any], jacobian: torch.Tensor, losses: torch.Tensor | None = None
) -> torch.Tensor:
    """The direction of a freshly built aggregator on ``jacobian``; one that reads the step's
    losses gets ``losses`` (default :func:`step_losses`)."""
    aggregator = build(name, kwargs, jacobian.shape[0])
    if getattr(aggregator, "acts_on_all_parameters", False):
        # one tensor, all of it shared: the whole-model methods see just the Jacobian
        aggregator.bind_all_parameters(["w"], [jacobian.shape[1]], [True])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not aggregator.needs_losses:
            return aggregator(jacobian).direction
        losses = step_losses(jacobian.shape[0]) if losses is None else losses
        return aggregator(jacobian, losses=losses.to(jacobian.dtype)).direction


def too_few_tasks(name: str, kwargs: dict[str, Any], jacobian: torch.Tensor) -> int | None:
    """The method's ``min_tasks`` when ``jacobian`` has fewer tasks, else None."""
    needed = build(name, kwargs, jacobian.shape[0]).min_tasks
    return needed if jacobian.shape[0] < needed else None


def with_losses(jacobian: torch.Tensor) -> torch.Tensor:
    """``jacobian`` with :func:`step_losses` as an extra last column, so that reordering the
    tasks (rows) reorders their losses along; :func:`aggregate_augmented` splits it again."""
    return torch.cat([jacobian, step_losses(jacobian.shape[0]).to(jacobian)[:, None]], dim=1)


def aggregate_augmented(name: str, kwargs: dict[str, Any], augmented: torch.Tensor) -> torch.Tensor:
    return aggregate(name, kwargs, augmented[:, :-1], losses=augmented[:, -1])


def weigh(name: str, kwargs: dict[str, Any], losses: torch.Tensor) -> torch.Tensor:
    """The weighted terms of a freshly built loss weighting on ``losses``."""
    factory = WEIGHTINGS.get(name)
    weighting = factory(**_with_defaults(factory, kwargs, losses.shape[0]))
    return weighting(losses).detach().to(losses.dtype)


def suggested_row(kind: str, name: str) -> str:
    """The row to paste for ``name`` with the values the current implementation returns."""
    if kind == "aggregator":
        values = {
            key: None if too_few_tasks(name, {}, jac) else aggregate(name, {}, jac) for key, jac in JACOBIANS.items()
        }
        row_type, table = "AggregatorRow", "AGGREGATOR_VALUES"
    else:
        values = {key: weigh(name, {}, losses) for key, losses in LOSSES.items()}
        row_type, table = "WeightingRow", "WEIGHTING_VALUES"

    def show(v: torch.Tensor | None) -> str:
        return "None" if v is None else f"({', '.join(str(round(x, 4)) for x in v.tolist())})"

    expected = ", ".join(f'"{k}": {show(v)}' for k, v in values.items())
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
    jacobian = JACOBIANS[key]
    needed = too_few_tasks(row.name, row.kwargs, jacobian)
    if needed is not None:
        assert row.expected[key] is None, f"{row.id} needs {needed} tasks, {key} has {jacobian.shape[0]}: expect None"
        with pytest.raises(ValueError, match=rf"at least {needed} tasks"):
            aggregate(row.name, row.kwargs, jacobian)
        return
    expected_values = row.expected[key]
    assert expected_values is not None, f"{row.id} is defined on {key}: give its direction"
    direction = aggregate(row.name, row.kwargs, jacobian)
    assert_finite(direction)
    expected = torch.tensor(expected_values, dtype=direction.dtype)
    torch.testing.assert_close(direction, expected, atol=1e-4, rtol=1e-4)


@over_agg_cases
def test_aggregator_properties(row: AggregatorRow, key: str):
    jacobian = JACOBIANS[key]
    if too_few_tasks(row.name, row.kwargs, jacobian):
        return  # test_aggregator_value checks the error

    def direction(j: torch.Tensor) -> torch.Tensor:
        return aggregate(row.name, row.kwargs, j)  # the same losses at every scale

    if key in row.non_conflicting:
        assert_non_conflicting(jacobian, direction(jacobian))
    if row.scale_degree is not None:
        assert_scaling(direction, jacobian, row.scale_degree)
    if row.permutation_invariant:
        # the losses travel with their tasks' rows
        assert_permutation_invariant(lambda a: aggregate_augmented(row.name, row.kwargs, a), with_losses(jacobian))


@pytest.mark.parametrize("row", [r for r in AGGREGATOR_VALUES if r.permutation_invariant], ids=lambda r: r.id)
def test_aggregator_permutation_on_five_tasks(row: AggregatorRow):
    """Reordering five tasks (and their losses) leaves the direction unchanged and, for methods
    that weight the Gram matrix, permutes the weights the same way."""
    jacobian = torch.randn(5, 40, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    augmented = with_losses(jacobian)
    assert_permutation_invariant(lambda a: aggregate_augmented(row.name, row.kwargs, a), augmented)
    if hasattr(build(row.name, row.kwargs, 5), "gram_weights"):

        def weights(a: torch.Tensor) -> torch.Tensor:
            # a fresh instance per call: a warm-started method (MoDo, SDMGrad) would otherwise
            # start the second call from the first call's weights
            return build(row.name, row.kwargs, 5).gram_weights(a[:, :-1] @ a[:, :-1].T, a[:, -1])

        assert_permutation_equivariant(weights, augmented)


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
    """Every aggregator stays finite on degenerate Jacobians (with at least its ``min_tasks``
    tasks) and maps all-zero gradients to 0; a sum-scale one maps K identical gradients g to K·g."""
    defined = [j for j in DEGENERATE if not too_few_tasks(row.name, row.kwargs, j)]
    for jacobian in defined:
        assert_finite(aggregate(row.name, row.kwargs, jacobian))
    assert torch.count_nonzero(aggregate(row.name, row.kwargs, DEGENERATE[0])) == 0
    if row.sum_scale:
        g = torch.randn(17, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        for k in (2, 3, 5):
            if not too_few_tasks(row.name, row.kwargs, g.repeat(k, 1)):
                torch.testing.assert_close(aggregate(row.name, row.kwargs, g.repeat(k, 1)), k * g)


TORCHJD_CASES = [
    (row, key)
    for row, key in AGG_CASES
    if row.torchjd is not None and key in row.torchjd_on and row.expected[key] is not None
]


def build_torchjd(module: Any, spec: tuple[str, dict[str, Any]], num_tasks: int) -> Any:
    """TorchJD's object for a ``(class name, arguments)`` pair, building nested pairs too."""
    class_name, kwargs = spec

    def value(v: Any) -> Any:
        if v == "K":
            return num_tasks
        if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], dict):
            return build_torchjd(module, v, num_tasks)
        return v

    return getattr(module, class_name)(**{name: value(v) for name, v in kwargs.items()})


@pytest.mark.parametrize(("row", "key"), TORCHJD_CASES, ids=[f"{r.id}-{k}" for r, k in TORCHJD_CASES])
def test_aggregator_agrees_with_torchjd(row: AggregatorRow, key: str):
    torchjd = pytest.importorskip("torchjd.aggregation")
    jacobian = JACOBIANS[key]
    k = jacobian.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = build_torchjd(torchjd, row.torchjd, k)(jacobian)  # type: ignore[arg-type]
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
