import pytest
import torch

from mtl_lib.aggregators.aligned_mtl import AlignedMTL
from tests.aggregators._common import (
    REFERENCE_J,
    SIZES,
    random_jacobian,
    relative_difference,
    train_20_steps,
)


def test_reference_value_from_torchjd_tests():
    # TorchJD's test_values: AlignedMTL(J) = [0.2133, 0.9673, 0.9673], weights [0.5591, 0.4083]
    # with preference vector 1/K; ours sums the aligned gradients (preference all ones): ×K.
    torch.testing.assert_close(
        AlignedMTL()(REFERENCE_J).direction,
        2 * torch.tensor([0.2133, 0.9673, 0.9673]),
        atol=2e-4,
        rtol=0,
    )
    gram = REFERENCE_J @ REFERENCE_J.T
    torch.testing.assert_close(
        AlignedMTL().weights_from_gram(gram), 2 * torch.tensor([0.5591, 0.4083]), atol=2e-4, rtol=0
    )


@pytest.mark.parametrize(("num_tasks", "num_params"), SIZES)
@pytest.mark.parametrize("scale_mode", ["min", "median", "rmse"])
def test_agrees_with_torchjd(num_tasks, num_params, scale_mode):
    torchjd = pytest.importorskip("torchjd.aggregation")
    jac = random_jacobian(num_tasks, num_params)
    expected = num_tasks * torchjd.AlignedMTL(scale_mode=scale_mode)(jac)
    assert relative_difference(AlignedMTL(scale_mode=scale_mode)(jac).direction, expected) < 1e-5
    pref = torch.arange(1.0, num_tasks + 1, dtype=torch.float64)
    expected = torchjd.AlignedMTL(pref_vector=pref)(jac)
    assert relative_difference(AlignedMTL(pref_vector=pref.tolist())(jac).direction, expected) < 1e-5


def test_aligned_gradients_are_orthogonal_with_singular_value_sigma_min():
    jac = random_jacobian(4, 30, seed=1)
    aligned = AlignedMTL().balance_matrix(jac @ jac.T) @ jac
    sigma_min = torch.linalg.svdvals(jac).min()
    torch.testing.assert_close(torch.linalg.svdvals(aligned), sigma_min.expand(4), rtol=1e-9, atol=0)
    # Rows are orthogonal with equal norms: the condition number of the system is 1.
    gram = aligned @ aligned.T
    torch.testing.assert_close(gram, sigma_min**2 * torch.eye(4, dtype=torch.float64), rtol=0, atol=1e-9)


def test_rank_deficient_uses_only_kept_eigenvalues():
    jac = random_jacobian(3, 20, seed=2)
    jac = torch.cat([jac, jac[:1] - jac[1:2]])  # rank 3 with 4 tasks
    aligned = AlignedMTL().balance_matrix(jac @ jac.T) @ jac
    values = torch.linalg.svdvals(aligned)
    assert torch.isfinite(values).all()
    torch.testing.assert_close(values[:3], values[2].expand(3), rtol=1e-8, atol=0)
    assert float(values[3]) < 1e-6 * float(values[0])


def test_invalid_arguments():
    with pytest.raises(ValueError, match="scale_mode"):
        AlignedMTL(scale_mode="max")
    with pytest.raises(ValueError, match="pref_vector"):
        AlignedMTL(pref_vector=[1.0, 2.0])(random_jacobian(3, 5))


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    train_20_steps("aligned_mtl", num_tasks)
