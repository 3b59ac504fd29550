"""Tests for the rAU study's own logic: parameter selection and noise injection for Fig. 1, the
learning-rate probe, the per-layer pooling of bucket shares and the resumable probe runs."""

from __future__ import annotations

import math

import pytest
import torch

from mtl_lib.core.hooks import Callback
from mtl_lib.engine import Trainer
from mtl_lib.studies import adatask_rau as study
from tests.helpers import regression_batches, regression_tasks, tiny_model


def test_top_fraction_picks_exactly_the_largest_scores():
    scores = torch.rand(1000, generator=torch.Generator().manual_seed(0))
    for fraction in (0.01, 0.05, 0.1, 0.2, 1.0):
        chosen = study.top_fraction_indices(scores, fraction)
        assert chosen.numel() == round(fraction * 1000)
        assert len(set(chosen.tolist())) == chosen.numel()
        mask = torch.zeros(1000, dtype=torch.bool)
        mask[chosen] = True
        if fraction < 1.0:
            assert scores[mask].min() >= scores[~mask].max()
    # at least one element, even for a tiny fraction of a small tensor
    assert study.top_fraction_indices(torch.tensor([0.1, 0.9, 0.5]), 0.01).tolist() == [1]
    with pytest.raises(ValueError):
        study.top_fraction_indices(scores, 0.0)


def test_add_noise_touches_exactly_the_flat_indices_across_tensors():
    params = [torch.zeros(2, 3), torch.zeros(4), torch.zeros(1, 2)]
    indices = torch.tensor([0, 5, 6, 9, 11])  # first tensor twice, second tensor, last tensor
    noise = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    study.add_noise_(params, indices, noise)
    flat = torch.cat([p.reshape(-1) for p in params])
    expected = torch.zeros(12)
    expected[indices] = noise
    assert torch.equal(flat, expected)
    with pytest.raises(IndexError):
        study.add_noise_(params, torch.tensor([12]), torch.tensor([1.0]))


def _trained(steps: int = 20, callbacks=(), optimizer: str = "rmsprop", lr: float = 1e-2):
    model = tiny_model(2)
    trainer = Trainer(
        model,
        regression_tasks(2),
        aggregator="sum",
        optimizer=optimizer,
        lr=lr,
        progress=False,
        callbacks=list(callbacks),
    )
    batches = regression_batches(2, n_batches=steps)
    trainer.fit(batches, epochs=1)
    return trainer, batches


def test_noise_experiment_restores_the_model_and_reports_every_setting():
    tracker = study.RAUTracker(record_every=1000)
    trainer, batches = _trained(callbacks=[tracker])
    before = [p.detach().clone() for p in trainer.model.parameters()]
    rows = study.noise_experiment(
        trainer,
        batches[:2],
        tracker.rau("t1"),
        draws=3,
        seed=0,
        variances=(0.01, 0.05),
        fractions=(0.1, 0.5),
        metric="loss",
    )
    for p, b in zip(trainer.model.parameters(), before):
        assert torch.equal(p, b)
    # (0.01, 0.1), (0.05, 0.1), (0.01, 0.5): 3 settings × 3 draws × 2 selections × 2 tasks
    assert len(rows) == 3 * 3 * 2 * 2
    for row in rows:
        assert math.isclose(row["increase_pct"], 100 * (row["value"] / row["clean"] - 1), rel_tol=1e-9)
    # a larger variance on the same parameters hurts more on average
    summary = study.noise_summary(rows)
    top = summary[(summary["selection"] == study.TOP) & (summary["fraction"] == 0.1)]
    small = top[top["variance"] == 0.01]["increase_pct"].sum()
    large = top[top["variance"] == 0.05]["increase_pct"].sum()
    assert large > small
    # seeded: the same call gives the same rows
    again = study.noise_experiment(
        trainer,
        batches[:2],
        tracker.rau("t1"),
        draws=3,
        seed=0,
        variances=(0.01, 0.05),
        fractions=(0.1, 0.5),
        metric="loss",
    )
    assert again == rows


class _Rows(Callback):
    def __init__(self):
        self.rows = []

    def on_step_end(self, trainer, step, losses):
        self.rows.append(trainer.last_aggregation.task_gradients.detach().clone())


def test_learning_rate_probe_matches_rmsprops_own_state():
    probe = study.LearningRateProbe(per_layer=5, seed=3, record_every=4)
    capture = _Rows()
    trainer, _ = _trained(steps=20, callbacks=[capture, probe])
    optimizer = trainer.optimizer
    group = optimizer.param_groups[0]
    own = probe.joint_square_avg(optimizer)
    # the probe's accumulator of the summed task rows is RMSProp's own accumulator
    assert torch.allclose(probe.joint_from_rows, own, rtol=1e-5, atol=1e-12)
    # the recorded joint learning rate is η / (√G + ε) with RMSProp's G
    step, joint_lr, task_lr = probe.history[-1]
    assert step == 20 and len(probe.history) == 5
    expected = group["lr"] / (own.sqrt() + group["eps"])
    assert torch.allclose(torch.from_numpy(joint_lr), expected, rtol=1e-6)
    # per-task accumulators: task k's rows only, with RMSProp's α
    reference = torch.zeros(2, probe.index.numel())
    for rows in capture.rows:
        g = rows[:, probe.index]
        reference = group["alpha"] * reference + (1 - group["alpha"]) * g**2
    assert torch.allclose(torch.from_numpy(task_lr), group["lr"] / (reference.sqrt() + group["eps"]), rtol=1e-5)
    # tiny_model's encoder has two layers of 6·8+8 and 8·8+8 elements: 5 sampled from each
    assert probe.sample_layer.count("encoder.0") == 5 and probe.sample_layer.count("encoder.2") == 5
    assert probe.index[:5].max() < 56 <= probe.index[5:].min()
    summary = probe.summary()
    assert set(summary["quantity"]) == {"joint", "t0 alone", "t1 alone", "joint / t0 alone", "joint / t1 alone"}


def test_learning_rate_probe_refuses_other_optimizers():
    with pytest.raises(TypeError, match="RMSprop"):
        _trained(steps=2, callbacks=[study.LearningRateProbe()], optimizer="adam", lr=1e-3)


def test_bucket_frame_pools_weight_and_bias_by_element_count():
    sizes = study.shared_tensor_sizes()
    buckets = study.bucket_labels()
    tensor_shares = {}
    for name in sizes:
        share = dict.fromkeys(buckets, 0.0)
        share["(0.8, 1]" if name.endswith("weight") else "(0, 0.2]"] = 1.0
        tensor_shares[name] = share
    tensor_shares["all"] = dict.fromkeys(buckets, 0.2)
    record = {"method": "X", "seed": 0, "diagnostics": {"rau_buckets": {"B": tensor_shares}}}
    frame = study.bucket_frame([record])
    layer0 = frame[(frame["layer"] == "encoder.0")].set_index("bucket")["share"]
    assert layer0["(0.8, 1]"] == pytest.approx(25000 / 25100)
    assert layer0["(0, 0.2]"] == pytest.approx(100 / 25100)
    assert set(frame["layer"]) == {"all", "encoder.0", "encoder.2", "encoder.4", "encoder.6"}


def test_probe_run_resumes_from_its_file(tmp_path, monkeypatch):
    first = study.probe_run("smoke", tmp_path, "EqualWeight", device="cpu")
    assert {"noise", "lr_probe", "rau_buckets"} <= set(first)
    assert set(first["rau_buckets"]) == {str(g) for g in study.RAU_GAMMAS}

    def no_training(*args, **kwargs):
        raise AssertionError("a finished probe run was trained again")

    monkeypatch.setattr("mtl_lib.studies.adatask_rau.probes.run", no_training)
    again = study.probe_run("smoke", tmp_path, "EqualWeight", device="cpu")
    assert again["noise"] == first["noise"]
    # AdaTask has no RMSProp state to probe and no noise experiment
    monkeypatch.undo()
    ada = study.probe_run("smoke", tmp_path, "AdaTask", device="cpu")
    assert "lr_probe" not in ada and "noise" not in ada
    table = study.gamma_table([first, ada])
    assert len(table) == 2 * len(study.RAU_GAMMAS)
