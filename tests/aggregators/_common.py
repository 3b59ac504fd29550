"""Checks shared by the tests of the Gramian-weighted aggregators (MGDA, CAGrad, Nash-MTL,
IMTL-G, Aligned-MTL)."""

from __future__ import annotations

import torch

from mtl_lib.engine import Trainer
from tests._asserts import (
    assert_permutation_equivariant,
    assert_permutation_invariant,
    train_and_check,
)
from tests.helpers import REFERENCE_JACOBIAN

REFERENCE_J = REFERENCE_JACOBIAN
SIZES = [(k, p) for k in (2, 3, 5) for p in (10, 1000, 10_000)]


def random_jacobian(num_tasks: int, num_params: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1000 * num_tasks + num_params + seed)
    return torch.randn(num_tasks, num_params, generator=gen, dtype=torch.float64)


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖: element-wise relative errors are meaningless for near-zero entries."""
    return float((a - b).norm() / b.norm())


def check_permutation_equivariance(aggregator_factory, jacobian: torch.Tensor) -> None:
    """Permuting the tasks permutes the weights and leaves the direction unchanged (tests/
    test_values.py checks this for every registered method that promises it)."""
    assert_permutation_equivariant(lambda j: aggregator_factory().weights_from_gram(j @ j.T), jacobian, rtol=1e-6)
    assert_permutation_invariant(lambda j: aggregator_factory()(j).direction, jacobian, rtol=1e-6)


def train_20_steps(name: str, num_tasks: int, **trainer_kwargs) -> Trainer:
    """Train tiny_model(K) with aggregator ``name`` for 20 steps (Adam 1e-2) through
    :func:`tests._asserts.train_and_check`."""
    return train_and_check(num_tasks, aggregator=name, lr=1e-2, **trainer_kwargs)
