import copy

import pytest
import torch

from mtl_lib.aggregators import Aggregation, Aggregator
from mtl_lib.core import Callback
from mtl_lib.engine import Trainer
from tests.helpers import regression_batches, regression_tasks, tiny_model


def _plain_training(model, batches, lr=1e-2):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for x, *ys in batches:
        optimizer.zero_grad()
        preds = model(x)
        loss = sum(torch.nn.functional.mse_loss(p, y) for p, y in zip(preds, ys))
        loss.backward()
        optimizer.step()
    return model


@pytest.mark.parametrize("aggregator", [None, "sum"])
def test_ew_adam_matches_plain_training(aggregator):
    """The engine's EW step (plain path, and the Jacobian path with a summing aggregator) must
    give the same parameters as sum(losses).backward() + Adam."""
    batches = regression_batches(2, n_batches=6)
    reference = _plain_training(tiny_model(2), batches)
    model = tiny_model(2)
    trainer = Trainer(
        model, regression_tasks(2), aggregator=aggregator, optimizer="adam", lr=1e-2, device="cpu", progress=False
    )
    assert trainer.needs_task_gradients == (aggregator is not None)
    for batch in batches:
        trainer.train_step(batch)
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_plain_path_does_not_build_a_jacobian(monkeypatch):
    from mtl_lib.engine import jacobian_path as jacobian_path_module

    def forbidden(*args, **kwargs):
        raise AssertionError("EW without an aggregator must not compute per-task gradients")

    monkeypatch.setattr(jacobian_path_module, "task_jacobians", forbidden)
    trainer = Trainer(tiny_model(2), regression_tasks(2), device="cpu", progress=False)
    trainer.train_step(regression_batches(2)[0])


class _RecordingAggregator(Aggregator):
    """Returns zero for the shared parameters and remembers what it saw."""

    def aggregate(self, jacobian):
        self.seen = jacobian.clone()
        return Aggregation(direction=torch.zeros_like(jacobian[0]))


def test_task_parameters_get_only_their_own_gradient():
    model = tiny_model(3)
    batch = regression_batches(3)[0]
    aggregator = _RecordingAggregator()
    trainer = Trainer(
        model, regression_tasks(3), aggregator=aggregator, optimizer="sgd", lr=0.1, device="cpu", progress=False
    )
    x, *ys = batch
    expected = []
    for k in range(3):
        loss = torch.nn.functional.mse_loss(model(x)[k], ys[k])
        expected.append(torch.autograd.grad(loss, model.task_parameters(k)))
    trainer.optimizer.step = lambda *a, **k: None  # keep the gradients for inspection
    trainer.train_step(batch)
    for k in range(3):
        for param, grad in zip(model.task_parameters(k), expected[k]):
            torch.testing.assert_close(param.grad, grad)
    assert all(torch.count_nonzero(p.grad) == 0 for p in model.shared_parameters())
    assert aggregator.seen.shape[0] == 3


def test_history_records_losses_and_metrics_and_hooks_fire():
    events = []

    class Spy(Callback):
        def on_train_start(self, trainer):
            events.append("train_start")

        def on_phase_start(self, trainer, phase):
            events.append(f"phase:{phase}")

        def on_epoch_end(self, trainer, epoch, record):
            events.append(f"epoch:{epoch}")

    batches = regression_batches(2)
    trainer = Trainer(tiny_model(2), regression_tasks(2), device="cpu", progress=False, callbacks=[Spy()])
    history = trainer.fit(batches, phases=[("warmup", 1), ("main", 2)], eval_data=batches[:1])
    assert events == ["train_start", "phase:warmup", "epoch:1", "phase:main", "epoch:2", "epoch:3"]
    assert [r["phase"] for r in history] == ["warmup", "main", "main"]
    assert {"t0/train_loss", "t1/train_loss", "t0/loss", "t1/loss"} <= set(history[0])
    assert history[-1]["steps"] == 3 * len(batches)


def test_mismatched_epochs_and_phases_is_an_error():
    trainer = Trainer(tiny_model(2), regression_tasks(2), device="cpu", progress=False)
    with pytest.raises(ValueError, match="disagrees"):
        trainer.fit(regression_batches(2), epochs=5, phases=[("a", 1)])


def test_wrong_number_of_tasks_is_an_error():
    with pytest.raises(ValueError, match="3 tasks"):
        Trainer(tiny_model(2), regression_tasks(3), device="cpu")


def test_overlapping_parameter_groups_are_rejected():
    model = tiny_model(2)
    model.heads[1] = model.heads[0]
    with pytest.raises(ValueError, match="both"):
        Trainer(model, regression_tasks(2), device="cpu")


def test_task_aware_optimizer_receives_projected_rows():
    class Recorder(torch.optim.SGD):
        consumes_task_gradients = True

        def set_task_gradients(self, task_gradients):
            self.rows = task_gradients.clone()

    model = tiny_model(2)
    optimizer = Recorder(model.parameters(), lr=0.0)
    trainer = Trainer(
        model, regression_tasks(2), aggregator="pcgrad", optimizer=optimizer, device="cpu", progress=False
    )
    assert trainer.needs_task_gradients
    trainer.train_step(regression_batches(2)[0])
    direction = torch.cat([p.grad.reshape(-1) for p in model.shared_parameters()])
    torch.testing.assert_close(optimizer.rows.sum(0), direction)


def test_same_seed_same_model_is_deterministic():
    def train():
        torch.manual_seed(0)
        model = tiny_model(2)
        trainer = Trainer(model, regression_tasks(2), aggregator="pcgrad", device="cpu", progress=False)
        trainer.fit(regression_batches(2), epochs=2)
        return copy.deepcopy(model.state_dict())

    first, second = train(), train()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def test_representation_level_backpropagates_weighted_sum():
    from mtl_lib.aggregators import GramianWeightedAggregator

    class HalfAndDouble(GramianWeightedAggregator):
        def weights_from_gram(self, gram):
            self.gram = gram
            return torch.tensor([0.5, 2.0])

    batch = regression_batches(2)[0]
    reference = tiny_model(2)
    x, *ys = batch
    preds = reference(x)
    loss = 0.5 * torch.nn.functional.mse_loss(preds[0], ys[0]) + 2.0 * torch.nn.functional.mse_loss(preds[1], ys[1])
    loss.backward()

    model = tiny_model(2)
    aggregator = HalfAndDouble()
    trainer = Trainer(
        model,
        regression_tasks(2),
        aggregator=aggregator,
        optimizer="sgd",
        lr=0.0,
        jacobian_of="representation",
        device="cpu",
        progress=False,
    )
    trainer.train_step(batch)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad)
    assert aggregator.gram.shape == (2, 2)


def test_representation_level_needs_a_gramian_method():
    with pytest.raises(ValueError, match="Gram"):
        Trainer(tiny_model(2), regression_tasks(2), aggregator="graddrop", jacobian_of="representation", device="cpu")
    with pytest.raises(ValueError, match="granularity='whole'"):
        Trainer(tiny_model(2), regression_tasks(2), aggregator="gradvac", jacobian_of="representation", device="cpu")


def test_looped_jacobian_option_gives_the_same_training():
    def train(batched):
        model = tiny_model(3)
        trainer = Trainer(
            model, regression_tasks(3), aggregator="pcgrad", device="cpu", progress=False, batched_jacobian=batched
        )
        trainer.fit(regression_batches(3), epochs=2)
        return model

    for p, q in zip(train(True).parameters(), train(False).parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_task_aware_optimizer_receives_weighted_rows_from_a_weights_only_aggregator():
    from mtl_lib.aggregators import GramianWeightedAggregator

    class Fixed(GramianWeightedAggregator):
        def weights_from_gram(self, gram):
            return torch.tensor([0.25, 3.0])

    class Recorder(torch.optim.SGD):
        consumes_task_gradients = True

        def set_task_gradients(self, task_gradients):
            self.rows = task_gradients.clone()

    model = tiny_model(2)
    optimizer = Recorder(model.parameters(), lr=0.0)
    trainer = Trainer(model, regression_tasks(2), aggregator=Fixed(), optimizer=optimizer, device="cpu", progress=False)
    trainer.train_step(regression_batches(2)[0])
    jacobian = trainer.last_jacobian
    torch.testing.assert_close(optimizer.rows, torch.tensor([[0.25], [3.0]]) * jacobian)
    direction = torch.cat([p.grad.reshape(-1) for p in model.shared_parameters()])
    torch.testing.assert_close(optimizer.rows.sum(0), direction)


# ----------------------------------------------------------------- Jacobian path choice
def test_jacobian_path_rule_forced_and_plain():
    from mtl_lib.architectures import small_cnn

    mlp = Trainer(tiny_model(2), regression_tasks(2), aggregator="mgda", device="cpu", progress=False)
    assert mlp.jacobian_path["path"] == "batched" and mlp.jacobian_path["mode"] == "auto"
    assert mlp.batched_jacobian is True
    cnn = Trainer(small_cnn(num_classes=(3, 2)), regression_tasks(2), aggregator="mgda", device="cpu", progress=False)
    assert cnn.jacobian_path["path"] == "sequential" and "Conv2d" in cnn.jacobian_path["reason"]
    assert cnn.batched_jacobian is False
    forced = Trainer(
        small_cnn(num_classes=(3, 2)),
        regression_tasks(2),
        aggregator="mgda",
        device="cpu",
        progress=False,
        batched_jacobian=True,
    )
    assert forced.jacobian_path == {"path": "batched", "mode": "forced", "reason": "batched_jacobian=True"}
    plain = Trainer(tiny_model(2), regression_tasks(2), device="cpu", progress=False)
    assert plain.jacobian_path["path"] == "none"
    with pytest.raises(ValueError, match="'auto' or 'probe'"):
        Trainer(tiny_model(2), regression_tasks(2), aggregator="mgda", device="cpu", batched_jacobian="fast")


def test_jacobian_path_probe_times_both_then_decides():
    trainer = Trainer(
        tiny_model(3), regression_tasks(3), aggregator="pcgrad", device="cpu", progress=False, batched_jacobian="probe"
    )
    assert trainer.jacobian_path["path"] == "probing"
    reference = Trainer(
        tiny_model(3), regression_tasks(3), aggregator="pcgrad", device="cpu", progress=False, batched_jacobian=False
    )
    trainer.fit(regression_batches(3), epochs=2)
    reference.fit(regression_batches(3), epochs=2)
    path = trainer.jacobian_path
    assert path["mode"] == "probe" and path["path"] in ("batched", "sequential")
    assert len(path["timings_ms"]["batched"]) == 2 and len(path["timings_ms"]["sequential"]) == 2
    assert trainer.batched_jacobian is (path["path"] == "batched")
    # Both paths give the same numbers: probing does not change the training.
    for p, q in zip(trainer.model.parameters(), reference.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
