import torch

from mtl_lib.diagnostics.conflict import (
    conflict_fraction,
    gradient_cosine,
    gradient_norms,
    magnitude_similarity,
)


def test_cosine_and_norms():
    jac = torch.tensor([[3.0, 4.0], [-3.0, -4.0], [0.0, 0.0]])
    torch.testing.assert_close(gradient_norms(jac), torch.tensor([5.0, 5.0, 0.0]))
    cos = gradient_cosine(jac)
    assert cos[0, 1] == -1.0 and cos[0, 0] == 1.0 and cos[2, 0] == 0.0


def test_magnitude_similarity_values():
    jac = torch.tensor([[1.0, 0.0], [0.0, 1.0], [10.0, 0.0]])
    sim = magnitude_similarity(jac)
    assert sim[0, 1] == 1.0
    assert abs(float(sim[0, 2]) - 2 * 10 / 101) < 1e-6


def test_conflict_fraction_counts_pairs():
    jac = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    assert abs(conflict_fraction(jac) - 1 / 3) < 1e-6
    assert conflict_fraction(jac[:1]) == 0.0
