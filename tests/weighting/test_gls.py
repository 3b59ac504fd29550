import warnings

import pytest
import torch

from mtl_lib.weighting import ZeroLossWarning
from mtl_lib.weighting.gls import GLS
from tests._asserts import train_and_check


def test_value_is_k_times_the_geometric_mean():
    losses = torch.tensor([1.0, 4.0, 16.0])  # geometric mean 4
    terms = GLS()(losses)
    torch.testing.assert_close(terms.sum(), torch.tensor(12.0))
    torch.testing.assert_close(terms, torch.full((3,), 4.0))  # each term is K·G/K
    torch.testing.assert_close(GLS(sum_scale=False)(losses).sum(), torch.tensor(4.0))


def test_gradient_equals_the_geometric_means_gradient():
    gen = torch.Generator().manual_seed(0)
    theta = torch.randn(5, generator=gen, requires_grad=True)
    features = torch.randn(3, 5, generator=gen)

    def losses_of(t):
        return (features @ t) ** 2 + 0.1  # three positive losses of one parameter vector

    for sum_scale, scale in ((True, 3.0), (False, 1.0)):
        (ours,) = torch.autograd.grad(GLS(sum_scale=sum_scale)(losses_of(theta)).sum(), theta)
        (reference,) = torch.autograd.grad(scale * losses_of(theta).prod() ** (1 / 3), theta)
        torch.testing.assert_close(ours, reference)


def test_per_task_rows_are_the_weighted_task_gradients():
    losses = torch.tensor([0.5, 2.0], requires_grad=True)
    terms = GLS()(losses)
    jac = torch.stack([torch.autograd.grad(terms[k], losses, retain_graph=True)[0] for k in range(2)])
    geometric_mean = 1.0
    # d term_k / dL = (K·G/(K·L_k)) e_k: diagonal, the small loss weighted more.
    torch.testing.assert_close(jac, torch.diag(geometric_mean / losses.detach()))


def test_equal_losses_give_equal_weighting():
    losses = torch.tensor([2.5, 2.5, 2.5], requires_grad=True)
    terms = GLS()(losses)
    torch.testing.assert_close(terms.detach(), losses.detach())
    (grad,) = torch.autograd.grad(terms.sum(), losses)
    torch.testing.assert_close(grad, torch.ones(3))


def test_permuting_tasks_permutes_terms():
    losses = torch.tensor([0.3, 5.0, 1.7])
    perm = torch.tensor([2, 0, 1])
    torch.testing.assert_close(GLS()(losses[perm]), GLS()(losses)[perm])


def test_zero_loss_is_finite_and_reported():
    # issue 25: a zero loss makes the geometric mean 0, so the other task's weight is 0 too
    losses = torch.tensor([0.0, 3.0], requires_grad=True)
    with pytest.warns(ZeroLossWarning, match=r"task\(s\) \[0\].*other tasks stop training"):
        terms = GLS()(losses)
    (grad,) = torch.autograd.grad(terms.sum(), losses)
    assert float(grad[1]) < 1e-12  # what the warning is about


def test_positive_losses_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZeroLossWarning)
        GLS()(torch.tensor([1e-30, 3.0]))


def test_zero_loss_gradient_is_finite():
    losses = torch.tensor([0.0, 3.0], requires_grad=True)
    with pytest.warns(ZeroLossWarning):
        terms = GLS()(losses)
    (grad,) = torch.autograd.grad(terms.sum(), losses)
    assert torch.isfinite(terms).all() and torch.isfinite(grad).all()


def test_works_under_no_grad():
    with torch.no_grad():
        terms = GLS()(torch.tensor([1.0, 4.0]))
    torch.testing.assert_close(terms.sum(), torch.tensor(4.0))


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    train_and_check(num_tasks, weighting="gls")


def test_works_with_an_aggregator():
    train_and_check(3, weighting="gls", aggregator="pcgrad")
