import warnings

import pytest
import torch

from mtl_lib.core import jacobian as jac
from mtl_lib.core.jacobian import (
    BatchedJacobianFallbackWarning,
    flatten_rows,
    task_jacobians,
    unflatten_into_grads,
)
from tests.helpers import regression_batches, tiny_model


def _losses(model, batch):
    x, *ys = batch
    preds = model(x)
    return torch.stack([torch.nn.functional.mse_loss(p, y) for p, y in zip(preds, ys)])


@pytest.mark.parametrize("num_tasks", [1, 2, 3, 5])
def test_rows_equal_each_tasks_own_autograd_grad(num_tasks):
    model = tiny_model(num_tasks)
    batch = regression_batches(num_tasks)[0]
    params = model.shared_parameters()
    batched = flatten_rows(task_jacobians(_losses(model, batch), params))
    assert batched.shape == (num_tasks, sum(p.numel() for p in params))
    for k in range(num_tasks):
        own = torch.autograd.grad(_losses(model, batch)[k], params)
        expected = torch.cat([g.reshape(-1) for g in own])
        torch.testing.assert_close(batched[k], expected, rtol=1e-5, atol=1e-6)


def test_unreached_parameters_get_zero_rows():
    model = tiny_model(2)
    batch = regression_batches(2)[0]
    head0 = list(model.heads[0].parameters())
    grads = task_jacobians(_losses(model, batch), head0)
    assert all(torch.count_nonzero(g[1]) == 0 for g in grads)
    assert any(torch.count_nonzero(g[0]) > 0 for g in grads)


def test_fallback_warns_once_and_agrees(monkeypatch):
    model = tiny_model(3)
    batch = regression_batches(3)[0]
    params = model.shared_parameters()
    reference = flatten_rows(task_jacobians(_losses(model, batch), params))

    real_grad = torch.autograd.grad

    def no_batching(*args, **kwargs):
        if kwargs.get("is_grads_batched"):
            raise RuntimeError("Batching rule not implemented for aten::fake_op")
        return real_grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", no_batching)
    monkeypatch.setattr(jac, "_warned_fallback", False)
    with pytest.warns(BatchedJacobianFallbackWarning, match="fake_op"):
        looped = flatten_rows(task_jacobians(_losses(model, batch), params))
    torch.testing.assert_close(looped, reference, rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second fallback must stay silent
        task_jacobians(_losses(model, batch), params)


def test_unflatten_round_trip_and_size_check():
    model = tiny_model(2)
    params = model.shared_parameters()
    total = sum(p.numel() for p in params)
    vector = torch.arange(total, dtype=torch.float32)
    unflatten_into_grads(vector, params)
    torch.testing.assert_close(torch.cat([p.grad.reshape(-1) for p in params]), vector)
    with pytest.raises(ValueError):
        unflatten_into_grads(torch.zeros(total + 1), params)


def test_losses_must_be_a_vector():
    model = tiny_model(2)
    with pytest.raises(ValueError, match="vector"):
        task_jacobians(_losses(model, regression_batches(2)[0]).sum(), model.shared_parameters())
