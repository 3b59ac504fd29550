"""Trainer.state_dict / load_state_dict: k epochs, a checkpoint, a fresh trainer, n − k more
epochs must end exactly where n uninterrupted epochs end (CPU, fixed seeds)."""

from __future__ import annotations

import io

import pytest
import torch

from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.engine import Trainer
from mtl_lib.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mtl_lib.weighting import WEIGHTINGS
from tests.helpers import regression_batches, regression_tasks, tiny_model

EPOCHS, STOP_AFTER = 4, 2

#: (weighting, aggregator, optimizer): stateful weightings (UW's log-variances, DWA's loss
#: history, FAMO's logits and their optimizer, GradNorm's weights and Adam), stateful
#: aggregators (GradVac's EMA, MoCo's tracked directions, PCGrad's generator, Nash-MTL's
#: warm start) and AdaTask's per-task accumulators.
COMBINATIONS = [
    ("uw", "gradvac", "adam"),
    ("dwa", "pcgrad", "adatask_adam"),
    ("famo", "moco", "sgd"),
    ("gradnorm", None, "rmsprop"),
    ("rlw", "nash_mtl", "ladatask_rmsprop"),
    ("ew", "cagrad", "adatask_rmsprop"),
]


def _trainer(weighting, aggregator, optimizer, seed=0):
    torch.manual_seed(seed)
    return Trainer(
        tiny_model(3, seed=seed),
        regression_tasks(3),
        weighting=weighting,
        aggregator=aggregator,
        optimizer=optimizer,
        lr=1e-2,
        device="cpu",
        progress=False,
    )


def _round_trip(state):
    """Through bytes, as a checkpoint file would carry it."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


class _EpochData:
    """An iterable that reshuffles from torch's global generator every epoch (like a
    DataLoader with shuffle=True and no own generator)."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        order = torch.randperm(len(self.batches))
        return iter([self.batches[i] for i in order])


@pytest.mark.parametrize(("weighting", "aggregator", "optimizer"), COMBINATIONS)
def test_resumed_training_equals_uninterrupted_training(weighting, aggregator, optimizer):
    data = _EpochData(regression_batches(3, n_batches=4))
    evaluation = regression_batches(3, n_batches=1, seed=7)

    straight = _trainer(weighting, aggregator, optimizer)
    straight.fit(data, epochs=EPOCHS, eval_data=evaluation)
    expected_parameters = [p.detach().clone() for p in straight.model.parameters()]
    expected_history = straight.history

    first = _trainer(weighting, aggregator, optimizer)
    first.fit(data, epochs=STOP_AFTER, eval_data=evaluation)
    state = _round_trip(first.state_dict())
    torch.manual_seed(12345)  # anything the process does between kill and resume
    del first

    resumed = _trainer(weighting, aggregator, optimizer, seed=1)  # other initial weights: all overwritten
    resumed.load_state_dict(state)
    assert resumed.epoch == STOP_AFTER
    resumed.fit(data, epochs=EPOCHS, eval_data=evaluation, resume=True)

    assert resumed.epoch == EPOCHS and resumed.step_count == straight.step_count
    for p, q in zip(resumed.model.parameters(), expected_parameters):
        assert torch.equal(p, q)
    strip = [{k: v for k, v in r.items() if k != "train_time_s"} for r in expected_history]
    assert [{k: v for k, v in r.items() if k != "train_time_s"} for r in resumed.history] == strip


def test_state_dict_restores_each_ingredients_state():
    trainer = _trainer("uw", "gradvac", "adatask_adam")
    trainer.fit(regression_batches(3), epochs=1)
    fresh = _trainer("uw", "gradvac", "adatask_adam", seed=3)
    fresh.load_state_dict(_round_trip(trainer.state_dict()))
    assert torch.equal(fresh.weighting.log_vars, trainer.weighting.log_vars)
    assert fresh.optimizer.state_dict()["state"].keys() == trainer.optimizer.state_dict()["state"].keys()
    shared = fresh.model.shared_parameters()
    # The restored optimizer acts on the fresh model's own tensors, not on unpickled copies.
    assert {id(p) for p in fresh.optimizer.shared_parameters} == {id(p) for p in shared}
    assert all(p in fresh.optimizer.state for p in shared)


def test_checkpoint_file_round_trip_and_mismatch(tmp_path):
    trainer = _trainer("dwa", "pcgrad", "adam")
    trainer.fit(regression_batches(3), epochs=1)
    path = save_checkpoint(trainer, tmp_path / "run.ckpt")
    assert path.exists() and not list(tmp_path.glob(".*.tmp"))
    fresh = _trainer("dwa", "pcgrad", "adam")
    load_checkpoint(fresh, path)
    assert fresh.history == trainer.history
    other = Trainer(tiny_model(2), regression_tasks(2), device="cpu", progress=False)
    with pytest.raises(CheckpointError, match="do not fit this trainer"):
        load_checkpoint(other, path)
    (tmp_path / "broken.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="delete it to start over"):
        load_checkpoint(fresh, tmp_path / "broken.ckpt")


def test_resume_continues_a_phase_without_restarting_it():
    events = []

    class Spy:
        def on_phase_start(self, trainer, phase):
            events.append(phase)

    phases = [("warmup", 1), ("main", 3)]
    first = Trainer(tiny_model(2), regression_tasks(2), device="cpu", progress=False)
    first.fit(regression_batches(2), phases=[("warmup", 1), ("main", 1)])
    resumed = Trainer(tiny_model(2), regression_tasks(2), device="cpu", progress=False, callbacks=[Spy()])
    resumed.load_state_dict(first.state_dict())
    resumed.fit(regression_batches(2), phases=phases, resume=True)
    assert events == []  # 'main' had begun before the checkpoint
    assert [r["phase"] for r in resumed.history] == ["warmup", "main", "main", "main"]
    with pytest.raises(ValueError, match="already done"):
        resumed.fit(regression_batches(2), epochs=2, resume=True)


@pytest.mark.parametrize("name", WEIGHTINGS.names())
def test_every_weighting_can_be_checkpointed(name):
    trainer = _trainer(name, None, "adam")
    trainer.fit(regression_batches(3, n_batches=2), epochs=1)
    _trainer(name, None, "adam").load_state_dict(_round_trip(trainer.state_dict()))


@pytest.mark.parametrize("name", [n for n in AGGREGATORS.names() if n != "config"])
def test_every_aggregator_can_be_checkpointed(name):
    trainer = _trainer("ew", name, "adam")
    trainer.fit(regression_batches(3, n_batches=2), epochs=1)
    _trainer("ew", name, "adam").load_state_dict(_round_trip(trainer.state_dict()))


def _resume_matches(build, schedule_kwargs, data, stop_after):
    """Train straight through; then ``stop_after`` epochs, checkpoint, a fresh build, resume."""
    straight = build()
    straight.fit(data, **schedule_kwargs)
    first = build()
    first.fit(data, **{**schedule_kwargs, **_first_part(schedule_kwargs, stop_after)})
    state = _round_trip(first.state_dict())
    resumed = build()
    resumed.load_state_dict(state)
    resumed.fit(data, **schedule_kwargs, resume=True)
    for p, q in zip(resumed.model.parameters(), straight.model.parameters()):
        assert torch.equal(p, q)
    for a, b in zip(resumed.model.buffers(), straight.model.buffers()):
        assert torch.equal(a, b)
    return straight, resumed


def _first_part(schedule_kwargs, stop_after):
    if "phases" not in schedule_kwargs:
        return {"epochs": stop_after}
    phases, left = [], stop_after
    for phase, n in schedule_kwargs["phases"]:
        phases.append((phase, min(n, left)))
        left -= min(n, left)
    return {"phases": [(p, n) for p, n in phases if n > 0]}


def test_rotograd_resume_restores_the_rotation_optimizer():
    from mtl_lib.architectures import ARCHITECTURES
    from mtl_lib.architectures.rotograd import RotoGradRotationStep

    def build():
        model = ARCHITECTURES.build("rotograd", base=tiny_model(2))
        return Trainer(model, regression_tasks(2), device="cpu", progress=False, callbacks=[RotoGradRotationStep()])

    straight, resumed = _resume_matches(build, {"epochs": 4}, regression_batches(2), stop_after=2)
    assert resumed.callbacks[0].steps == straight.callbacks[0].steps == 16


@pytest.mark.parametrize("stop_after", [1, 3])  # at the phase boundary, and inside post_mask
def test_lass_resume_keeps_the_masks(stop_after):
    from torch import nn

    from mtl_lib.architectures.lass import LaSSSchedule, lass_phases
    from mtl_lib.architectures.leaf_cnn import LeafCNN
    from mtl_lib.core import Task

    gen = torch.Generator().manual_seed(0)
    batches = [
        (
            torch.rand(8, 3, 16, 16, generator=gen),
            torch.randint(0, 12, (8,), generator=gen),
            torch.randint(0, 2, (8,), generator=gen),
        )
        for _ in range(2)
    ]
    tasks = [Task("species", nn.functional.cross_entropy), Task("health", nn.functional.cross_entropy)]

    def build():
        torch.manual_seed(0)
        model = LeafCNN(image_size=16, channels=(4, 8), fc=(16, 8), lass=True)
        schedule = LaSSSchedule(batches, finetune_epochs=1)
        return Trainer(model, tasks, optimizer="adam", lr=5e-4, device="cpu", progress=False, callbacks=[schedule])

    _, resumed = _resume_matches(build, {"phases": lass_phases(4)}, batches, stop_after=stop_after)
    assert all(layer.masks_active for layer in resumed.model.masked_layers())
