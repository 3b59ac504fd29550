"""AdaTask / LAdaTask (Yang et al., AAAI 2023): Algorithm 2 and Eq. 8–9 against plain loop
implementations written from the paper, the one-task case against torch.optim, state round
trips, and training through the engine (alone and with PCGrad)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import mtl_lib.optim.adatask  # noqa: F401  (registers the optimizer names)
from mtl_lib.engine import Trainer
from mtl_lib.optim import OPTIMIZERS
from mtl_lib.optim.adatask import (
    PAPER_EPS_PLACEMENT,
    AdaTask,
    adatask_param_groups,
)
from mtl_lib.optim.ladatask import LAdaTask
from tests.helpers import regression_batches, regression_tasks, tiny_model

STEPS = 50
HYPER = {
    "adagrad": dict(lr=0.05, eps=1e-10),
    "rmsprop": dict(lr=0.01, alpha=0.9, eps=1e-8),
    "adam": dict(lr=0.01, betas=(0.8, 0.95), eps=1e-8),
}


# ----------------------------------------------------------------------------- references
class ReferenceAlgorithm2:
    """Algorithm 2 written plainly: loops over parameters and tasks, one accumulator per
    (parameter, task). ``layerwise=True`` replaces G^k by Eq. 8–9's C^k/Σ C · G."""

    def __init__(
        self,
        shared,
        others,
        num_tasks,
        base,
        *,
        lr,
        alpha=0.99,
        betas=(0.9, 0.999),
        eps,
        eps_inside=False,
        weight_decay=0.0,
        layerwise=False,
    ):
        self.shared, self.others, self.K, self.base = list(shared), list(others), num_tasks, base
        self.lr, self.alpha, self.betas, self.eps = lr, alpha, betas, eps
        self.eps_inside, self.wd, self.layerwise = eps_inside, weight_decay, layerwise
        self.t = 0
        self.G = [[torch.zeros_like(p) for _ in range(num_tasks)] for p in self.shared]
        self.m = [[torch.zeros_like(p) for _ in range(num_tasks)] for p in self.shared]
        self.joint_G = [torch.zeros_like(p) for p in self.shared]
        self.C = [[0.0] * num_tasks for _ in self.shared]
        self.plain_G = [torch.zeros_like(p) for p in self.others]
        self.plain_m = [torch.zeros_like(p) for p in self.others]

    def D(self, G):
        return torch.sqrt(G + self.eps) if self.eps_inside else torch.sqrt(G) + self.eps

    def moments(self, G, m, g):
        """One base-optimizer accumulation; returns (G, m, Δ) for gradient g."""
        if self.base == "adagrad":
            G = G + g * g
            return G, m, self.lr * g / self.D(G)
        if self.base == "rmsprop":
            G = self.alpha * G + (1 - self.alpha) * g * g
            return G, m, self.lr * g / self.D(G)
        b1, b2 = self.betas
        G = b2 * G + (1 - b2) * g * g
        m = b1 * m + (1 - b1) * g
        m_hat, G_hat = m / (1 - b1**self.t), G / (1 - b2**self.t)
        return G, m, self.lr * m_hat / self.D(G_hat)

    @torch.no_grad()
    def step(self, task_grads, other_grads):
        """task_grads[i][k]: task k's gradient of shared parameter i; other_grads[j]: .grad."""
        self.t += 1
        for i, p in enumerate(self.shared):
            grads = [task_grads[i][k] + self.wd / self.K * p for k in range(self.K)]
            total = torch.zeros_like(p)
            if not self.layerwise:
                for k in range(self.K):
                    self.G[i][k], self.m[i][k], delta = self.moments(self.G[i][k], self.m[i][k], grads[k])
                    total += delta
            else:
                joint = sum(grads)
                for k in range(self.K):
                    energy = float((grads[k] ** 2).mean())
                    if self.base == "adagrad":
                        self.C[i][k] = self.C[i][k] + energy
                    else:
                        gamma = self.alpha if self.base == "rmsprop" else self.betas[1]
                        self.C[i][k] = gamma * self.C[i][k] + (1 - gamma) * energy
                if self.base == "adagrad":
                    self.joint_G[i] = self.joint_G[i] + joint * joint
                else:
                    gamma = self.alpha if self.base == "rmsprop" else self.betas[1]
                    self.joint_G[i] = gamma * self.joint_G[i] + (1 - gamma) * joint * joint
                for k in range(self.K):
                    share = self.C[i][k] / sum(self.C[i]) if sum(self.C[i]) > 0 else 1 / self.K
                    Gk = share * self.joint_G[i]
                    if self.base == "adam":
                        b1, b2 = self.betas
                        self.m[i][k] = b1 * self.m[i][k] + (1 - b1) * grads[k]
                        total += self.lr * (self.m[i][k] / (1 - b1**self.t)) / self.D(Gk / (1 - b2**self.t))
                    else:
                        total += self.lr * grads[k] / self.D(Gk)
            p -= total
        for j, p in enumerate(self.others):
            g = other_grads[j] + self.wd * p
            self.plain_G[j], self.plain_m[j], delta = self.moments(self.plain_G[j], self.plain_m[j], g)
            p -= delta


def per_task_gradients(model, batch):
    """(list over shared params of (K, *shape) tensors, list of head grads in model order)."""
    x, *ys = batch
    losses = [torch.nn.functional.mse_loss(pred, y) for pred, y in zip(model(x), ys)]
    shared = model.shared_parameters()
    rows = [torch.autograd.grad(loss, shared, retain_graph=True) for loss in losses]
    per_param = [torch.stack([rows[k][i] for k in range(len(losses))]) for i in range(len(shared))]
    heads = []
    for k, loss in enumerate(losses):
        heads += list(torch.autograd.grad(loss, model.task_parameters(k), retain_graph=True))
    return per_param, heads


def head_parameters(model):
    return [p for k in range(model.num_tasks) for p in model.task_parameters(k)]


def run_pair(optimizer_cls, base, num_tasks, dtype, eps_placement="outside", weight_decay=0.0):
    """Train two copies for STEPS steps, one with the optimizer, one with the reference;
    returns the largest parameter difference seen along the way."""
    batches = regression_batches(num_tasks, n_batches=5)
    model = tiny_model(num_tasks).to(dtype)
    reference_model = copy.deepcopy(model)
    hyper = HYPER[base]
    optimizer = optimizer_cls(
        model.shared_parameters(),
        head_parameters(model),
        num_tasks,
        base=base,
        eps_placement=eps_placement,
        weight_decay=weight_decay,
        **hyper,
    )
    inside = (PAPER_EPS_PLACEMENT[base] if eps_placement == "paper" else eps_placement) == "inside"
    reference = ReferenceAlgorithm2(
        reference_model.shared_parameters(),
        head_parameters(reference_model),
        num_tasks,
        base,
        eps_inside=inside,
        weight_decay=weight_decay,
        layerwise=optimizer_cls is LAdaTask,
        **hyper,
    )
    worst = 0.0
    for step in range(STEPS):
        batch = [t.to(dtype) for t in batches[step % len(batches)]]
        per_param, heads = per_task_gradients(model, batch)
        optimizer.set_task_gradients(torch.cat([g.reshape(num_tasks, -1) for g in per_param], dim=1))
        for p, g in zip(head_parameters(model), heads):
            p.grad = g
        optimizer.step()
        ref_per_param, ref_heads = per_task_gradients(reference_model, batch)
        reference.step([list(g) for g in ref_per_param], ref_heads)
        for p, q in zip(model.parameters(), reference_model.parameters()):
            worst = max(worst, float((p - q).detach().abs().max()))
    assert all(torch.isfinite(p).all() for p in model.parameters())
    return worst


# ----------------------------------------------------------------------------- Algorithm 2
@pytest.mark.parametrize("base", ["adagrad", "rmsprop", "adam"])
@pytest.mark.parametrize("num_tasks", [2, 3])
def test_adatask_matches_algorithm_2(base, num_tasks):
    assert run_pair(AdaTask, base, num_tasks, torch.float64) < 1e-10
    assert run_pair(AdaTask, base, num_tasks, torch.float32) < 1e-6


@pytest.mark.parametrize("base", ["adagrad", "rmsprop", "adam"])
def test_adatask_paper_eps_placement_and_weight_decay_match_reference(base):
    assert run_pair(AdaTask, base, 2, torch.float64, eps_placement="paper", weight_decay=0.1) < 1e-10
    assert run_pair(AdaTask, base, 2, torch.float64, eps_placement="inside") < 1e-10


@pytest.mark.parametrize("base", ["adagrad", "rmsprop", "adam"])
def test_ladatask_matches_eq_8_9(base):
    assert run_pair(LAdaTask, base, 2, torch.float64) < 1e-10
    assert run_pair(LAdaTask, base, 3, torch.float64) < 1e-10
    # The reference keeps C^k in Python (double) floats, the optimizer in float32 tensors: the
    # float32 trajectories drift apart by up to ~2e-6 over 50 steps (measured), not by 1e-6.
    assert run_pair(LAdaTask, base, 3, torch.float32) < 5e-6


def test_the_tasks_are_really_separated():
    """Scaling one task's gradient by 100 must not change the other task's update (AdaTask,
    AdaGrad/RMSProp bases: the update of each task is invariant to that task's own scale)."""
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.zeros(4))
    rows = torch.randn(2, 4)
    updates = []
    for scale in (1.0, 100.0):
        optimizer = AdaTask([p], [], 2, base="rmsprop", lr=0.1)
        optimizer.set_task_gradients(rows * torch.tensor([[1.0], [scale]]))
        optimizer.step()
        updates.append(optimizer.last_task_updates[0])
        p.data.zero_()
    torch.testing.assert_close(updates[0], updates[1], rtol=1e-5, atol=1e-7)
    # The first RMSProp step is η·g/√((1−α)g²) = η·sign(g)/√(1−α) for every task.
    torch.testing.assert_close(updates[0].abs(), torch.full((2, 4), 0.1 / math.sqrt(0.01)), rtol=1e-5, atol=0)


# ----------------------------------------------------------------------------- one task = torch
TORCH_BASE = {
    "adagrad": (torch.optim.Adagrad, {}),
    "rmsprop": (torch.optim.RMSprop, {}),
    "adam": (torch.optim.Adam, {}),
}


@pytest.mark.parametrize("cls", [AdaTask, LAdaTask])
@pytest.mark.parametrize("base", ["adagrad", "rmsprop", "adam"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_one_task_is_the_torch_optimizer(cls, base, weight_decay):
    batches = regression_batches(1, n_batches=5)
    model = tiny_model(1)
    twin = copy.deepcopy(model)
    hyper = HYPER[base]
    optimizer = cls(model.shared_parameters(), head_parameters(model), base=base, weight_decay=weight_decay, **hyper)
    torch_cls, _ = TORCH_BASE[base]
    torch_optimizer = torch_cls(twin.parameters(), weight_decay=weight_decay, **hyper)
    worst = 0.0
    for step in range(STEPS):
        batch = batches[step % len(batches)]
        per_param, heads = per_task_gradients(model, batch)
        optimizer.set_task_gradients(torch.cat([g.reshape(1, -1) for g in per_param], dim=1))
        for p, g in zip(head_parameters(model), heads):
            p.grad = g
        optimizer.step()
        x, y = batch
        torch_optimizer.zero_grad()
        torch.nn.functional.mse_loss(twin(x)[0], y).backward()
        torch_optimizer.step()
        worst = max(
            worst, max(float((p - q).detach().abs().max()) for p, q in zip(model.parameters(), twin.parameters()))
        )
    assert worst < 1e-6


def test_paper_rmsprop_placement_differs_from_torch():
    """Algorithm 2 puts ε under the root for RMSProp only; torch does not. With a large ε the
    two must differ (so the 'paper' option really changes something)."""
    p = torch.nn.Parameter(torch.ones(3))
    q = torch.nn.Parameter(torch.ones(3))
    grad = torch.full((3,), 1e-3)
    paper = AdaTask([p], [], base="rmsprop", lr=0.1, eps=1e-4, eps_placement="paper")
    paper.set_task_gradients(grad[None])
    paper.step()
    reference = torch.optim.RMSprop([q], lr=0.1, eps=1e-4)
    q.grad = grad.clone()
    reference.step()
    expected_paper = 1 - 0.1 * 1e-3 / math.sqrt(0.01 * 1e-6 + 1e-4)
    torch.testing.assert_close(p.detach(), torch.full((3,), expected_paper))
    assert not torch.allclose(p, q)


# ----------------------------------------------------------------------------- API and state
def test_param_groups_and_bind_model_agree():
    model = tiny_model(2)
    rows = torch.randn(2, sum(p.numel() for p in model.shared_parameters()))
    results = []
    for how in ("groups", "bind", "positional"):
        m = copy.deepcopy(model)
        if how == "groups":
            optimizer = AdaTask(adatask_param_groups(m), base="adam")
        elif how == "bind":
            optimizer = OPTIMIZERS.get("adatask_adam")(list(m.parameters()))
            with pytest.raises(RuntimeError, match="does not know which parameters are shared"):
                optimizer.step()
            optimizer.bind_model(m)
        else:
            optimizer = AdaTask(m.shared_parameters(), head_parameters(m), 2, base="adam")
        optimizer.set_task_gradients(rows)
        optimizer.step()
        results.append([p.detach().clone() for p in m.parameters()])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            torch.testing.assert_close(a, b)


def test_errors_are_clear():
    model = tiny_model(2)
    optimizer = AdaTask(adatask_param_groups(model), base="rmsprop")
    with pytest.raises(RuntimeError, match="set_task_gradients"):
        optimizer.step()
    with pytest.raises(ValueError, match=r"\(K, P\)"):
        optimizer.set_task_gradients(torch.zeros(5))
    optimizer.set_task_gradients(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="columns"):
        optimizer.step()
    with pytest.raises(ValueError, match="3 task gradients"):
        optimizer.set_task_gradients(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="base"):
        AdaTask(model.parameters(), base="sgd")
    with pytest.raises(TypeError, match="fixes"):
        OPTIMIZERS.get("adatask_adam")(list(model.parameters()), base="rmsprop")
    other = tiny_model(2, seed=3)
    with pytest.raises(ValueError, match="not in this optimizer"):
        optimizer.bind_model(other)


def test_task_gradients_are_consumed_by_a_step():
    model = tiny_model(2)
    optimizer = AdaTask(adatask_param_groups(model), base="adagrad")
    optimizer.set_task_gradients(torch.ones(2, sum(p.numel() for p in model.shared_parameters())))
    optimizer.step()
    with pytest.raises(RuntimeError, match="set_task_gradients"):
        optimizer.step()


def test_zero_gradients_give_finite_updates():
    for cls in (AdaTask, LAdaTask):
        for base in ("adagrad", "rmsprop", "adam"):
            for placement in ("outside", "inside"):
                model = tiny_model(2)
                optimizer = cls(adatask_param_groups(model), base=base, eps_placement=placement)
                optimizer.set_task_gradients(torch.zeros(2, sum(p.numel() for p in model.shared_parameters())))
                optimizer.step()
                assert all(torch.isfinite(u).all() and not u.any() for u in optimizer.last_task_updates)


@pytest.mark.parametrize("cls", [AdaTask, LAdaTask])
@pytest.mark.parametrize("base", ["adagrad", "rmsprop", "adam"])
def test_state_dict_round_trip(cls, base):
    """Save after 3 steps, load into a fresh optimizer on a copy, continue 3 steps on both:
    identical parameters."""
    batches = regression_batches(2, n_batches=6)
    model = tiny_model(2)

    def one_step(m, opt, batch):
        per_param, heads = per_task_gradients(m, batch)
        opt.set_task_gradients(torch.cat([g.reshape(2, -1) for g in per_param], dim=1))
        for p, g in zip(head_parameters(m), heads):
            p.grad = g
        opt.step()

    optimizer = cls(adatask_param_groups(model), base=base, **HYPER[base])
    for batch in batches[:3]:
        one_step(model, optimizer, batch)
    saved = copy.deepcopy(optimizer.state_dict())
    twin = copy.deepcopy(model)
    restored = cls(adatask_param_groups(twin), base=base, **HYPER[base])
    restored.load_state_dict(saved)
    loaded = restored.state[twin.shared_parameters()[0]]
    assert any(key.startswith("task_") and value.shape[0] == 2 for key, value in loaded.items() if key != "step")
    for batch in batches[3:]:
        one_step(model, optimizer, batch)
        one_step(twin, restored, batch)
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.equal(p, q)
    assert restored.state[twin.shared_parameters()[0]]["step"] == 6


# ----------------------------------------------------------------------------- through the engine
@pytest.mark.parametrize("name", ["adatask_rmsprop", "adatask_adam", "adatask_adagrad", "ladatask_rmsprop"])
@pytest.mark.parametrize("aggregator", [None, "pcgrad"])
@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(name, aggregator, num_tasks):
    model = tiny_model(num_tasks)
    before = [p.detach().clone() for p in model.shared_parameters()]
    trainer = Trainer(
        model, regression_tasks(num_tasks), optimizer=name, aggregator=aggregator, lr=1e-2, device="cpu", progress=False
    )
    assert trainer.needs_task_gradients
    history = trainer.fit(regression_batches(num_tasks, n_batches=4), epochs=5)  # 20 steps
    assert trainer.step_count == 20
    for record in history:
        assert all(math.isfinite(v) for k, v in record.items() if k.endswith("/train_loss"))
    assert any(not torch.equal(p, q) for p, q in zip(model.shared_parameters(), before))
    assert trainer.optimizer.shared_names[0].startswith("encoder.")


def test_engine_step_equals_direct_use():
    """Through the engine (no aggregator) AdaTask receives the raw task Jacobian: same result
    as driving it by hand with per-task autograd gradients."""
    batches = regression_batches(2, n_batches=4)
    model = tiny_model(2)
    twin = copy.deepcopy(model)
    trainer = Trainer(model, regression_tasks(2), optimizer="adatask_adam", lr=1e-2, device="cpu", progress=False)
    trainer.optimizer.bind_model(model)
    optimizer = AdaTask(adatask_param_groups(twin), base="adam", lr=1e-2)
    for batch in batches:
        trainer.train_step(batch)
        per_param, heads = per_task_gradients(twin, batch)
        optimizer.set_task_gradients(torch.cat([g.reshape(2, -1) for g in per_param], dim=1))
        for p, g in zip(head_parameters(twin), heads):
            p.grad = g
        optimizer.step()
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_direction_only_aggregator_is_refused_by_the_engine():
    from mtl_lib.aggregators import Aggregation, Aggregator

    class DirectionOnly(Aggregator):
        def aggregate(self, jacobian):
            return Aggregation(direction=jacobian.mean(0))

    trainer = Trainer(
        tiny_model(2),
        regression_tasks(2),
        optimizer="adatask_rmsprop",
        aggregator=DirectionOnly(),
        device="cpu",
        progress=False,
    )
    with pytest.raises(ValueError, match="per-task gradients"):
        trainer.fit(regression_batches(2), epochs=1)
