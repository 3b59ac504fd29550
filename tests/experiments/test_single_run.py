"""A run checkpointed after every epoch and stopped at epoch k of n resumes there: the epochs
already done are not trained again, and the final numbers equal an uninterrupted run's."""

from __future__ import annotations

import pytest

import tests.faults._sweep_problems  # noqa: F401 — registers the "fault_tiny" problem
from mtl_lib.engine.trainer import Trainer
from mtl_lib.experiments import RunConfig, run, store, sweep

pytestmark = pytest.mark.skipif(
    not hasattr(Trainer, "state_dict"), reason="needs Trainer.state_dict / load_state_dict (engine)"
)

EPOCHS, STOP_AT = 4, 2


def _config(**fields) -> RunConfig:
    base = dict(
        problem="synthetic_regression", weighting="dwa", aggregator="pcgrad", optimizer="adam", epochs=EPOCHS,
        batch_size=16, seed=3, problem_kwargs={"n_train": 48, "n_test": 16, "hidden": (8,)}, device="cpu",
    )  # fmt: skip
    return RunConfig(**{**base, **fields})


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


class _CountEpochs(_StopAfter):
    def __init__(self) -> None:
        super().__init__(-1)
        self.trained: list[int] = []

    def on_epoch_start(self, trainer, epoch) -> None:
        self.trained.append(epoch)


def _metrics(record: dict) -> list[dict]:
    return [{k: v for k, v in epoch.items() if k != "train_time_s"} for epoch in record["history"]]


def test_run_resumes_from_its_checkpoint_with_the_uninterrupted_numbers(tmp_path):
    config = _config()
    uninterrupted = run(config)
    checkpoint = tmp_path / "run.ckpt"
    # the checkpointer runs after the other callbacks: the stop after epoch 2 leaves epoch 1's
    with pytest.raises(_Killed):
        run(config, checkpoint=checkpoint, callbacks=[_StopAfter(STOP_AT)])
    assert checkpoint.exists()
    counter = _CountEpochs()
    resumed = run(config, checkpoint=checkpoint, callbacks=[counter])
    assert resumed["resumed_from_epoch"] == STOP_AT - 1
    assert counter.trained == list(range(STOP_AT, EPOCHS + 1))  # epoch 1 not trained again
    assert _metrics(resumed) == _metrics(uninterrupted)
    assert resumed["final"]["A/nrmse"] == uninterrupted["final"]["A/nrmse"]


def test_checkpoint_of_another_config_is_not_used(tmp_path):
    checkpoint = tmp_path / "run.ckpt"
    with pytest.raises(_Killed):
        run(_config(), checkpoint=checkpoint, callbacks=[_StopAfter(STOP_AT)])
    with pytest.warns(UserWarning, match="not used .*training from the start"):
        record = run(_config(seed=4), checkpoint=checkpoint)
    assert "resumed_from_epoch" not in record


def test_damaged_checkpoint_is_not_used(tmp_path):
    checkpoint = tmp_path / "run.ckpt"
    checkpoint.write_bytes(b"\x80garbage")
    with pytest.warns(UserWarning, match="not used"):
        record = run(_config(), checkpoint=checkpoint)
    assert "resumed_from_epoch" not in record and record["status"] == "finished"


def test_sigkilled_worker_resumes_mid_training_and_the_checkpoint_goes(tmp_path):
    """A worker SIGKILLed in epoch 2 of 3 (fault_tiny: 3 steps an epoch, killed at step 5);
    the sweep's retry resumes after epoch 1, with the numbers of an uninterrupted run."""
    flag = tmp_path / "killed-once"
    config = RunConfig(
        problem="fault_tiny", optimizer="rmsprop", epochs=3, batch_size=16, seed=1, device="cpu",
        problem_kwargs={"kill_step": 5, "flag": str(flag)},
    )  # fmt: skip
    with pytest.warns(UserWarning, match="worker process died"):
        (record,) = sweep([config], tmp_path / "results", progress=False, workers=2)
    assert flag.exists() and record["status"] == "finished"
    assert record["resumed_from_epoch"] == 1
    assert not store.checkpoint_path(config, tmp_path / "results").exists()
    (reference,) = sweep([config], tmp_path / "reference", progress=False, workers=1)  # flag set: no kill
    assert _metrics(record) == _metrics(reference)
