import pytest
import torch

from mtl_lib.core import Callback
from mtl_lib.diagnostics.conflict import gradient_cosine, magnitude_similarity
from mtl_lib.diagnostics.layers import ConflictTracker, layer_conflicts
from mtl_lib.engine import Trainer
from tests.helpers import regression_batches, regression_tasks, tiny_model

NAMES = ["enc.0.weight", "enc.0.bias", "enc.1.weight"]
SIZES = [2, 1, 3]


def test_layer_conflicts_per_block():
    jac = torch.tensor(
        [
            [1.0, 2.0, 0.5, 1.0, 0.0, 2.0],
            [-1.0, -1.0, 0.0, 2.0, 1.0, 1.0],
            [0.0, 0.0, 0.0, -3.0, 0.0, 0.0],
        ]
    )
    stats = layer_conflicts(jac, NAMES, SIZES)
    assert stats.layers == ["enc.0", "enc.1"]
    assert stats.cosine.shape == stats.magnitude_similarity.shape == stats.conflict.shape == (2, 3, 3)
    for block, (start, end) in enumerate([(0, 3), (3, 6)]):
        torch.testing.assert_close(stats.cosine[block], gradient_cosine(jac[:, start:end]))
        torch.testing.assert_close(stats.magnitude_similarity[block], magnitude_similarity(jac[:, start:end]))
    # Layer 0: tasks 0 and 1 conflict; task 2 is zero there (no conflict, cosine 0).
    assert stats.conflict[0, 0, 1] and not stats.conflict[0, 0, 2] and stats.cosine[0, 0, 2] == 0
    # Layer 1: 0·1 = 2 + 0 + 2 > 0, 0·2 = −3 < 0, 1·2 = −6 < 0.
    assert not stats.conflict[1, 0, 1] and stats.conflict[1, 0, 2] and stats.conflict[1, 1, 2]
    frame = stats.to_frame(["a", "b", "c"])
    assert len(frame) == 2 * 3
    assert set(frame.columns) == {"layer", "task_i", "task_j", "cosine", "magnitude_similarity", "conflict"}
    whole = layer_conflicts(jac, NAMES, SIZES, granularity="whole")
    torch.testing.assert_close(whole.cosine[0], gradient_cosine(jac))
    assert layer_conflicts(jac, NAMES, SIZES, granularity="parameter").layers == NAMES


def test_layer_conflicts_checks_the_column_count():
    with pytest.raises(ValueError, match="columns"):
        layer_conflicts(torch.zeros(2, 5), NAMES, SIZES)


class _JacobianSpy(Callback):
    def __init__(self):
        self.jacobians = []

    def on_step_end(self, trainer, step, losses):
        self.jacobians.append(trainer.last_jacobian.clone())


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_tracker_accumulates_conflict_frequency(num_tasks):
    tracker, spy = ConflictTracker(), _JacobianSpy()
    model = tiny_model(num_tasks)
    trainer = Trainer(
        model, regression_tasks(num_tasks), aggregator="sum", device="cpu", progress=False, callbacks=[spy, tracker]
    )
    trainer.fit(regression_batches(num_tasks), epochs=5)
    assert tracker.steps == 20 and tracker.layers == ["encoder.0", "encoder.2"]
    names = [n for n, _ in model.encoder.named_parameters()]
    expected = torch.stack(
        [layer_conflicts(j, [f"encoder.{n}" for n in names], tracker.sizes).conflict.float() for j in spy.jacobians]
    ).mean(0)
    torch.testing.assert_close(tracker.frequency(), expected)
    summary = tracker.summary()
    assert len(summary) == 2 * num_tasks * (num_tasks - 1) // 2
    assert summary["conflict_frequency"].between(0, 1).all() and (summary["steps"] == 20).all()
    assert list(summary["task_i"].unique())[0] == "t0"


def test_tracker_every_and_state_round_trip(two_task_problem):
    tracker = ConflictTracker(every=2)
    trainer = Trainer(
        two_task_problem.model,
        two_task_problem.tasks,
        aggregator="pcgrad",
        device="cpu",
        progress=False,
        callbacks=[tracker],
    )
    trainer.fit(two_task_problem.batches, epochs=2)
    assert tracker.steps == 4
    clone = ConflictTracker(every=2)
    clone.load_state_dict(tracker.state_dict())
    torch.testing.assert_close(clone.frequency(), tracker.frequency())
    tracker.reset()
    with pytest.raises(RuntimeError, match="no step"):
        tracker.frequency()


def test_tracker_refuses_the_plain_path(two_task_problem):
    trainer = Trainer(
        two_task_problem.model, two_task_problem.tasks, device="cpu", progress=False, callbacks=[ConflictTracker()]
    )
    with pytest.raises(RuntimeError, match="aggregator='sum'"):
        trainer.fit(two_task_problem.batches, epochs=1)
