"""Checks shared by the tests of the Gramian-weighted aggregators (MGDA, CAGrad, Nash-MTL,
IMTL-G, Aligned-MTL)."""

from __future__ import annotations

import math

import torch

from mtl_lib.engine import Trainer
from tests.helpers import regression_batches, regression_tasks, tiny_model

REFERENCE_J = torch.tensor([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
SIZES = [(k, p) for k in (2, 3, 5) for p in (10, 1000, 10_000)]


def random_jacobian(num_tasks: int, num_params: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1000 * num_tasks + num_params + seed)
    return torch.randn(num_tasks, num_params, generator=gen, dtype=torch.float64)


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖: element-wise relative errors are meaningless for near-zero entries."""
    return float((a - b).norm() / b.norm())


def check_permutation_equivariance(aggregator_factory, jacobian: torch.Tensor) -> None:
    """Permuting the tasks permutes the weights and leaves the direction unchanged."""
    perm = torch.randperm(jacobian.shape[0], generator=torch.Generator().manual_seed(3))
    gram = jacobian @ jacobian.T
    weights = aggregator_factory().weights_from_gram(gram)
    permuted = aggregator_factory().weights_from_gram(gram[perm][:, perm])
    torch.testing.assert_close(permuted, weights[perm], rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(
        aggregator_factory()(jacobian[perm]).direction,
        aggregator_factory()(jacobian).direction,
        rtol=1e-6,
        atol=1e-9,
    )


def train_20_steps(name: str, num_tasks: int, **trainer_kwargs) -> Trainer:
    """Train tiny_model(K) for 20 steps through the engine; assert finite losses and that every
    shared parameter tensor moved."""
    model = tiny_model(num_tasks)
    before = [p.detach().clone() for p in model.shared_parameters()]
    trainer = Trainer(
        model,
        regression_tasks(num_tasks),
        aggregator=name,
        optimizer="adam",
        lr=1e-2,
        device="cpu",
        progress=False,
        **trainer_kwargs,
    )
    batches = regression_batches(num_tasks)
    losses = []
    while trainer.step_count < 20:
        for batch in batches:
            losses.append(trainer.train_step(batch))
            if trainer.step_count == 20:
                break
    assert all(math.isfinite(v) for loss in losses for v in loss.tolist())
    assert all(not torch.equal(a, b) for a, b in zip(before, model.shared_parameters()))
    return trainer
