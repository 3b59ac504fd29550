"""Fault table: every registered gradient aggregator on degenerate Jacobians.

Each row of the tables below is one case, run for every method in ``AGGREGATORS`` (methods added
later are covered automatically). A case asserts either a correct result or a
:class:`NonFiniteError` whose message names the offending task row:

- NaN/±inf in one task's row → error naming that task, internal state untouched;
- extreme but finite scales (all rows 1e-20 or 1e20, float32 and float64, K = 2..5) → the
  direction of the well-scaled problem, rescaled by the method's declared
  ``scale_equivariance`` (d(sJ) = s^p d(J));
- mixed scales (row norms 1e20, 1e-20, 1, ... in one Jacobian) → finite, float32 agrees with
  float64, and method-specific optimality properties (MGDA non-conflicting and not all weight on
  the huge task, IMTL-G equal projections, Nash-MTL and PCGrad/GradVac per-row scale rules);
- zero Jacobian, one zero row, duplicated rows, K = 1, opposite rows → defined, finite results.

A method that declares ``min_tasks`` (Krum, TrimmedMean: 3) is only run on cases with at least
that many tasks; that it rejects fewer with a clear error is checked once per method below.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

from mtl_lib.aggregators import AGGREGATORS, Aggregator
from mtl_lib.core import NonFiniteError

METHODS = AGGREGATORS.names()
P = 12


def build(name: str, num_params: int = P) -> Aggregator:
    aggregator = AGGREGATORS.build(name)
    if aggregator.acts_on_all_parameters:
        aggregator.bind_all_parameters(["w"], [num_params], [True])
    return aggregator


def call(aggregator: Aggregator, jacobian: torch.Tensor):
    """One step; methods that read the step's losses get unit losses (their scale is not what
    these cases probe)."""
    if aggregator.needs_losses:
        return aggregator(jacobian, losses=torch.ones(jacobian.shape[0], dtype=jacobian.dtype))
    return aggregator(jacobian)


def aggregate(name: str, jacobian: torch.Tensor):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings are counted by the methods
        return call(build(name, jacobian.shape[1]), jacobian)


def min_tasks(name: str) -> int:
    return AGGREGATORS.build(name).min_tasks


def skip_below_min_tasks(name: str, num_tasks: int) -> None:
    """Cases with fewer tasks than the method is defined for: the rejection is checked by
    :func:`test_fewer_tasks_than_min_tasks_is_a_clear_error`."""
    needed = min_tasks(name)
    if num_tasks < needed:
        pytest.skip(f"{name} needs ≥ min_tasks = {needed} tasks, case has {num_tasks}")


def well_scaled(num_tasks: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(num_tasks, P, generator=gen, dtype=torch.float64).to(dtype)


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    actual, expected = actual.double(), expected.double()
    scale = max(float(expected.norm()), float(actual.norm()), 1e-300)
    return float((actual - expected).norm()) / scale


def states_equal(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(states_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(states_equal(x, y) for x, y in zip(a, b))
    return a == b


# ----------------------------------------------------------------------------- non-finite rows
NONFINITE_CASES = [
    ("nan_row1", float("nan"), 1, 3),
    ("inf_row2", float("inf"), 2, 3),
    ("minus_inf_row0", float("-inf"), 0, 2),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("case", "value", "row", "num_tasks"), NONFINITE_CASES, ids=[c[0] for c in NONFINITE_CASES])
def test_nonfinite_row_is_an_error_naming_the_task_and_leaves_state_alone(method, case, value, row, num_tasks):
    skip_below_min_tasks(method, num_tasks)
    aggregator = build(method)
    good = well_scaled(num_tasks, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call(aggregator, good)  # so that stateful methods hold state worth protecting
    before = copy.deepcopy(aggregator.state_dict())
    bad = good.clone()
    bad[row, 5] = value
    with pytest.raises(NonFiniteError, match=f"task {row}") as caught:
        call(aggregator, bad)
    assert caught.value.index == row and caught.value.quantity == "jacobian"
    assert states_equal(aggregator.state_dict(), before)
    # ...and the next good step is the one an aggregator that never saw the bad Jacobian takes.
    reference = build(method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call(reference, good)
        expected = call(reference, good).direction
        actual = call(aggregator, good).direction
    assert torch.equal(actual, expected)


# ----------------------------------------------------------------------------- uniform extreme scales
UNIFORM_CASES = [
    (scale, dtype, num_tasks)
    for scale in (1e-20, 1e20)
    for dtype in (torch.float32, torch.float64)
    for num_tasks in (2, 3, 5)
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("scale", "dtype", "num_tasks"),
    UNIFORM_CASES,
    ids=[f"{s:g}-{str(d)[6:]}-K{k}" for s, d, k in UNIFORM_CASES],
)
def test_uniform_extreme_scale_matches_the_well_scaled_problem(method, scale, dtype, num_tasks):
    skip_below_min_tasks(method, num_tasks)
    jacobian = well_scaled(num_tasks, seed=num_tasks, dtype=dtype)
    direction = aggregate(method, jacobian * scale).direction
    assert direction.dtype == dtype and bool(torch.isfinite(direction).all())
    power = AGGREGATORS.build(method).scale_equivariance
    if power is None:
        # No scale rule (MoCo): the direction must still be finite and not collapse to zero.
        assert float(direction.double().norm()) > 0
        return
    expected = aggregate(method, jacobian).direction.double() * scale**power
    tolerance = 2e-4 if dtype == torch.float32 else 1e-7
    assert relative_error(direction, expected) < tolerance


# ----------------------------------------------------------------------------- mixed scales
MIXED_SCALES = {
    2: [1e20, 1e-20],
    3: [1e20, 1e-20, 1.0],
    5: [1e-20, 1e20, 1.0, 1e10, 1e-10],
}
MIXED_CASES = [(dtype, k) for dtype in (torch.float32, torch.float64) for k in MIXED_SCALES]


def mixed(num_tasks: int, dtype: torch.dtype) -> torch.Tensor:
    scales = torch.tensor(MIXED_SCALES[num_tasks], dtype=torch.float64)[:, None]
    return (well_scaled(num_tasks, seed=10 + num_tasks) * scales).to(dtype)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("dtype", "num_tasks"), MIXED_CASES, ids=[f"{str(d)[6:]}-K{k}" for d, k in MIXED_CASES])
def test_mixed_scales_finite_and_float32_agrees_with_float64(method, dtype, num_tasks):
    skip_below_min_tasks(method, num_tasks)
    jacobian = mixed(num_tasks, dtype)
    out = aggregate(method, jacobian)
    assert bool(torch.isfinite(out.direction).all())
    if out.weights is not None:
        assert bool(torch.isfinite(out.weights).all())
    if out.task_gradients is not None:
        assert bool(torch.isfinite(out.task_gradients).all())
    if dtype == torch.float32 and method != "graddrop":  # GradDrop draws U in J's dtype
        reference = aggregate(method, jacobian.double()).direction
        assert relative_error(out.direction, reference) < 1e-4


def test_mgda_mixed_scales_is_non_conflicting_and_avoids_the_huge_task():
    for num_tasks in MIXED_SCALES:
        for dtype in (torch.float32, torch.float64):
            jacobian = mixed(num_tasks, dtype)
            out = aggregate("mgda", jacobian)
            huge = int(jacobian.double().norm(dim=1).argmax())
            assert float(out.weights[huge]) < 1e-6 * num_tasks
            products = jacobian.double() @ out.direction.double()
            bound = 1e-5 * jacobian.double().norm(dim=1) * out.direction.double().norm()
            assert bool((products >= -bound).all())


def test_imtl_g_mixed_scales_gives_equal_projections_on_unit_gradients():
    for num_tasks in MIXED_SCALES:
        jacobian = mixed(num_tasks, torch.float64)
        direction = aggregate("imtl_g", jacobian).direction
        units = jacobian / jacobian.norm(dim=1, keepdim=True)
        projections = units @ direction
        assert float(projections.min()) > 0
        torch.testing.assert_close(projections, projections.mean().expand(num_tasks), rtol=1e-6, atol=0)


@pytest.mark.parametrize("num_tasks", sorted(MIXED_SCALES))
def test_nash_mtl_is_invariant_to_each_tasks_scale(num_tasks):
    plain = well_scaled(num_tasks, seed=10 + num_tasks)
    for dtype in (torch.float32, torch.float64):
        scaled = mixed(num_tasks, dtype)
        assert relative_error(aggregate("nash_mtl", scaled).direction, aggregate("nash_mtl", plain).direction) < 1e-4


@pytest.mark.parametrize("method", ["pcgrad", "gradvac"])
@pytest.mark.parametrize("num_tasks", sorted(MIXED_SCALES))
def test_projection_methods_scale_each_row_with_its_task(method, num_tasks):
    plain = well_scaled(num_tasks, seed=10 + num_tasks)
    scales = torch.tensor(MIXED_SCALES[num_tasks], dtype=torch.float64)[:, None]
    for dtype in (torch.float32, torch.float64):
        rows = aggregate(method, (plain * scales).to(dtype)).task_gradients
        expected = aggregate(method, plain).task_gradients * scales
        for k in range(num_tasks):
            assert relative_error(rows[k], expected[k]) < 1e-4


# ----------------------------------------------------------------------------- structural degeneracy
def _zero(k):
    return torch.zeros(k, P, dtype=torch.float64)


def _zero_row(k):
    jacobian = well_scaled(k, seed=4)
    jacobian[1] = 0.0
    return jacobian


def _duplicates(k):
    return well_scaled(1, seed=5).expand(k, P).clone()


def _near_duplicates_float32(k):
    # Rows that agree to 1e-6: their second eigenvalue (~1e-12 of the first) is below float32's
    # rank cut-off K·eps·λ_max but above float64's; the Gram matrix is held in float64, so the
    # cut-off must follow the gradients' dtype (Aligned-MTL would otherwise shrink d ~1e6-fold).
    g = well_scaled(1, seed=7)
    noise = torch.randn(k, P, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    return (g + 1e-6 * noise * g.abs()).to(torch.float32)


def _opposite(k):
    g = well_scaled(1, seed=6)
    return torch.cat([g, -g])


DEGENERATE_CASES = [
    ("all_zero", _zero, 3),
    ("one_zero_row", _zero_row, 3),
    ("duplicated_rows", _duplicates, 3),
    ("single_task", _duplicates, 1),
    ("near_duplicates_float32", _near_duplicates_float32, 3),
    ("opposite_rows", _opposite, 2),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("case", "make", "num_tasks"), DEGENERATE_CASES, ids=[c[0] for c in DEGENERATE_CASES])
def test_structurally_degenerate_jacobians_give_defined_results(method, case, make, num_tasks):
    skip_below_min_tasks(method, num_tasks)
    jacobian = make(num_tasks)
    out = aggregate(method, jacobian)
    assert bool(torch.isfinite(out.direction).all())
    if case == "all_zero":
        assert float(out.direction.abs().max()) == 0.0
    if case in ("duplicated_rows", "single_task", "near_duplicates_float32"):
        # Every row is (numerically) the same g: any sensible method moves along +g, by a
        # non-negligible step (Nash-MTL's is clipped to norm 1).
        g, d = jacobian[0].double(), out.direction.double()
        assert float(d @ g) / (float(d.norm()) * float(g.norm())) > 1 - 1e-6
        assert float(d.norm()) > 0.1 * min(float(g.norm()), 1.0)


@pytest.mark.parametrize("method", [m for m in METHODS if min_tasks(m) > 1])
def test_fewer_tasks_than_min_tasks_is_a_clear_error(method):
    needed = min_tasks(method)
    for num_tasks in range(1, needed):
        with pytest.raises(ValueError, match=f"at least {needed} tasks, got {num_tasks}"):
            aggregate(method, well_scaled(num_tasks))
