"""``jacobian_of="representation"`` on the library's convolutional architectures: the step is
MGDA-UB's (weights from the representation's Gramian, one backward of Σ_k w_k L_k), checked
against a direct computation, and every Gramian-weighted aggregator runs through it."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from mtl_lib.aggregators import AGGREGATORS, GramianWeightedAggregator
from mtl_lib.aggregators.mgda import MGDA
from mtl_lib.architectures.dense import dense_segnet
from mtl_lib.architectures.leaf_cnn import LeafCNN
from mtl_lib.core import Task
from mtl_lib.core.jacobian import flatten_rows, task_jacobians
from mtl_lib.engine import Trainer


def _leaf_case():
    torch.manual_seed(0)
    model = LeafCNN(num_classes=(5, 2), channels=(4, 8), fc=(16, 8), image_size=16)
    gen = torch.Generator().manual_seed(1)
    batch = (torch.rand(6, 3, 16, 16, generator=gen), torch.randint(0, 5, (6,), generator=gen),
             torch.randint(0, 2, (6,), generator=gen))  # fmt: skip
    tasks = [
        Task("species", nn.functional.cross_entropy),
        Task("health", nn.functional.cross_entropy),
    ]
    return model, tasks, batch


def _dense_case():
    torch.manual_seed(0)
    model = dense_segnet(width=4, out_channels=(3, 1), task_names=("seg", "depth"), depth=2)
    gen = torch.Generator().manual_seed(1)
    batch = (torch.rand(2, 3, 8, 8, generator=gen), torch.randint(0, 3, (2, 8, 8), generator=gen),
             torch.rand(2, 1, 8, 8, generator=gen))  # fmt: skip
    tasks = [Task("seg", nn.functional.cross_entropy), Task("depth", nn.functional.l1_loss)]
    return model, tasks, batch


CASES = {"leaf_cnn": _leaf_case, "dense_segnet": _dense_case}


@pytest.mark.parametrize("case", sorted(CASES))
def test_representation_step_is_mgda_ub(case):
    model, tasks, batch = CASES[case]()
    reference = copy.deepcopy(model)
    trainer = Trainer(model, tasks, aggregator="mgda", optimizer="sgd", lr=0.0, jacobian_of="representation",
                      device="cpu", progress=False)  # fmt: skip
    trainer.train_step(batch)
    got = torch.cat([p.grad.reshape(-1) for p in model.shared_parameters()])

    x, *ys = batch
    z = reference.encode(x)
    losses = torch.stack([t.loss(p, y) for t, p, y in zip(tasks, reference.decode(z), ys)])
    (z_jac,) = task_jacobians(losses, [z], retain_graph=True, batched=False)
    z_jac = z_jac.reshape(len(tasks), -1)
    weights = MGDA().weights_from_gram(z_jac @ z_jac.T)
    theta_jac = flatten_rows(task_jacobians(losses, reference.shared_parameters(), retain_graph=True, batched=False))
    expected = weights @ theta_jac
    assert float((got - expected).norm() / expected.norm()) < 1e-5
    torch.testing.assert_close(trainer.last_aggregation.direction, weights @ z_jac, rtol=1e-5, atol=1e-7)
    # Heads get their own loss's gradient, scaled by the task's weight.
    for k in range(len(tasks)):
        head = torch.autograd.grad(losses[k], reference.task_parameters(k), retain_graph=True)
        for p, g in zip(model.task_parameters(k), head):
            torch.testing.assert_close(p.grad, weights[k] * g, rtol=1e-5, atol=1e-7)


GRAMIAN = sorted(
    name
    for name in AGGREGATORS.names()
    if isinstance(AGGREGATORS.build(name), GramianWeightedAggregator)
    and AGGREGATORS.build(name).min_tasks <= 2  # the leaf case has two tasks
)


@pytest.mark.parametrize("name", GRAMIAN)
def test_every_gramian_aggregator_trains_at_the_representation_level(name):
    model, tasks, batch = _leaf_case()
    kwargs = {"granularity": "whole"} if name == "gradvac" else {}
    trainer = Trainer(model, tasks, aggregator=name, aggregator_kwargs=kwargs, jacobian_of="representation",
                      device="cpu", progress=False)  # fmt: skip
    before = [p.detach().clone() for p in model.shared_parameters()]
    for _ in range(2):
        losses = trainer.train_step(batch)
    assert torch.isfinite(losses).all()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.shared_parameters()))


def test_projection_methods_are_among_the_representation_level_ones():
    assert {"pcgrad", "gradvac", "mgda", "cagrad", "imtl_g"} <= set(GRAMIAN)


@pytest.mark.parametrize("kwargs", [{"modulation": True}])
def test_task_conditioned_leaf_cnn_has_no_shared_representation(kwargs):
    model = LeafCNN(num_classes=(5, 2), channels=(4, 8), fc=(16, 8), image_size=16, **kwargs)
    tasks = [
        Task("species", nn.functional.cross_entropy),
        Task("health", nn.functional.cross_entropy),
    ]
    with pytest.raises(ValueError, match="task-conditioned trunk"):
        Trainer(model, tasks, aggregator="mgda", jacobian_of="representation", device="cpu")
    with pytest.raises(ValueError, match="jacobian_of='parameters'"):
        model.encode(torch.rand(2, 3, 16, 16))
