import pytest
import torch

from mtl_lib.aggregators import AGGREGATORS, PCGrad
from mtl_lib.aggregators.gradvac import GradVac, parameter_blocks
from mtl_lib.engine import Trainer
from tests.helpers import REFERENCE_JACOBIAN as REFERENCE_J
from tests.helpers import regression_batches, regression_tasks, tiny_model


def test_registered_and_defaults():
    agg = AGGREGATORS.build("gradvac")
    assert isinstance(agg, GradVac)
    assert (agg.beta, agg.granularity, agg.eps, agg.seed) == (0.01, "layer", 1e-8, 0)
    assert agg.exposes_task_gradients


def test_reference_value_first_step():
    # TorchJD 0.18's test_values has no GradVac entry; its GradVac gives this on the first call
    # (checked live below), and with zero targets and two tasks GradVac's first step equals
    # PCGrad's, whose TorchJD reference value is [0.5848, 3.8012, 3.8012].
    out = GradVac()(REFERENCE_J)
    torch.testing.assert_close(out.direction, torch.tensor([0.5848, 3.8012, 3.8012]), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.direction, PCGrad()(REFERENCE_J).direction, atol=1e-5, rtol=1e-5)


def test_reference_value_matches_torchjd():
    torchjd = pytest.importorskip("torchjd.aggregation")
    torch.testing.assert_close(GradVac(beta=0.5)(REFERENCE_J).direction, torchjd.GradVac()(REFERENCE_J))


def test_correction_reaches_the_target_similarity_per_block():
    gen = torch.Generator().manual_seed(0)
    jac = torch.randn(2, 12, generator=gen, dtype=torch.float64)
    agg = GradVac(beta=0.0)
    agg.bind_shared_parameters(["a.weight", "a.bias", "b.weight"], [4, 2, 6])
    assert [b[0] for b in agg.blocks] == ["a", "b"]
    targets = torch.tensor([[[0.0, 0.9], [0.8, 0.0]], [[0.0, 0.7], [0.6, 0.0]]], dtype=torch.float64)
    agg.load_state_dict({"seed": 0, "generator": agg.generator.get_state(), "targets": targets})
    rows = agg(jac).task_gradients
    for block, (start, end) in enumerate([(0, 6), (6, 12)]):
        for i, j in [(0, 1), (1, 0)]:
            gi, gj = rows[i, start:end], jac[j, start:end]
            cos = gi @ gj / (gi.norm() * gj.norm())
            original = jac[i, start:end] @ gj / (jac[i, start:end].norm() * gj.norm())
            expected = max(float(targets[block, i, j]), float(original))  # only raised, never lowered
            assert abs(float(cos) - expected) < 1e-6


def test_pairs_at_or_above_target_are_unchanged_and_ema_updates():
    jac = torch.tensor([[1.0, 2.0, 0.0], [0.5, 0.1, 3.0], [2.0, 0.0, 1.0]])
    agg = GradVac(beta=0.25, granularity="whole")
    out = agg(jac)
    torch.testing.assert_close(out.task_gradients, jac)
    torch.testing.assert_close(out.direction, jac.sum(0))
    unit = jac / jac.norm(dim=1, keepdim=True)
    expected = 0.25 * (unit @ unit.T)
    expected.fill_diagonal_(0)
    torch.testing.assert_close(agg.targets[0], expected)


def test_identical_gradients_give_k_times_the_gradient():
    g = torch.tensor([1.0, -2.0, 0.5, 3.0])
    agg = GradVac(beta=0.5, granularity="whole")
    for _ in range(5):
        out = agg(g.repeat(3, 1))
        torch.testing.assert_close(out.direction, 3 * g)


def test_layer_granularity_is_whole_gradvac_per_block():
    gen = torch.Generator().manual_seed(3)
    names, sizes = ["enc.0.weight", "enc.0.bias", "enc.1.weight", "enc.1.bias"], [6, 2, 5, 1]
    layered = GradVac(beta=0.3)
    layered.bind_shared_parameters(names, sizes)
    per_block = [GradVac(beta=0.3, granularity="whole") for _ in range(2)]
    for _ in range(4):
        jac = torch.randn(2, 14, generator=gen, dtype=torch.float64)
        jac[1] -= 0.8 * jac[0]
        out = layered(jac).task_gradients
        expected = torch.cat(
            [agg(jac[:, s:e]).task_gradients for agg, (s, e) in zip(per_block, [(0, 8), (8, 14)])],
            dim=1,
        )
        torch.testing.assert_close(out, expected)


def test_parameter_blocks():
    names = ["e.0.weight", "e.0.bias", "e.2.weight", "e.2.bias", "e.0.extra"]
    sizes = [4, 2, 3, 1, 5]
    assert parameter_blocks(names, sizes, "layer") == [
        ("e.0", 0, 6),
        ("e.2", 6, 10),
        ("e.0", 10, 15),
    ]
    assert parameter_blocks(names, sizes, "parameter")[1] == ("e.0.bias", 4, 6)
    assert parameter_blocks(names, sizes, "whole") == [("all", 0, 15)]
    with pytest.raises(ValueError):
        parameter_blocks(names, sizes, "module")


def test_two_task_permutation_equivariance_and_scale():
    # With two tasks the visiting order does not matter, so swapping the tasks swaps the rows.
    gen = torch.Generator().manual_seed(5)
    a, b = GradVac(beta=0.2), GradVac(beta=0.2)
    c, d = GradVac(beta=0.2), GradVac(beta=0.2)
    for _ in range(3):
        jac = torch.randn(2, 30, generator=gen, dtype=torch.float64)
        jac[1] -= jac[0]
        torch.testing.assert_close(b(jac.flip(0)).task_gradients, a(jac).task_gradients.flip(0))
        # Positively homogeneous: cosines and w do not change when J is scaled.
        torch.testing.assert_close(d(10 * jac).direction, 10 * c(jac).direction, rtol=1e-6, atol=1e-9)


def test_zero_and_opposite_gradients_stay_finite():
    jac = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 3.0], [-1.0, 2.0, -3.0], [1.0, -2.0, 3.0]])
    agg = GradVac(beta=0.5, granularity="whole")
    for _ in range(4):
        out = agg(jac)
        assert torch.isfinite(out.direction).all() and torch.isfinite(out.task_gradients).all()
        assert torch.isfinite(agg.targets).all()


def test_seeded_reset_and_state_round_trip():
    gen = torch.Generator().manual_seed(1)
    jacs = [torch.randn(5, 30, generator=gen) for _ in range(3)]
    a, b = GradVac(beta=0.3, seed=7), GradVac(beta=0.3, seed=7)
    first = [a(j).direction for j in jacs]
    second = [b(j).direction for j in jacs]
    for x, y in zip(first, second):
        torch.testing.assert_close(x, y)
    a.reset()
    assert a.targets is None
    torch.testing.assert_close(a(jacs[0]).direction, first[0])
    state = b.state_dict()
    c = GradVac(beta=0.3, seed=0)
    c.load_state_dict(state)
    torch.testing.assert_close(c(jacs[1]).direction, b(jacs[1]).direction)
    torch.testing.assert_close(c.targets, b.targets)


def test_changed_number_of_tasks_is_an_error():
    agg = GradVac()
    agg(torch.randn(2, 5))
    with pytest.raises(ValueError, match="reset"):
        agg(torch.randn(3, 5))


@pytest.mark.parametrize("num_tasks", [2, 3, 5])
@pytest.mark.parametrize("num_params", [10, 1000, 10_000])
def test_agrees_with_torchjd_over_several_steps(num_tasks, num_params):
    """Same order draws: TorchJD shuffles with the global RNG, we with our own generator seeded
    identically; the EMA state is carried over four steps."""
    torchjd = pytest.importorskip("torchjd.aggregation")
    gen = torch.Generator().manual_seed(num_tasks * num_params)
    ours = GradVac(beta=0.5, granularity="whole", seed=11)
    torch.manual_seed(11)
    reference = torchjd.GradVac(beta=0.5)
    for _ in range(4):
        jac = torch.randn(num_tasks, num_params, generator=gen, dtype=torch.float64)
        jac[1] -= jac[0]  # make conflicts likely
        torch.testing.assert_close(ours(jac).direction, reference(jac), rtol=1e-5, atol=1e-10)


def test_layer_granularity_differs_from_torchjd_whole_model():
    """TorchJD's GradVac acts on the whole Jacobian it gets; our default is per layer. Pinned:
    they differ on a two-layer Jacobian, and ours equals TorchJD run on each block."""
    torchjd = pytest.importorskip("torchjd.aggregation")
    jac = torch.tensor([[1.0, 0.0, -1.0, 2.0], [-0.5, 1.0, 1.0, 1.0]], dtype=torch.float64)
    ours = GradVac(beta=0.5)
    ours.bind_shared_parameters(["l1.weight", "l2.weight"], [2, 2])
    out = ours(jac).direction
    whole = torchjd.GradVac(beta=0.5)(jac)
    assert not torch.allclose(out, whole)
    per_block = torch.cat([torchjd.GradVac(beta=0.5)(jac[:, :2]), torchjd.GradVac(beta=0.5)(jac[:, 2:])])
    torch.testing.assert_close(out, per_block)


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    model = tiny_model(num_tasks)
    before = [p.detach().clone() for p in model.shared_parameters()]
    trainer = Trainer(model, regression_tasks(num_tasks), aggregator="gradvac", device="cpu", progress=False)
    assert [label for label, _, _ in trainer.aggregator.blocks] == ["encoder.0", "encoder.2"]
    history = trainer.fit(regression_batches(num_tasks), epochs=5)
    assert trainer.step_count == 20
    assert all(torch.isfinite(torch.tensor(v)) for r in history for k, v in r.items() if k.endswith("/train_loss"))
    assert any(not torch.equal(a, p) for a, p in zip(before, model.shared_parameters()))
    assert trainer.aggregator.targets.shape == (2, num_tasks, num_tasks)
    assert trainer.last_aggregation.task_gradients.shape[0] == num_tasks


@pytest.mark.parametrize("num_tasks", [2, 3, 5])
@pytest.mark.parametrize("granularity", ["whole", "layer"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gramian_space_equals_row_space(num_tasks, granularity, dtype):
    """The Gramian-space implementation against the row-space reference, over five steps with
    the EMA targets carried along (same order draws)."""
    from mtl_lib.aggregators.gradvac import gradvac_rows

    names, sizes = ["a.weight", "a.bias", "b.weight", "c.weight"], [120, 10, 200, 70]
    agg = GradVac(beta=0.3, granularity=granularity, seed=5)
    agg.bind_shared_parameters(names, sizes)
    blocks = agg.blocks
    index = torch.repeat_interleave(torch.arange(len(blocks)), torch.tensor([b - a for _, a, b in blocks]))
    targets = torch.zeros(len(blocks), num_tasks, num_tasks, dtype=dtype)
    reference_generator = torch.Generator().manual_seed(5)
    gen = torch.Generator().manual_seed(num_tasks)
    # eps (1e-8) acts on rows scaled to unit max |entry| in the aggregator (scale-free) and on
    # the raw rows in the reference: ~1e-9 apart in float64
    tol = 1e-8 if dtype == torch.float64 else 1e-5
    for _ in range(5):
        jac = torch.randn(num_tasks, sum(sizes), generator=gen, dtype=dtype)
        jac[1] = -0.6 * jac[0] + 0.5 * jac[1]  # conflicts below the targets
        out = agg(jac)
        rows, targets = gradvac_rows(jac, index, targets, 0.3, 1e-8, reference_generator)
        assert float((out.task_gradients - rows).norm() / rows.norm()) < tol
        assert float((out.direction - rows.sum(0)).norm() / rows.sum(0).norm()) < tol
        torch.testing.assert_close(agg.targets, targets, rtol=tol, atol=tol)


def test_representation_level_needs_one_block():
    agg = GradVac()
    with pytest.raises(ValueError, match="granularity='whole'"):
        agg.check_gram_only()
    whole = GradVac(granularity="whole", beta=0.5)
    jac = torch.randn(3, 40, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    weights = whole.weights_from_gram(jac @ jac.T)
    torch.testing.assert_close(weights @ jac, GradVac(granularity="whole", beta=0.5)(jac).direction)
