import pytest
import torch

from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.aggregators.graddrop import GradDrop
from mtl_lib.engine import Trainer
from tests.helpers import REFERENCE_JACOBIAN as REFERENCE_J
from tests.helpers import regression_batches, regression_tasks, tiny_model


def constant(value):
    return lambda shape, dtype, device: torch.full(shape, value, dtype=dtype, device=device)


def test_registered_and_defaults():
    agg = AGGREGATORS.build("graddrop")
    assert isinstance(agg, GradDrop)
    assert float(agg.leak) == 0.0 and agg.f is None and agg.seed == 0
    assert agg.exposes_task_gradients


def test_reference_value_from_torchjd_tests():
    # TorchJD's test_values lists GradDrop([[-4, 1, 1], [6, 1, 1]]) = [6, 2, 2] (global seed 0);
    # our generator seeded 0 draws the same U.
    out = GradDrop(seed=0)(REFERENCE_J)
    torch.testing.assert_close(out.direction, torch.tensor([6.0, 2.0, 2.0]))
    torch.testing.assert_close(out.task_gradients, torch.tensor([[0.0, 1.0, 1.0], [6.0, 1.0, 1.0]]))


def test_masks_follow_the_purity_rule_with_injected_uniforms():
    jac = torch.tensor([[-4.0, 1.0, 0.0, 2.0], [6.0, 1.0, 0.0, -2.0]])
    # P = [0.6, 1, 0.5 (undefined: zero column), 0.5]
    rows = GradDrop(uniform=constant(0.55))(jac).task_gradients
    torch.testing.assert_close(rows, torch.tensor([[0.0, 1.0, 0.0, 0.0], [6.0, 1.0, 0.0, -2.0]]))
    rows = GradDrop(uniform=constant(0.65))(jac).task_gradients
    torch.testing.assert_close(rows, torch.tensor([[-4.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, -2.0]]))
    # U = 0: only positive components survive (P > 0 wherever one exists).
    rows = GradDrop(uniform=constant(0.0))(jac).task_gradients
    torch.testing.assert_close(rows, jac.clamp_min(0))


def test_one_sign_survives_per_coordinate():
    gen = torch.Generator().manual_seed(0)
    jac = torch.randn(4, 500, generator=gen)
    rows = GradDrop(seed=3)(jac).task_gradients
    assert not ((rows > 0).any(0) & (rows < 0).any(0)).any()
    # Each kept component is the original one.
    kept = rows != 0
    torch.testing.assert_close(rows[kept], jac[kept])


def test_positive_sign_is_kept_with_probability_purity():
    jac = torch.tensor([[3.0], [-1.0]]).repeat(1, 20_000)  # P = ½(1 + 2/4) = 0.75
    rows = GradDrop(seed=1)(jac).task_gradients
    frequency = float((rows[0] != 0).float().mean())
    assert abs(frequency - 0.75) < 0.02
    assert torch.equal(rows[0] != 0, rows[1] == 0)


def test_identical_gradients_give_k_times_the_gradient():
    g = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0])
    out = GradDrop(seed=4)(g.repeat(3, 1))
    torch.testing.assert_close(out.direction, 3 * g)


def test_leak():
    gen = torch.Generator().manual_seed(2)
    jac = torch.randn(3, 50, generator=gen)
    torch.testing.assert_close(GradDrop(leak=1.0)(jac).direction, jac.sum(0))
    rows = GradDrop(leak=[1.0, 0.0, 0.5], seed=5)(jac).task_gradients
    torch.testing.assert_close(rows[0], jac[0])
    dropped = GradDrop(seed=5)(jac).task_gradients
    torch.testing.assert_close(rows[2], 0.5 * jac[2] + 0.5 * dropped[2])
    with pytest.raises(ValueError):
        GradDrop(leak=[0.5, 0.5])(jac)
    with pytest.raises(ValueError):
        GradDrop(leak=1.5)


def test_permutation_and_scale_with_fixed_uniforms():
    gen = torch.Generator().manual_seed(6)
    jac = torch.randn(3, 40, generator=gen)
    u = torch.rand(40, generator=gen)
    fixed = lambda shape, dtype, device: u.to(dtype)  # noqa: E731
    rows = GradDrop(uniform=fixed)(jac).task_gradients
    perm = torch.tensor([2, 0, 1])
    torch.testing.assert_close(GradDrop(uniform=fixed)(jac[perm]).task_gradients, rows[perm])
    torch.testing.assert_close(GradDrop(uniform=fixed)(7 * jac).task_gradients, 7 * rows)


def test_zero_and_opposite_gradients_stay_finite():
    jac = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 3.0], [-1.0, 2.0, -3.0]])
    out = GradDrop()(jac)
    assert torch.isfinite(out.direction).all() and torch.isfinite(out.task_gradients).all()
    assert torch.equal(GradDrop()(torch.zeros(2, 4)).direction, torch.zeros(4))


def test_seeded_reset_and_state_round_trip():
    jac = torch.randn(3, 100, generator=torch.Generator().manual_seed(1))
    a, b = GradDrop(seed=7), GradDrop(seed=7)
    first = [a(jac).direction for _ in range(3)]
    second = [b(jac).direction for _ in range(3)]
    for x, y in zip(first, second):
        torch.testing.assert_close(x, y)
    assert not torch.equal(first[0], first[1])
    a.reset()
    torch.testing.assert_close(a(jac).direction, first[0])
    c = GradDrop(seed=0)
    c.load_state_dict(b.state_dict())
    torch.testing.assert_close(c(jac).direction, b(jac).direction)


@pytest.mark.parametrize("num_tasks", [2, 3, 5])
@pytest.mark.parametrize("num_params", [10, 1000, 10_000])
def test_agrees_with_torchjd_with_the_same_draws(num_tasks, num_params):
    """TorchJD draws U with torch.rand from the global RNG; seeding it as our generator gives
    the same U, so the outputs agree (leak included)."""
    torchjd = pytest.importorskip("torchjd.aggregation")
    gen = torch.Generator().manual_seed(num_tasks * num_params)
    jac = torch.randn(num_tasks, num_params, generator=gen, dtype=torch.float64)
    leak = torch.rand(num_tasks, generator=gen, dtype=torch.float64)
    for leak_value in (None, leak):
        torch.manual_seed(13)
        expected = torchjd.GradDrop(leak=leak_value)(jac)
        ours = GradDrop(leak=0.0 if leak_value is None else leak_value, seed=13)(jac).direction
        torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    model = tiny_model(num_tasks)
    before = [p.detach().clone() for p in model.shared_parameters()]
    trainer = Trainer(model, regression_tasks(num_tasks), aggregator="graddrop", device="cpu", progress=False)
    history = trainer.fit(regression_batches(num_tasks), epochs=5)
    assert trainer.step_count == 20
    assert all(torch.isfinite(torch.tensor(v)) for r in history for k, v in r.items() if k.endswith("/train_loss"))
    assert any(not torch.equal(a, p) for a, p in zip(before, model.shared_parameters()))
