"""DB-MTL against a plain re-statement of LibMTL's update, and through the engine."""

import pytest
import torch

from mtl_lib.aggregators import AGGREGATORS, DBMTL
from tests.aggregators._common import train_20_steps


def _problem(seed):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(3, 2, 6, generator=gen, dtype=torch.float64)
    scales = torch.tensor([1.0, 10.0, 0.1], dtype=torch.float64)
    return a, scales


def _losses(theta, a, scales):
    return scales * ((a @ theta) ** 2).sum(1) + 0.05


@pytest.mark.parametrize(("beta", "beta_sigma"), [(0.9, 0.0), (0.5, 0.5)])
def test_matches_a_plain_restatement(beta, beta_sigma):
    a, scales = _problem(0)
    gen = torch.Generator().manual_seed(1)
    ours = DBMTL(beta=beta, beta_sigma=beta_sigma)
    buffer = torch.zeros(3, 6, dtype=torch.float64)
    for step in range(1, 8):
        theta = torch.randn(6, generator=gen, dtype=torch.float64).requires_grad_(True)
        losses = _losses(theta, a, scales)
        # re-statement: gradients of log(L_k + 1e-8) by autograd, EMA, rescale to the largest norm
        log_grads = torch.stack(
            [torch.autograd.grad(torch.log(losses[k] + 1e-8), theta, retain_graph=True)[0] for k in range(3)]
        )
        buffer = log_grads + beta / step**beta_sigma * (buffer - log_grads)
        norms = buffer.norm(dim=1)
        expected = sum(norms.max() / (norms[k] + 1e-8) * buffer[k] for k in range(3))
        jac = torch.stack([torch.autograd.grad(losses[k], theta, retain_graph=True)[0] for k in range(3)])
        out = ours(jac, losses=losses.detach())
        torch.testing.assert_close(out.direction, expected)
        # every task's row has the same norm
        torch.testing.assert_close(out.task_gradients.norm(dim=1), norms.max().expand(3))


def test_loss_scale_invariance_and_errors():
    gen = torch.Generator().manual_seed(2)
    jac = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    losses = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    # multiplying a task's loss by c multiplies its gradient by c: log-gradients unchanged
    scaled = torch.tensor([100.0, 1.0, 0.01], dtype=torch.float64)
    torch.testing.assert_close(
        DBMTL()(scaled[:, None] * jac, losses=scaled * losses).direction,
        DBMTL()(jac, losses=losses).direction,
    )
    perm = torch.tensor([2, 0, 1])
    torch.testing.assert_close(DBMTL()(jac[perm], losses=losses[perm]).direction, DBMTL()(jac, losses=losses).direction)
    with pytest.raises(ValueError, match="losses"):
        DBMTL()(jac)
    assert AGGREGATORS.build("db_mtl").needs_losses


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    train_20_steps("db_mtl", num_tasks)


def test_a_negative_loss_is_refused_instead_of_flipping_its_gradient():
    # issue 25: ∇L/L with L < 0 points up the loss; the error names the task and the fix
    jac = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"task\(s\) \[1\].*min_losses"):
        DBMTL()(jac, losses=torch.tensor([1.0, -0.5], dtype=torch.float64))
    # with a lower bound below the infimum the task descends its loss
    out = DBMTL(min_losses=[-1.0, -1.0])(jac, losses=torch.tensor([1.0, -0.5], dtype=torch.float64))
    assert float(jac[1] @ out.direction) > 0
