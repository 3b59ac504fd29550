"""The dual-cone solver (mtl_lib.aggregators._dual_cone): the non-negative QP is solved exactly
(checked against enumerating every active set), UPGrad's K projections share one
preconditioning without changing a number, and the Cholesky solve falls back to LU."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mtl_lib.aggregators._dual_cone import (
    _solve_positive_definite,
    nonnegative_qp,
    nonnegative_qp_array,
    normalized_regularized_gram,
    project_each,
    project_weights,
)


def _conflicting_gram(k: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    rows = torch.randn(k, 8, generator=gen, dtype=torch.float64)
    rows[1:] -= 0.8 * rows[0]  # every task conflicts with the first one
    return rows @ rows.T + 1e-6 * torch.eye(k, dtype=torch.float64)


def _brute_force_qp(q: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The KKT point of min_{x ≥ 0} ½xᵀQx + cᵀx found by trying every support."""
    k = q.shape[0]
    for size in range(k + 1):
        for support in itertools.combinations(range(k), size):
            x = np.zeros(k)
            if support:
                s = list(support)
                x[s] = np.linalg.solve(q[np.ix_(s, s)], -c[s])
            gradient = q @ x + c
            if (x >= -1e-12).all() and (gradient >= -1e-9).all():
                return x
    raise AssertionError("no KKT point")


@pytest.mark.parametrize("seed", range(6))
def test_the_active_set_solution_is_the_kkt_point(seed: int) -> None:
    q = _conflicting_gram(6, seed).numpy()
    c = np.random.default_rng(seed).normal(size=6)
    np.testing.assert_allclose(nonnegative_qp_array(q, c), _brute_force_qp(q, c), atol=1e-10, rtol=1e-9)


def test_the_torch_entry_point_returns_float64_on_the_cpu() -> None:
    q = _conflicting_gram(4, 0)
    x = nonnegative_qp(q.float(), -torch.ones(4))
    assert x.dtype == torch.float64 and x.device.type == "cpu"
    assert bool((x >= 0).all())


def test_project_each_is_the_sum_of_the_single_projections() -> None:
    gram = _conflicting_gram(10, 3)
    pref = torch.linspace(0.5, 2.0, 10, dtype=torch.float64)
    single = sum(project_weights(torch.eye(10, dtype=torch.float64)[k] * pref[k], gram) for k in range(10))
    torch.testing.assert_close(project_each(pref, gram), single, rtol=1e-12, atol=0.0)


def test_a_matrix_that_is_not_positive_definite_is_solved_by_lu() -> None:
    matrix = np.array([[0.0, 1.0], [1.0, 0.0]])  # Cholesky fails on it (dposv info > 0)
    np.testing.assert_allclose(_solve_positive_definite(matrix, np.array([2.0, 3.0])), [3.0, 2.0])


def test_the_least_squares_route_and_the_active_set_route_agree() -> None:
    from mtl_lib.aggregators._dual_cone import _Projector

    # what UPGrad's QP sees (normalised, with its ridge; condition number ~7e4): both routes
    # meet the KKT conditions to ~1e-16 and differ by round-off times that condition
    gram = normalized_regularized_gram(_conflicting_gram(20, 5), 0.0, 1e-4)
    fast = _Projector(gram)
    slow = _Projector(gram)
    slow.factor_t = None  # what a gram without a Cholesky factor gets
    assert fast.factor_t is not None
    for k in range(20):
        unit = np.eye(20)[k]
        np.testing.assert_allclose(fast.project(unit), slow.project(unit), rtol=1e-9, atol=1e-12)


def test_a_gram_without_a_cholesky_factor_is_projected_by_the_active_set_solver() -> None:
    from mtl_lib.aggregators._dual_cone import _Projector

    gram = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)  # singular: g_2 = -g_1
    gram[1, 1] -= 1e-12  # and not even semi-definite: no Cholesky factor
    projector = _Projector(gram)
    assert projector.factor_t is None
    assert np.isfinite(projector.project(np.array([1.0, 0.0]))).all()
