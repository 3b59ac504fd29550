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


def test_an_ablation_selection_leaves_the_papers_rows_exactly_as_without_it():
    """The ablations draw their noise from generators of their own, so the rAU and random rows of
    Fig. 1 do not move when an ablation is added; the ablation's rows use its own ranking."""
    tracker = study.RAUTracker(record_every=1000)
    trainer, batches = _trained(callbacks=[tracker])
    common = dict(draws=2, seed=3, variances=(0.05,), fractions=(0.1,), metric="loss")
    plain = study.noise_experiment(trainer, batches[:2], tracker.rau("t1"), **common)
    scores = torch.arange(tracker.rau("t1").numel(), dtype=torch.float32)
    with_ablation = study.noise_experiment(
        trainer, batches[:2], tracker.rau("t1"), ablations={"by index": scores}, **common
    )
    assert [r for r in with_ablation if r["selection"] != "by index"] == plain
    # settings (0.05, 0.1) and (0.01, 0.1) × 2 draws × 2 tasks, and no random twin
    assert sum(r["selection"] == "by index" for r in with_ablation) == 2 * 2 * 2
    with pytest.raises(ValueError, match="ablation 'short'"):
        study.noise_experiment(trainer, batches[:2], tracker.rau("t1"), ablations={"short": scores[:3]}, **common)


def test_output_sensitivity_estimates_the_gauss_newton_diagonal():
    """The Fisher(B) ranking: the random-projection estimate converges to Σ_n Σ_j (∂f_j(x_n)/∂θ_i)²,
    computed here exactly from the Jacobian, one output and one sample at a time."""
    tracker = study.RAUTracker(record_every=1000)
    trainer, batches = _trained(callbacks=[tracker])
    params = list(trainer.model.shared_parameters())
    x = batches[0][0][:6]
    exact = torch.zeros(sum(p.numel() for p in params))
    for n in range(x.shape[0]):
        out = trainer.model(x[n : n + 1])[1].reshape(-1)
        for j in range(out.numel()):
            grads = torch.autograd.grad(trainer.model(x[n : n + 1])[1].reshape(-1)[j], params)
            exact += torch.cat([g.reshape(-1) for g in grads]).square()
    estimate = study.output_sensitivity(trainer, [(x, None, None)], "t1", repeats=3000, seed=0)
    assert torch.allclose(estimate, exact, rtol=0.15, atol=1e-3 * float(exact.max()))
    # the ranking it gives: the top 10 % by the estimate are mostly the exact top 10 %
    top = set(study.top_fraction_indices(estimate, 0.1).tolist())
    assert len(top & set(study.top_fraction_indices(exact, 0.1).tolist())) >= 0.8 * len(top)


def test_selection_profile_reports_what_each_ranking_selects():
    tracker = study.RAUTracker(record_every=1000)
    trainer, _ = _trained(callbacks=[tracker])
    names = trainer.model.task_names
    au_b = tracker.accumulated_updates(names[1])
    sensitivity = {names[0]: torch.ones_like(au_b), names[1]: torch.arange(au_b.numel(), dtype=torch.float32) + 1}
    rows = study.selection_profile(tracker, {"by AU": au_b}, sensitivity, fractions=(0.1,))
    (row,) = rows
    chosen = study.top_fraction_indices(au_b, 0.1)
    assert row["selection"] == "by AU" and row["fraction"] == 0.1
    assert math.isclose(row[f"AU({names[1]}) / median"], float(au_b[chosen].median() / au_b.median()), rel_tol=1e-6)
    assert math.isclose(row[f"Fisher({names[0]}) / median"], 1.0)
    assert math.isclose(row[f"mean rAU({names[1]})"], float(tracker.rau(names[1])[chosen].mean()), rel_tol=1e-6)


def _probe_record(fisher_b: float, fisher_a: float, random_b: float, draws: int = 8) -> dict:
    """A probe record with Fig. 1 rows at σ² = 0.05, top 1 % (increase ± 1 % over draws)."""
    rows = []
    for draw in range(draws):
        wobble = (-1) ** draw
        for selection, task, value in (
            (study.TOP, "B", 2.0), (study.TOP, "A", 3.0), (study.RANDOM, "B", random_b), (study.RANDOM, "A", 5.0),
            (study.TOP_FISHER, "B", fisher_b), (study.TOP_FISHER, "A", fisher_a),
        ):  # fmt: skip
            rows.append(dict(selection=selection, variance=0.05, fraction=0.01, draw=draw, task=task,
                             value=0.0, clean=0.0, increase_pct=value + wobble))  # fmt: skip
    profile = {
        "fraction": 0.01,
        "mean rAU(B)": 0.8,
        "AU(A) / median": 0.05,
        "AU(B) / median": 1.4,
        "Fisher(A) / median": 2.0,
    }
    return {"noise": rows, "noise_selected": [
        {**profile, "selection": study.TOP, "Fisher(B) / median": 0.6},
        {**profile, "selection": study.TOP_FISHER, "Fisher(B) / median": 9.0},
    ]}  # fmt: skip


def test_fig1_ablation_claims_follow_the_draws():
    """Each ablation verdict comes from its interval over draws: the Fisher selection beating random
    and hurting B more than 3A is REPRODUCED when the draws say so and NOT REPRODUCED when not."""
    strong = {c.id: c.verdict for c in study.fig1_ablation_claims(_probe_record(100.0, 10.0, 20.0))}
    assert strong == dict.fromkeys(study.FIG1_ABLATION_IDS, "REPRODUCED")
    weak = {c.id: c.verdict for c in study.fig1_ablation_claims(_probe_record(10.0, 9.0, 30.0))}
    assert weak["adatask.ablation.fig1.fisher_top_beats_random"] == "NOT REPRODUCED"
    assert weak["adatask.ablation.fig1.fisher_top_hurts_b_more"] == "NOT REPRODUCED"
    with pytest.raises(KeyError, match="re-run the probe"):
        study.fig1_ablation_claims({"noise": _probe_record(1, 1, 1)["noise"], "noise_selected": []})


def _bucket_record(method: str, seed: int, neither: float) -> dict:
    rest = (1.0 - neither) / 2
    shares = {"(0, 0.2]": rest, "(0.2, 0.4]": neither / 3, "(0.4, 0.6]": neither / 3, "(0.6, 0.8]": neither / 3,
              "(0.8, 1]": rest}  # fmt: skip
    return {"method": method, "seed": seed, "diagnostics": {"rau": {"final": {"B": {"all": shares}}}}}


def test_gradnorm_alpha_claims_pair_each_alpha_with_the_default_by_seed(monkeypatch):
    import pandas as pd

    def frame(records):
        rows = []
        for r in records:
            for bucket, share in r["diagnostics"]["rau"]["final"]["B"]["all"].items():
                rows.append(dict(method=r["method"], seed=r["seed"], layer="all", bucket=bucket, share=share))
        return pd.DataFrame(rows)

    monkeypatch.setattr(study.ablations, "bucket_frame", frame)
    labels = list(study.ABLATION_METHODS)
    records = [_bucket_record("GradNorm", s, 0.02 + 0.01 * s) for s in range(5)]
    records += [_bucket_record(labels[0], s, 0.30 + 0.01 * s) for s in range(5)]
    records += [_bucket_record(labels[1], s, 0.85 + 0.01 * s) for s in range(5)]
    verdicts = {c.id: c.verdict for c in study.gradnorm_alpha_claims(records)}
    assert verdicts == {
        "adatask.ablation.fig2.gradnorm_alpha012_neither": "NOT REPRODUCED",  # 30-34 % < 50 %
        "adatask.ablation.fig2.gradnorm_alpha012_gain": "REPRODUCED",
        "adatask.ablation.fig2.gradnorm_alpha0_neither": "REPRODUCED",  # 85-89 % ≥ 50 %
        "adatask.ablation.fig2.gradnorm_alpha0_gain": "REPRODUCED",
    }
    with pytest.raises(ValueError, match="need bucket runs"):
        study.gradnorm_alpha_claims(records[:5])


def test_probe_claims_are_the_tail_of_check_claims_ids():
    assert study.PROBE_CLAIM_IDS == study.CLAIM_IDS[-len(study.PROBE_CLAIM_IDS) :]
    assert all(i.startswith(("adatask.fig1.", "adatask.rq3.")) for i in study.PROBE_CLAIM_IDS)
    assert study.probe_identity("smoke", "EqualWeight")["noise"]["ablations"] == [study.TOP_AU, study.TOP_FISHER]


def test_gamma_ablation_claims_read_the_probe_trackers():
    def probe(method, shares_by_gamma):
        buckets = {str(g): {"B": {"(0.8, 1]": d, "(0.4, 0.6]": b}} for g, (d, b) in shares_by_gamma.items()}
        return {"method": method, "rau_buckets": buckets}

    records = [
        probe("EqualWeight", {0.9: (0.87, 0.01), 0.99: (0.88, 0.01), 0.999: (0.95, 0.0)}),
        probe("AdaTask", {0.9: (0.0, 0.80), 0.99: (0.0, 0.85), 0.999: (0.0, 0.80)}),
    ]
    ew, ada = study.gamma_ablation_claims(records)
    assert (ew.verdict, ada.verdict) == ("REPRODUCED", "NOT REPRODUCED")
    assert "95.0 % at γ = 0.999 (87.0 % at γ = 0.9)" in ew.ours
    assert [c.id for c in (ew, ada)] == list(study.GAMMA_ABLATION_IDS)
