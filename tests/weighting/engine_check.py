"""Shared check for the weighting tests: train tests.helpers.tiny_model(K) through the Trainer."""

from __future__ import annotations

import torch

from mtl_lib.engine import Trainer
from tests.helpers import regression_batches, regression_tasks, tiny_model


def train_through_engine(weighting, num_tasks: int, aggregator=None, epochs: int = 5, **weighting_kwargs):
    """Train for ``epochs`` × 4 batches (20 steps at the default); assert finite losses and an
    updated shared encoder; return the trainer."""
    model = tiny_model(num_tasks)
    before = [p.detach().clone() for p in model.shared_parameters()]
    trainer = Trainer(
        model,
        regression_tasks(num_tasks),
        weighting=weighting,
        aggregator=aggregator,
        weighting_kwargs=weighting_kwargs,
        device="cpu",
        progress=False,
    )
    history = trainer.fit(regression_batches(num_tasks), epochs=epochs)
    assert trainer.step_count == 4 * epochs
    for record in history:
        for k in range(num_tasks):
            assert torch.isfinite(torch.tensor(record[f"train_loss/t{k}"])), record
    assert any(not torch.equal(a, b) for a, b in zip(before, model.shared_parameters()))
    for p in model.parameters():
        assert torch.isfinite(p).all()
    return trainer
