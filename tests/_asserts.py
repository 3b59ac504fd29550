"""Property assertions shared by the tests: what a method promises about its output, checked
the same way for every method that promises it (after TorchJD's ``_asserts.py``).

Also :func:`train_and_check`, the one "train a few steps through the engine and check that it
learned something finite" helper.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from mtl_lib.engine import Trainer
from tests.helpers import regression_batches, regression_tasks, tiny_model


def assert_finite(*tensors: torch.Tensor | None) -> None:
    """Every given tensor is free of NaN and ±inf (``None`` is skipped)."""
    for t in tensors:
        if t is not None:
            assert torch.isfinite(t).all(), f"non-finite values in {t}"


def assert_non_conflicting(jacobian: torch.Tensor, direction: torch.Tensor, atol: float = 1e-6) -> None:
    """The direction conflicts with no task: ⟨g_k, d⟩ ≥ 0 for every row g_k of the Jacobian
    (up to ``atol`` relative to ‖g_k‖‖d‖)."""
    products = jacobian @ direction
    tolerance = atol * jacobian.norm(dim=1) * direction.norm()
    assert (products >= -tolerance).all(), f"⟨g_k, d⟩ = {products.tolist()} (some task is hurt)"


def assert_scaling(
    aggregate: Callable[[torch.Tensor], torch.Tensor],
    jacobian: torch.Tensor,
    degree: int,
    factors: Sequence[float] = (0.5, 3.0),
    rtol: float = 1e-5,
) -> None:
    """Scaling every task gradient by c > 0 scales the direction by c**degree (1: the method
    is positively homogeneous, like the sum; 0: it ignores the overall scale)."""
    base = aggregate(jacobian)
    for c in factors:
        scaled = aggregate(c * jacobian)
        expected = (c**degree) * base
        error = float((scaled - expected).norm() / max(float(expected.norm()), 1e-12))
        assert error < rtol, f"d({c}·J) ≠ {c}^{degree}·d(J): relative error {error:.2e}"


def _permutation(n: int, seed: int) -> torch.Tensor:
    """A seeded permutation of ``range(n)`` that is not the identity."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm.flip(0) if torch.equal(perm, torch.arange(n)) else perm


def assert_permutation_invariant(
    aggregate: Callable[[torch.Tensor], torch.Tensor], jacobian: torch.Tensor, rtol: float = 1e-5, seed: int = 3
) -> None:
    """Reordering the tasks leaves the direction unchanged."""
    perm = _permutation(jacobian.shape[0], seed)
    base, permuted = aggregate(jacobian), aggregate(jacobian[perm])
    error = float((permuted - base).norm() / max(float(base.norm()), 1e-12))
    assert error < rtol, f"permuting the tasks {perm.tolist()} changed the direction (relative error {error:.2e})"


def assert_permutation_equivariant(
    weigh: Callable[[torch.Tensor], torch.Tensor], values: torch.Tensor, rtol: float = 1e-5, seed: int = 3
) -> None:
    """Reordering the tasks' inputs reorders the per-task outputs the same way."""
    perm = _permutation(values.shape[0], seed)
    torch.testing.assert_close(weigh(values[perm]), weigh(values)[perm], rtol=rtol, atol=1e-9)


def train_and_check(
    num_tasks: int = 2,
    *,
    model: Any = None,
    tasks: Sequence[Any] | None = None,
    batches: Sequence[Any] | None = None,
    steps: int = 20,
    every_shared_tensor_moves: bool = True,
    **trainer_kwargs: Any,
) -> Trainer:
    """Train through the engine (by default ``tiny_model(num_tasks)`` on 4 regression batches,
    Adam 1e-3) for at least ``steps`` steps of whole epochs; assert finite training losses in
    every epoch, finite parameters, and that the shared parameters moved (every shared tensor,
    or at least one). Returns the trainer for further checks."""
    model = tiny_model(num_tasks) if model is None else model
    tasks = regression_tasks(num_tasks) if tasks is None else tasks
    batches = regression_batches(num_tasks) if batches is None else batches
    trainer_kwargs = {"optimizer": "adam", "lr": 1e-3, "device": "cpu", "progress": False, **trainer_kwargs}
    before = [p.detach().clone() for p in model.shared_parameters()]
    trainer = Trainer(model, list(tasks), **trainer_kwargs)
    while trainer.step_count < steps:
        trainer.fit(batches, epochs=1)
    for record in trainer.history:
        losses = [v for k, v in record.items() if k.endswith("/train_loss")]
        assert losses and all(math.isfinite(v) for v in losses), record
    for p in model.parameters():
        assert torch.isfinite(p).all()
    moved = [not torch.equal(a, b) for a, b in zip(before, model.shared_parameters())]
    if every_shared_tensor_moves:
        assert all(moved), "every shared parameter tensor must receive an update"
    else:
        assert any(moved), "the shared parameters must receive an update"
    return trainer
