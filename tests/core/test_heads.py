"""The head split gives the same task gradients as the full vmapped Jacobian."""

import torch
from torch import nn

from mtl_lib.core.heads import HeadSplit, find_heads
from mtl_lib.core.jacobian import task_jacobians, vector_jacobian_rows
from tests.helpers import regression_batches, tiny_model


def test_split_rows_and_head_gradients_equal_the_full_jacobian():
    model = tiny_model(3)
    x, *ys = regression_batches(3)[0]
    per_task = [model.task_parameters(k) for k in range(3)]
    split = HeadSplit.for_model(model, per_task)
    assert split is not None and split.heads == list(model.heads)
    with split.capture():
        preds = model(x)
    losses = torch.stack([nn.functional.mse_loss(p, y) for p, y in zip(preds, ys)])
    assert split.usable
    heads_flat = [p for params in per_task for p in params]
    zeta, own = split.representation_gradients(losses, heads_flat)
    shared = vector_jacobian_rows(split.features, model.shared_parameters(), zeta, retain_graph=True)
    full = task_jacobians(losses, model.shared_parameters() + heads_flat)
    for ours, reference in zip(shared, full):
        torch.testing.assert_close(ours, reference, rtol=1e-6, atol=1e-7)
    offset = len(model.shared_parameters())
    for k, params in enumerate(per_task):
        for i, _ in enumerate(params):
            torch.testing.assert_close(own[sum(map(len, per_task[:k])) + i], full[offset][k])
            offset += 1


def test_no_split_when_task_parameters_are_not_one_module():
    model = tiny_model(2)
    per_task = [[model.heads[0].weight], [model.heads[1].weight, model.heads[1].bias]]
    assert find_heads(model, per_task) is None


def test_heads_reading_different_tensors_are_not_usable():
    model = tiny_model(2)
    split = HeadSplit(list(model.heads))
    x = torch.randn(4, 6)
    with split.capture():
        z = model.encode(x)
        model.heads[0](z)
        model.heads[1](z * 2)
    assert not split.usable and "different tensors" in split.reason


def test_evaluation_forward_passes_are_untouched():
    model = tiny_model(2)
    split = HeadSplit(list(model.heads))
    model(torch.randn(4, 6))  # not captured: no alias kept
    assert split.features is None and split.aliases == [None, None]
