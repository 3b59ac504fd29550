import pytest
import torch

from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.aggregators.moco import MoCo, project_to_simplex
from mtl_lib.engine import Trainer
from tests.aggregators._common import train_20_steps
from tests.helpers import REFERENCE_JACOBIAN as REFERENCE_J
from tests.helpers import regression_batches, regression_tasks, tiny_model


def test_registered_and_libmtl_defaults():
    agg = AGGREGATORS.build("moco")
    assert isinstance(agg, MoCo)
    assert (agg.beta, agg.beta_sigma, agg.gamma, agg.gamma_sigma, agg.rho) == (0.5, 0.5, 0.1, 0.5, 0.0)
    assert (agg.normalization, agg.projection) == ("none", "simplex")


def test_first_step_value_by_hand():
    # y = ½J; YYᵀλ with λ = (½, ½) is (−0.5, 2); λ − 0.1·that = (0.55, 0.3), projected onto the
    # simplex (shift −0.075) = (0.625, 0.375); d = 2 · Yᵀλ = [−0.25, 1, 1].
    agg = MoCo()
    out = agg(REFERENCE_J)
    torch.testing.assert_close(agg.weights, torch.tensor([0.625, 0.375]))
    torch.testing.assert_close(out.direction, torch.tensor([-0.25, 1.0, 1.0]))


def test_softmax_projection_is_libmtls_update():
    agg = MoCo(projection="softmax")
    out = agg(REFERENCE_J)
    expected = torch.softmax(torch.tensor([0.55, 0.3]), 0)
    torch.testing.assert_close(agg.weights, expected)
    torch.testing.assert_close(out.direction, 2 * expected @ (0.5 * REFERENCE_J))


def test_projection_onto_simplex():
    torch.testing.assert_close(project_to_simplex(torch.tensor([0.55, 0.3])), torch.tensor([0.625, 0.375]))
    torch.testing.assert_close(project_to_simplex(torch.tensor([2.0, 0.0, -1.0])), torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(project_to_simplex(torch.full((4,), 3.0)), torch.full((4,), 0.25))
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        v = 3 * torch.randn(5, generator=gen, dtype=torch.float64)
        p = project_to_simplex(v)
        assert (p >= 0).all() and abs(float(p.sum()) - 1) < 1e-12
        torch.testing.assert_close(project_to_simplex(p), p)  # idempotent
        # Optimality: no other simplex point (random Dirichlet draws) is closer to v.
        others = torch.distributions.Dirichlet(torch.ones(5, dtype=torch.float64)).sample((200,))
        assert ((others - v).norm(dim=1) >= (p - v).norm() - 1e-12).all()


def test_identical_gradients_tracked_to_k_times_the_gradient():
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    agg = MoCo()
    first = agg(g.repeat(3, 1)).direction
    torch.testing.assert_close(first, 3 * 0.5 * g)  # the tracking lag: y starts at 0
    for _ in range(500):
        out = agg(g.repeat(3, 1))
    torch.testing.assert_close(agg.weights, torch.full((3,), 1 / 3, dtype=torch.float64))
    torch.testing.assert_close(out.direction, 3 * g, rtol=1e-3, atol=0)


def test_deterministic_gradients_converge_to_k_times_mgda():
    # TorchJD's reference: MGDA weights on J_base are (0.6, 0.4), direction [0, 1, 1].
    agg = MoCo()
    jac = REFERENCE_J.double()
    for _ in range(3000):
        out = agg(jac)
    torch.testing.assert_close(agg.weights, torch.tensor([0.6, 0.4], dtype=torch.float64), atol=2e-3, rtol=0)
    torch.testing.assert_close(out.direction, torch.tensor([0.0, 2.0, 2.0], dtype=torch.float64), atol=2e-2, rtol=0)


def test_permuting_tasks_permutes_weights_and_keeps_direction():
    gen = torch.Generator().manual_seed(4)
    jacs = [torch.randn(3, 20, generator=gen, dtype=torch.float64) for _ in range(5)]
    perm = torch.tensor([2, 0, 1])
    a, b = MoCo(), MoCo()
    for jac in jacs:
        da, db = a(jac).direction, b(jac[perm]).direction
    torch.testing.assert_close(db, da)
    torch.testing.assert_close(b.weights, a.weights[perm])


def test_zero_and_opposite_gradients_stay_finite():
    jac = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 3.0], [-1.0, 2.0, -3.0]])
    for normalization in ("none", "unit"):
        agg = MoCo(normalization=normalization, rho=0.1)
        for _ in range(5):
            out = agg(jac)
        assert torch.isfinite(out.direction).all() and torch.isfinite(agg.weights).all()


def test_normalizations():
    jac = torch.tensor([[3.0, 4.0], [0.0, 10.0]])
    agg = MoCo(normalization="unit")
    agg(jac)
    torch.testing.assert_close(agg.tracked, 0.5 * jac / jac.norm(dim=1, keepdim=True))
    agg = MoCo(normalization="loss")
    with pytest.raises(RuntimeError, match="observe_losses"):
        agg(jac)
    agg.observe_losses(torch.tensor([2.0, 0.5]))
    agg(jac)
    torch.testing.assert_close(agg.tracked, 0.5 * torch.tensor([[1.2, 1.6], [0.0, 0.5]]), rtol=1e-6, atol=1e-7)
    with pytest.raises(RuntimeError):  # losses are consumed: each step needs its own
        agg(jac)


def test_reset_and_state_round_trip():
    gen = torch.Generator().manual_seed(1)
    jacs = [torch.randn(3, 10, generator=gen) for _ in range(4)]
    a = MoCo()
    first = [a(j).direction for j in jacs]
    a.reset()
    assert a.step == 0 and a.tracked is None
    torch.testing.assert_close(a(jacs[0]).direction, first[0])
    a(jacs[1])
    b = MoCo()
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b(jacs[2]).direction, a(jacs[2]).direction)
    assert b.step == a.step == 3
    with pytest.raises(ValueError, match="reset"):
        a(torch.randn(2, 10))


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    model = tiny_model(num_tasks)
    before = [p.detach().clone() for p in model.shared_parameters()]
    trainer = Trainer(model, regression_tasks(num_tasks), aggregator="moco", device="cpu", progress=False)
    history = trainer.fit(regression_batches(num_tasks), epochs=5)
    assert trainer.step_count == 20 and trainer.aggregator.step == 20
    assert all(torch.isfinite(torch.tensor(v)) for r in history for k, v in r.items() if k.endswith("/train_loss"))
    assert any(not torch.equal(a, p) for a, p in zip(before, model.shared_parameters()))
    assert abs(float(trainer.aggregator.weights.sum()) - 1) < 1e-6


def test_loss_normalisation_receives_the_losses_from_the_engine():
    jac = torch.tensor([[3.0, 4.0], [0.0, 10.0]])
    agg = MoCo(normalization="loss")
    assert agg.needs_losses
    agg(jac, losses=torch.tensor([2.0, 0.5]))
    torch.testing.assert_close(agg.tracked, 0.5 * torch.tensor([[1.2, 1.6], [0.0, 0.5]]), rtol=1e-6, atol=1e-7)
    train_20_steps("moco", 2, aggregator_kwargs={"normalization": "loss"})
