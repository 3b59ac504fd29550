import warnings

import pytest
import torch

from mtl_lib.aggregators import AGGREGATORS, ConvergenceWarning, FairGrad
from tests.aggregators._agreement import (
    SEEDS,
    TASK_COUNTS,
    check_agreement,
    check_permutation,
    check_reference_agreement,
    conflicting_jacobians,
)
from tests.aggregators._common import train_20_steps


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_reference_value(alpha):
    from torchjd.aggregation import FairGrad as TorchJDFairGrad

    check_reference_agreement(lambda: FairGrad(alpha=alpha), lambda: TorchJDFairGrad(alpha=alpha), sum_scale=False)


@pytest.mark.parametrize("alpha", [1.0, 2.0])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("num_tasks", TASK_COUNTS)
def test_agrees_with_torchjd(num_tasks, seed, alpha):
    pytest.importorskip("scipy")
    from torchjd.aggregation import FairGrad as TorchJDFairGrad

    check_agreement(
        lambda: FairGrad(alpha=alpha),
        lambda: TorchJDFairGrad(alpha=alpha),
        num_tasks=num_tasks,
        seed=seed,
        sum_scale=False,
    )


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_weights_solve_the_fairness_equation(alpha):
    (jac,) = conflicting_jacobians(4, seed=2)
    gram = jac @ jac.T
    w = FairGrad(alpha=alpha).weights_from_gram(gram)
    assert torch.all(w > 0)
    torch.testing.assert_close(gram @ w, w ** (-1.0 / alpha), rtol=1e-9, atol=1e-12)


def test_scale_and_permutation():
    # G → c²G gives w → c^(-2α/(α+1)) w, so d = Jᵀw scales by c^((1-α)/(1+α)): invariant for α = 1
    (jac,) = conflicting_jacobians(3, seed=4)
    torch.testing.assert_close(FairGrad()(3.0 * jac).direction, FairGrad()(jac).direction)
    torch.testing.assert_close(FairGrad(alpha=3.0)(3.0 * jac).direction, 3.0**-0.5 * FairGrad(alpha=3.0)(jac).direction)
    check_permutation(FairGrad, jac)


def test_alpha_zero_is_the_mean_and_no_solution_warns():
    jac = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    torch.testing.assert_close(FairGrad(alpha=0.0)(jac).direction, jac.mean(0))
    opposite = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    agg = FairGrad(max_iters=20)
    with pytest.warns(ConvergenceWarning):
        out = agg(opposite).direction
    assert agg.failures == 1 and torch.isfinite(out).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        FairGrad()(jac)
    assert isinstance(AGGREGATORS.build("fairgrad"), FairGrad)


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    train_20_steps("fairgrad", num_tasks)
