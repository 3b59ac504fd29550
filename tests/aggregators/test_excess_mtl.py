"""ExcessMTL's baseline step (issue 24): the step that records the baseline excess risk keeps the
weights uniform, as the authors' code does; TorchJD 0.18 updates them with the raw excess risk."""

import pytest
import torch

from mtl_lib.aggregators import ExcessMTL


def _unequal_pair(dtype=torch.float64) -> torch.Tensor:
    """Two tasks, the second gradient 10× the first in norm (a common spread of loss scales)."""
    gen = torch.Generator().manual_seed(0)
    jac = torch.randn(2, 500, generator=gen, dtype=dtype)
    return jac * torch.tensor([[1.0], [10.0]], dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_baseline_step_keeps_weights_uniform(dtype):
    jac = _unequal_pair(dtype)
    aggregator = ExcessMTL()
    first = aggregator(jac)
    torch.testing.assert_close(first.weights, torch.ones(2, dtype=dtype))
    torch.testing.assert_close(first.direction, jac.sum(0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_task_weight_collapses_after_a_few_steps(dtype):
    # Old code: after one step the small task's weight was ~1e-153 (exactly 0 in float32, and
    # the log-space update keeps a zero weight at zero for good).
    jac = _unequal_pair(dtype)
    aggregator = ExcessMTL()
    for _ in range(5):
        weights = aggregator(jac).weights
    assert float(weights.min()) > 0.1, weights.tolist()


def test_default_equals_one_warmup_step():
    gen = torch.Generator().manual_seed(1)
    jacobians = [torch.randn(3, 40, generator=gen, dtype=torch.float64) for _ in range(4)]
    ours, warm = ExcessMTL(), ExcessMTL(n_warmup_steps=1)
    for jac in jacobians:
        torch.testing.assert_close(ours(jac).direction, warm(jac).direction)
