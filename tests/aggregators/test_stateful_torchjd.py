"""ExcessMTL, MoDo, SDMGrad and CR-MOGM keep state across steps: agreement with TorchJD 0.18 over
a sequence of five Jacobians (so the state updates agree too), plus their own properties."""

import pytest
import torch

from mtl_lib.aggregators import AGGREGATORS, CRMOGM, ExcessMTL, MoDo, SDMGrad
from tests.aggregators._agreement import (
    SEEDS,
    TASK_COUNTS,
    check_agreement,
    check_permutation,
    conflicting_jacobians,
)
from tests.aggregators._common import train_20_steps


def _torchjd(name):
    tj = pytest.importorskip("torchjd.aggregation")
    return {
        # ours keeps the weights uniform on the baseline step like the authors' code; TorchJD's
        # default does not (tests/aggregators/test_excess_mtl.py), its one warm-up step does
        "excess_mtl": lambda: tj.ExcessMTL(n_warmup_steps=1),
        "excess_mtl_warmup": lambda: tj.ExcessMTL(robust_step_size=0.5, n_warmup_steps=2),
        "modo": lambda: tj.GramianWeightedAggregator(tj.MoDoWeighting()),
        "sdmgrad": lambda: tj.GramianWeightedAggregator(tj.SDMGradWeighting()),
        "crmogm": lambda: tj.GramianWeightedAggregator(tj.CRMOGMWeighting(tj.UPGradWeighting())),
    }[name]


OURS = {
    "excess_mtl": ExcessMTL,
    "excess_mtl_warmup": lambda: ExcessMTL(robust_step_size=0.5, n_warmup_steps=2),
    "modo": MoDo,
    "sdmgrad": SDMGrad,
    "crmogm": lambda: CRMOGM(base="upgrad", regularisation="trace"),  # TorchJD's ridge
}


@pytest.mark.parametrize("name", sorted(OURS))
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("num_tasks", TASK_COUNTS)
def test_agrees_with_torchjd_over_five_steps(name, num_tasks, seed):
    check_agreement(OURS[name], _torchjd(name), num_tasks=num_tasks, seed=seed, steps=5)


@pytest.mark.parametrize("name", ["excess_mtl", "modo", "sdmgrad"])
def test_first_step_and_permutation(name):
    # From uniform weights, one step: the first call is permutation-equivariant.
    (jac,) = conflicting_jacobians(4, seed=9)
    check_permutation(OURS[name], jac)
    agg = OURS[name]()
    agg(jac)
    agg.reset()
    torch.testing.assert_close(agg(jac).direction, OURS[name]()(jac).direction)


def test_identical_gradients_keep_the_sum_scale():
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    jac = g.repeat(3, 1)
    for factory in (ExcessMTL, MoDo, SDMGrad):
        torch.testing.assert_close(factory()(jac).direction, 3 * g)


def test_modo_and_sdmgrad_scale_behaviour():
    (jac,) = conflicting_jacobians(3, seed=4)
    # SDMGrad normalises the Gramian: weights are scale-free, the direction is linear in J
    torch.testing.assert_close(SDMGrad()(5.0 * jac).direction, 5.0 * SDMGrad()(jac).direction)
    # ExcessMTL: the weights stay on the simplex (×K) over steps at any gradient scale
    agg = ExcessMTL()
    for scale in (5.0, 5.0, 0.5):
        out = agg(scale * jac)
    assert torch.isfinite(out.direction).all() and abs(float(out.weights.sum()) - 3) < 1e-12
    # MoDo's weights stay on the simplex (×K) and move towards the smaller-norm combination
    agg = MoDo(gamma=1.0 / float(torch.linalg.matrix_norm(jac @ jac.T, 2)), rho=0.0)  # stable step
    first = agg(jac).weights
    for _ in range(200):
        last = agg(jac).weights
    assert abs(float(last.sum()) - 3) < 1e-12 and torch.all(last >= 0)
    assert float(last @ (jac @ jac.T) @ last) < float(first @ (jac @ jac.T) @ first)


def test_crmogm_smooths_and_needs_weights():
    (jac,) = conflicting_jacobians(3, seed=2)
    agg = CRMOGM(base="mgda", alpha=0.5)
    first = agg(jac).weights
    torch.testing.assert_close(first, AGGREGATORS.build("mgda")(jac).weights)
    with pytest.raises(ValueError, match="weights"):
        CRMOGM(base="config")(jac)
    assert CRMOGM(base="mgda", normalization="loss").needs_losses


@pytest.mark.parametrize("name", ["excess_mtl", "modo", "sdmgrad", "crmogm"])
@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(name, num_tasks):
    train_20_steps(name, num_tasks)


@pytest.mark.parametrize("name", sorted(OURS))
def test_reference_jacobian_agrees_with_torchjd(name):
    from tests.aggregators._agreement import check_reference_agreement

    check_reference_agreement(OURS[name], _torchjd(name))
