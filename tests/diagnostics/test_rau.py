"""rAU tracker (AdaTask, Yang et al. AAAI 2023, Eq. 2–3): values, per-task decomposition of the
optimizer's step, bucket semantics, and the paper's qualitative claim on two tasks whose
gradients differ by about 10×."""

from __future__ import annotations

import pytest
import torch

import mtl_lib.optim.adatask  # noqa: F401  (registers the AdaTask optimizer names)
from mtl_lib.diagnostics.rau import RAUTracker
from mtl_lib.engine import Trainer
from tests.helpers import regression_batches, regression_tasks, tiny_model


def _train(optimizer, aggregator, *, steps_per_epoch=10, epochs=20, lr=1e-3, **tracker_kwargs):
    tracker = RAUTracker(**tracker_kwargs)
    trainer = Trainer(
        tiny_model(2),
        regression_tasks(2),
        optimizer=optimizer,
        aggregator=aggregator,
        lr=lr,
        device="cpu",
        progress=False,
        callbacks=[tracker],
    )
    trainer.fit(regression_batches(2, n_batches=steps_per_epoch, batch=16), epochs=epochs)
    return tracker


def test_rau_of_one_step_is_the_gradient_share():
    """After one step of any shared-denominator optimizer, Δθ^k ∝ g^k, so rAU(i, 1, k) =
    (g^k_i)² / Σ_k' (g^k'_i)² whatever the denominator."""
    model = tiny_model(2)
    tracker = RAUTracker(gamma=0.9)
    tracker.bind(model)
    trainer = Trainer(
        model, regression_tasks(2), optimizer="rmsprop", aggregator="sum", lr=1e-2, device="cpu", progress=False
    )
    trainer.train_step(regression_batches(2)[0])
    rows = trainer.last_aggregation.task_gradients
    tracker.update(tracker.task_updates(trainer.optimizer, trainer))
    squares = rows.square()
    expected = squares[1] / squares.sum(0)
    moved = squares.sum(0) > 0
    torch.testing.assert_close(tracker.rau(1)[moved], expected[moved])
    torch.testing.assert_close(tracker.rau("t0") + tracker.rau("t1"), torch.ones_like(expected))
    # AU itself: (1 − γ)·(Δθ^k)² with Δθ^k = η g^k / (√G + ε), G = (1 − α)(Σ_k g^k)².
    square_avg = torch.cat([trainer.optimizer.state[p]["square_avg"].reshape(-1) for p in model.shared_parameters()])
    delta = 1e-2 * rows / (square_avg.sqrt() + 1e-8)
    torch.testing.assert_close(tracker.au, 0.1 * delta.square())


@pytest.mark.parametrize(
    "optimizer, kwargs",
    [
        ("sgd", {}),
        ("sgd", {"momentum": 0.9, "dampening": 0.1}),
        ("sgd", {"momentum": 0.9, "nesterov": True}),
        ("rmsprop", {}),
        ("rmsprop", {"centered": True}),
        ("adagrad", {"lr_decay": 0.01}),
        ("adam", {}),
        ("adam", {"amsgrad": True}),
        ("adamw", {"weight_decay": 0.0}),
        ("adatask_rmsprop", {}),
        ("adatask_adam", {"weight_decay": 0.01}),
        ("ladatask_rmsprop", {}),
    ],
)
def test_task_updates_sum_to_the_step(optimizer, kwargs):
    """Σ_k Δθ^k must be exactly the optimizer's step of the shared parameters (no weight decay
    for plain optimizers; AdaTask splits it across tasks)."""
    model = tiny_model(2)
    aggregator = None if optimizer.startswith(("adatask", "ladatask")) else "sum"
    trainer = Trainer(
        model,
        regression_tasks(2),
        optimizer=optimizer,
        aggregator=aggregator,
        lr=1e-2,
        optimizer_kwargs=kwargs,
        device="cpu",
        progress=False,
    )
    if hasattr(trainer.optimizer, "bind_model"):
        trainer.optimizer.bind_model(model)
    tracker = RAUTracker()
    tracker.bind(model)
    for batch in regression_batches(2, n_batches=6):
        before = torch.cat([p.detach().reshape(-1) for p in model.shared_parameters()])
        trainer.train_step(batch)
        after = torch.cat([p.detach().reshape(-1) for p in model.shared_parameters()])
        updates = tracker.task_updates(trainer.optimizer, trainer)
        tracker.update(updates)
        torch.testing.assert_close(updates.sum(0), before - after, rtol=1e-4, atol=1e-7)


def test_plain_path_without_task_gradients_is_an_error(two_task_problem):
    tracker = RAUTracker()
    trainer = Trainer(
        two_task_problem.model,
        two_task_problem.tasks,
        optimizer="rmsprop",
        device="cpu",
        progress=False,
        callbacks=[tracker],
    )
    with pytest.raises(RuntimeError, match="aggregator='sum'"):
        trainer.fit(two_task_problem.batches, epochs=1)


def test_unsupported_optimizer_is_an_error(two_task_problem):
    tracker = RAUTracker()
    trainer = Trainer(
        two_task_problem.model,
        two_task_problem.tasks,
        optimizer=torch.optim.Adadelta,
        aggregator="sum",
        device="cpu",
        progress=False,
        callbacks=[tracker],
    )
    with pytest.raises(TypeError, match="Adadelta"):
        trainer.fit(two_task_problem.batches, epochs=1)


def test_bucket_edges_are_right_closed_and_unmoved_elements_are_left_out():
    class Flat:
        task_names = ["A", "B"]

        def __init__(self):
            self.w = torch.nn.Parameter(torch.zeros(5))
            self.b = torch.nn.Parameter(torch.zeros(1))

        def shared_parameters(self):
            return [self.w, self.b]

        def named_parameters(self):
            return [("w", self.w), ("b", self.b)]

    tracker = RAUTracker(gamma=0.5)
    tracker.bind(Flat())
    # rAU(B) = 0.2, 0.6, 1.0, 0.0, 0.5 for w, and b untouched.
    share_b = torch.tensor([0.2, 0.6, 1.0, 0.0, 0.5])
    au = torch.stack([1 - share_b, share_b])
    tracker.update(torch.cat([au.sqrt(), torch.zeros(2, 1)], dim=1))
    torch.testing.assert_close(tracker.rau("B")[:5], share_b)
    assert float(tracker.rau("B")[5]) == 0.5  # no task moved it: 1/K
    shares = tracker.bucket_shares("B")
    assert list(shares.columns) == ["(0, 0.2]", "(0.2, 0.4]", "(0.4, 0.6]", "(0.6, 0.8]", "(0.8, 1]"]
    torch.testing.assert_close(torch.tensor(shares.loc["w"].tolist()), torch.tensor([0.4, 0.0, 0.4, 0.0, 0.2]))
    torch.testing.assert_close(torch.tensor(shares.loc["all"].tolist()), torch.tensor([0.4, 0.0, 0.4, 0.0, 0.2]))
    assert shares.loc["b"].sum() == 0  # nothing moved in b
    coarse = tracker.bucket_shares("A", edges=(0, 0.5, 1))
    torch.testing.assert_close(torch.tensor(coarse.loc["w"].tolist()), torch.tensor([0.6, 0.4]))
    assert tracker.rau_by_layer("B")["w"].shape == (5,)
    with pytest.raises(ValueError, match="edges"):
        RAUTracker(edges=(0.1, 1.0))


def test_history_is_recorded_every_n_steps():
    tracker = _train("adatask_rmsprop", None, steps_per_epoch=4, epochs=5, record_every=5)
    assert [step for step, _ in tracker.history] == [5, 10, 15, 20]
    frame = tracker.history_frame()
    assert set(frame.columns) == {"step", "task", "layer", "bucket", "share"}
    totals = frame.groupby(["step", "task", "layer"])["share"].sum()
    torch.testing.assert_close(torch.tensor(totals.values), torch.ones(len(totals), dtype=torch.float64))
    assert set(frame["task"]) == {"t0", "t1"} and "encoder.0.weight" in set(frame["layer"])


def test_plain_rmsprop_is_dominated_by_the_larger_task_and_adatask_balances_it():
    """The paper's Fig. 2 in miniature: task t1's targets (hence gradients) are ~10× task t0's.
    200 steps, lr 1e-3. Measured (shares of shared elements per rAU(t1) bucket; data seeds 1, 2, 3):
    plain RMSProp + 'sum': (0.8, 1] = 1.00 overall and in every layer, median rAU 0.99–1.00;
    AdaTask-RMSProp: (0.4, 0.6] = 0.73 / 0.59 / 0.87, (0.6, 0.8] = 0.27 / 0.36 / 0.13, (0.2, 0.4] ≤ 0.05,
    (0.8, 1] = 0, median 0.53–0.57; AdaTask-AdaGrad (not run here, to keep the test fast):
    (0.4, 0.6] = 0.97 / 0.90 / 0.97."""
    plain = _train("rmsprop", "sum")
    shares = plain.bucket_shares("t1")
    assert shares.loc["all", "(0.8, 1]"] > 0.9
    assert (shares["(0.8, 1]"] > 0.75).all()  # every layer dominated
    assert float(plain.rau("t1").median()) > 0.95

    adatask = _train("adatask_rmsprop", None)
    shares = adatask.bucket_shares("t1")
    assert shares.loc["all", "(0.4, 0.6]"] > 0.5
    assert shares.loc["all", ["(0.4, 0.6]", "(0.6, 0.8]"]].sum() > 0.9
    assert shares.loc["all", "(0.8, 1]"] < 0.05
    assert 0.45 < float(adatask.rau("t1").median()) < 0.65


def test_au_is_the_decaying_average_of_squared_updates_over_steps():
    """Eq. 2–3 by hand over two steps, γ = 0.5, two tasks, three elements:
    AU_1 = 0.5·u_1², AU_2 = 0.5·AU_1 + 0.5·u_2² and rAU = AU / Σ_k AU. Element 0 gets
    AU = (0.25, 4.75) → rAU(task 0) = 0.05. The likely misreadings give other numbers:
    |Δθ| instead of Δθ² → 0.125; the last step only → 0; a sum without decay → 1/11."""

    class Flat:
        task_names = ["A", "B"]

        def __init__(self):
            self.w = torch.nn.Parameter(torch.zeros(3))

        def shared_parameters(self):
            return [self.w]

        def named_parameters(self):
            return [("w", self.w)]

    tracker = RAUTracker(gamma=0.5)
    tracker.bind(Flat())
    tracker.update(torch.tensor([[1.0, 2.0, 0.0], [1.0, 0.0, 0.0]]))
    tracker.update(torch.tensor([[0.0, 2.0, 0.0], [3.0, 0.0, 0.0]]))
    torch.testing.assert_close(tracker.au, torch.tensor([[0.25, 3.0, 0.0], [4.75, 0.0, 0.0]]))
    torch.testing.assert_close(tracker.rau("A"), torch.tensor([0.05, 1.0, 0.5]))  # element 2: unmoved, 1/K
    torch.testing.assert_close(tracker.rau("B"), torch.tensor([0.95, 0.0, 0.5]))


def test_a_loss_weighting_method_attributes_its_weighted_gradient_to_each_task():
    """GradNorm (a Fig. 3 method) under Adam: Δθ^k comes from w_k g_k, so Σ_k Δθ^k is Adam's
    step. Raw gradients g_k would not add up to it once the weights have left 1 (checked)."""
    model = tiny_model(2)
    trainer = Trainer(
        model,
        regression_tasks(2),
        weighting="gradnorm",
        optimizer="adam",
        aggregator="sum",
        lr=1e-2,
        device="cpu",
        progress=False,
    )
    trainer.weighting.on_train_start(trainer)
    tracker = RAUTracker()
    tracker.bind(model)
    for batch in regression_batches(2, n_batches=6):
        before = torch.cat([p.detach().reshape(-1) for p in model.shared_parameters()])
        trainer.train_step(batch)
        after = torch.cat([p.detach().reshape(-1) for p in model.shared_parameters()])
        updates = tracker.task_updates(trainer.optimizer, trainer)
        tracker.update(updates)
        torch.testing.assert_close(updates.sum(0), before - after, rtol=1e-4, atol=1e-7)
    assert float((trainer.weighting.weights - 1).abs().max()) > 1e-2  # the weights did move


# ----------------------------------------------------------------------------- checkpoints
class _Killed(RuntimeError):
    pass


class _StopAfter:
    """Stands for a kill after epoch ``epoch`` (stateless, so the run stays checkpointed)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def on_epoch_end(self, trainer, epoch, record) -> None:
        if epoch == self.epoch:
            raise _Killed(f"stopped after epoch {epoch}")


def _probe_config(**fields):
    from mtl_lib.experiments import RunConfig

    return RunConfig(**{
        "problem": "synthetic_regression", "optimizer": "adam", "epochs": 4, "batch_size": 16, "seed": 2,
        "problem_kwargs": {"n_train": 48, "n_test": 16, "hidden": (8,)}, "device": "cpu", **fields,
    })  # fmt: skip


def _without_times(record: dict) -> list[dict]:
    return [{k: v for k, v in epoch.items() if k != "train_time_s"} for epoch in record["history"]]


def test_a_run_with_probes_killed_at_epoch_k_resumes_with_the_uninterrupted_probe_outputs(tmp_path):
    """Before: the rAU tracker had no state_dict, so a run with it was not checkpointed and
    restarted from epoch 0. After: killed after epoch 3 of 4 (its checkpoint: epoch 2), the run
    resumes at epoch 3 and its rAU (AU, Adam's per-task moments, recorded shares), its
    per-layer conflict sums and its final metrics equal an uninterrupted run's exactly."""
    from mtl_lib.diagnostics import ConflictTracker
    from mtl_lib.experiments import run

    config = _probe_config()
    whole_rau, whole_conflicts = RAUTracker(record_every=2), ConflictTracker()
    whole = run(config, extra_diagnostics=[whole_rau], callbacks=[whole_conflicts])
    checkpoint = tmp_path / "run.ckpt"
    with pytest.raises(_Killed):
        run(config, checkpoint=checkpoint, extra_diagnostics=[RAUTracker(record_every=2)],
            callbacks=[ConflictTracker(), _StopAfter(3)])  # fmt: skip
    rau, conflicts = RAUTracker(record_every=2), ConflictTracker()
    resumed = run(config, checkpoint=checkpoint, extra_diagnostics=[rau], callbacks=[conflicts, _StopAfter(-1)])
    assert resumed["resumed_from_epoch"] == 2
    assert torch.equal(rau.au, whole_rau.au) and torch.equal(rau._momentum, whole_rau._momentum)
    assert rau.steps == whole_rau.steps and [s for s, _ in rau.history] == [s for s, _ in whole_rau.history]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(rau.history, whole_rau.history))
    assert resumed["diagnostics"] == whole["diagnostics"]  # rau_buckets and rau_history
    assert conflicts.steps == whole_conflicts.steps
    for name in ("conflict_counts", "cosine_sum", "similarity_sum"):
        assert torch.equal(getattr(conflicts, name), getattr(whole_conflicts, name)), name
    assert _without_times(resumed) == _without_times(whole)  # every epoch's metrics, the final one's too


def test_the_registered_rau_diagnostic_is_checkpointed(tmp_path):
    """``RunConfig(diagnostics=("rau",))``, as the AdaTask rAU chapter's sweep runs it."""
    from mtl_lib.experiments import run

    config = _probe_config(diagnostics=("rau",), optimizer="rmsprop")
    whole = run(config)
    checkpoint = tmp_path / "run.ckpt"
    with pytest.raises(_Killed):
        run(config, checkpoint=checkpoint, callbacks=[_StopAfter(2)])
    resumed = run(config, checkpoint=checkpoint, callbacks=[_StopAfter(-1)])
    assert resumed["resumed_from_epoch"] == 1
    assert resumed["diagnostics"] == whole["diagnostics"] and _without_times(resumed) == _without_times(whole)


def test_rau_state_of_other_settings_is_refused():
    tracker = RAUTracker(gamma=0.9)
    with pytest.raises(ValueError, match="tracked with"):
        RAUTracker(gamma=0.5).load_state_dict(tracker.state_dict())
