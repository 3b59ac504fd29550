"""Agreement with TorchJD 0.18 for the aggregators TorchJD also has (UPGrad, DualProj, ConFIG,
FairGrad, ExcessMTL, MoDo, SDMGrad, Krum, TrimmedMean, CR-MOGM): one fixed and many random
Jacobians, K = 2..5, several seeds, conflict forced between the first two tasks. Stateful methods
are compared over a sequence of Jacobians, so their state updates are checked too."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch

from tests.aggregators._common import REFERENCE_J, relative_difference

TOLERANCE = 1e-5
SEEDS = (0, 1, 2)
TASK_COUNTS = (2, 3, 4, 5)


def conflicting_jacobians(num_tasks: int, seed: int, steps: int = 1, num_params: int = 40):
    """``steps`` random (K, P) float64 Jacobians with task 1 pulled against task 0."""
    gen = torch.Generator().manual_seed(100 * num_tasks + seed)
    out = []
    for _ in range(steps):
        jac = torch.randn(num_tasks, num_params, generator=gen, dtype=torch.float64)
        jac[1] = -0.7 * jac[0] + 0.5 * jac[1]
        out.append(jac)
    return out


def max_difference(ours, theirs, jacobians, scale: float) -> float:
    """Worst relative difference ‖ours/scale − theirs‖/‖theirs‖ over a sequence of calls."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return max(relative_difference(ours(jac).direction / scale, theirs(jac)) for jac in jacobians)


def check_agreement(
    ours_factory: Callable,
    theirs_factory: Callable,
    *,
    num_tasks: int,
    seed: int,
    sum_scale: bool = True,
    steps: int = 1,
) -> float:
    """Assert agreement to :data:`TOLERANCE`; return the worst relative difference."""
    pytest.importorskip("torchjd.aggregation")
    scale = num_tasks if sum_scale else 1
    diff = max_difference(ours_factory(), theirs_factory(), conflicting_jacobians(num_tasks, seed, steps), scale)
    assert diff < TOLERANCE, diff
    return diff


def check_reference_agreement(ours_factory, theirs_factory, sum_scale: bool = True) -> None:
    """TorchJD's documentation example J = [[-4, 1, 1], [6, 1, 1]]."""
    pytest.importorskip("torchjd.aggregation")
    jac = REFERENCE_J.double()
    scale = 2 if sum_scale else 1
    assert max_difference(ours_factory(), theirs_factory(), [jac], scale) < TOLERANCE


def check_scale(factory, jac: torch.Tensor, power: float = 1.0) -> None:
    """Rescaling J by c rescales the direction by c**power (1: linear; 0: invariant)."""
    torch.testing.assert_close(
        factory()(3.0 * jac).direction, 3.0**power * factory()(jac).direction, rtol=1e-6, atol=1e-9
    )


def check_permutation(factory, jac: torch.Tensor) -> None:
    """Permuting the tasks leaves the direction unchanged."""
    perm = torch.randperm(jac.shape[0], generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(factory()(jac[perm]).direction, factory()(jac).direction, rtol=1e-6, atol=1e-9)


def check_non_conflicting(factory, seeds=range(10)) -> None:
    """g_k · d ≥ 0 for every task on conflicting random Jacobians."""
    for seed in seeds:
        for num_tasks in TASK_COUNTS:
            (jac,) = conflicting_jacobians(num_tasks, seed)
            direction = factory()(jac).direction
            assert torch.all(jac @ direction >= -1e-9 * jac.norm(dim=1).max() ** 2), (
                seed,
                num_tasks,
            )


def check_non_conflicting_up_to_regularisation(factory) -> None:
    """For the dual-cone methods (UPGrad, DualProj): exactly non-conflicting without the
    regularisation; with it, the QP's constraints hold for G/tr(G) + ridge, i.e.
    g_k·d ≥ −ε·G_kk·w_k (the per-task ridge; TorchJD's ε·tr(G)·I is looser)."""
    check_non_conflicting(lambda: factory(reg_eps=0.0))
    for num_tasks in TASK_COUNTS:
        (jac,) = conflicting_jacobians(num_tasks, seed=7)
        out = factory()(jac)
        slack = 1e-4 * (jac * jac).sum(dim=1) * out.weights.abs()
        assert torch.all(jac @ out.direction >= -slack * (1 + 1e-9) - 1e-12)


def spread_jacobians(dtype: torch.dtype, count: int = 100, norms=(1.0, 0.1, 0.01)) -> list[torch.Tensor]:
    """Random full-row-rank (3, 20) Jacobians whose rows have the given norms (issue 24: the
    dual-cone methods conflicted with the smallest task at norms 1 / 0.1 / 0.01)."""
    gen = torch.Generator().manual_seed(0)
    scale = torch.tensor(norms, dtype=torch.float64)[:, None]
    out = []
    for _ in range(count):
        jac = torch.randn(len(norms), 20, generator=gen, dtype=torch.float64)
        out.append((jac / jac.norm(dim=1, keepdim=True) * scale).to(dtype))
    return out


def worst_cosine(aggregate: Callable[[torch.Tensor], torch.Tensor], jacobians: list[torch.Tensor]) -> float:
    """min over the Jacobians and their tasks of cos(g_k, d), in float64."""
    worst = 1.0
    for jac in jacobians:
        d = aggregate(jac).double()
        rows = jac.double()
        worst = min(worst, float(((rows @ d) / (rows.norm(dim=1) * d.norm())).min()))
    return worst
