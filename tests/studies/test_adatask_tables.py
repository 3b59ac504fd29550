"""Tests for the AdaTask tables study: configs, Δp per seed, the dominant task, and claims whose
verdicts follow the records."""

from __future__ import annotations

import pytest

from mtl_lib.metrics import delta_p
from mtl_lib.studies import adatask_regime
from mtl_lib.studies import adatask_tables as study

BUCKETS = ("(0, 0.2]", "(0.2, 0.4]", "(0.4, 0.6]", "(0.6, 0.8]", "(0.8, 1]")

#: the frozen reading of "task-normalized RMSE" that the tables use
METRIC = adatask_regime.metric()


def _record(method, seed, final, buckets=None):
    record = {
        "run_id": f"{method}-{seed}",
        "method": method,
        "seed": seed,
        "history": [{"epoch": 1, **final}],
        "final": final,
        "diagnostics": {},
    }
    if buckets is not None:
        record["diagnostics"]["rau_buckets"] = {
            task: {"all": dict(zip(BUCKETS, shares))} for task, shares in buckets.items()
        }
    return record


def test_configs_cover_every_method_and_seed_and_record_rau_for_fig3():
    configs = study.cityscapes_configs("smoke", data_dir="/data/cs")
    seeds = study.cityscapes_settings("smoke")["seeds"]
    assert len(configs) == len(study.CITYSCAPES_METHODS) * len(seeds)
    for config in configs:
        assert config.problem_kwargs["data_dir"] == "/data/cs"
        assert (config.diagnostics == ("rau",)) == (config.method_label in study.RAU_METHODS)
        assert config.optimizer == ("adatask_adam" if config.method_label.startswith("AdaTask") else "adam")
    assert "data_dir" not in study.cityscapes_configs("smoke")[0].problem_kwargs
    synthetic = study.synthetic_configs("smoke")
    assert {c.method_label for c in synthetic} == set(study.SYNTHETIC_METHODS)
    assert all(c.optimizer.endswith("rmsprop") for c in synthetic)
    assert len({c.run_id() for c in synthetic}) == len(synthetic)


def _cityscapes_records(ada_better: bool):
    records = []
    for seed in (0, 1, 2):
        ew = {
            "depth/abs_err": 0.10 + 0.01 * seed,
            "depth/rel_err": 0.50,
            "segmentation/miou": 0.40,
            "segmentation/pix_acc": 0.80,
        }
        records.append(
            _record("EqualWeight", seed, ew, {"segmentation": (0, 0, 0, 0.05, 0.95), "depth": (0.95, 0.05, 0, 0, 0)})
        )
        for method in study.CITYSCAPES_METHODS:
            if method == "EqualWeight":
                continue
            factor = 0.9 if (method.startswith("AdaTask") == ada_better) else 1.05
            if method == "AdaTask+PCGrad":
                factor -= 0.01
            final = dict(ew, **{"depth/abs_err": ew["depth/abs_err"] * factor, "depth/rel_err": 0.5 * factor})
            buckets = None
            if method in study.RAU_METHODS:
                shares = (0, 0.02, 0.96, 0.02, 0) if method == "AdaTask" else (0, 0, 0, 0.04, 0.96)
                buckets = {"segmentation": shares, "depth": tuple(reversed(shares))}
            records.append(_record(method, seed, final, buckets))
    return records


def test_delta_p_is_paired_by_seed_against_equal_weight():
    records = _cityscapes_records(ada_better=True)
    scores = study.cityscapes_scores(records).set_index(["method", "seed"])
    assert scores.loc[("EqualWeight", 1), "delta_p"] == 0.0
    higher = {k: better for k, (_, better) in study.CITYSCAPES_METRICS.items()}
    row, base = scores.loc[("AdaTask", 2)], scores.loc[("EqualWeight", 2)]
    expected = delta_p({k: row[k] for k in higher}, {k: base[k] for k in higher}, higher)
    assert row["delta_p"] == pytest.approx(expected)
    assert row["delta_p"] == pytest.approx(100 * (0.1 + 0.1) / 4)  # two depth metrics 10 % better
    table = study.cityscapes_table(records)
    assert table.loc["AdaTask", "Δp % (paper)"] == 9.34
    assert table.loc["AdaTask", "mIoU (ours)"].startswith("40.00")  # shown in %


def test_dominant_task_and_claims_follow_the_records():
    good = study.cityscapes_claims(_cityscapes_records(ada_better=True), "stand-in")
    assert [c.reproduced for c in good] == [True, True, True, False, True, True]
    assert all("[stand-in]" in c.claim for c in good)
    bad = study.cityscapes_claims(_cityscapes_records(ada_better=False), "stand-in")
    assert [c.reproduced for c in bad][:3] == [True, False, False]
    task, means = study.dominant_task(_cityscapes_records(True))
    assert task == "segmentation" and means["segmentation"] == pytest.approx(0.9 * 0.95 + 0.7 * 0.05)


def test_synthetic_table_and_claims():
    rows = {
        "EqualWeight": (0.5, 0.1),
        "GradNorm": (0.4, 0.2),
        "UW": (0.5, 0.1),
        "PCGrad": (0.5, 0.1),
        "CAGrad": (0.45, 0.15),
        "AdaTask": (0.2, 0.15),
        "LAdaTask": (0.3, 0.12),
    }
    records = [
        _record(m, seed, {f"A/{METRIC}": a + 0.01 * seed, f"B/{METRIC}": b})
        for m, (a, b) in rows.items()
        for seed in (0, 1, 2)
    ]
    table = study.synthetic_table(records)
    assert table.loc["LAdaTask", "A (paper)"] == "0.0989"
    assert table.loc["AdaTask", "seeds"] == 3
    assert [c.reproduced for c in study.synthetic_claims(records)] == [True, True, True, True]
    rows["LAdaTask"] = (0.6, 0.1)
    records = [_record(m, s, {f"A/{METRIC}": a, f"B/{METRIC}": b}) for m, (a, b) in rows.items() for s in (0, 1, 2)]
    assert study.synthetic_claims(records)[3].reproduced is False


def _two_readings_records():
    """AdaTask lowers A under the loss ratio but not under RMSE/std (same runs, two readings)."""
    records = []
    for method in study.SYNTHETIC_METHODS:
        for seed in (0, 1, 2):
            ada = method in ("AdaTask", "LAdaTask")
            final = {"A/loss_ratio": (0.1 if ada else 0.3) + 0.01 * seed, "B/loss_ratio": 0.02,
                     "A/nrmse": 0.5 + 0.01 * seed, "B/nrmse": 0.1, "A/nrmse_rms": 0.4, "B/nrmse_rms": 0.08,
                     "A/rmse_ratio": ((0.1 if ada else 0.3) + 0.01 * seed) ** 0.5, "B/rmse_ratio": 0.02**0.5}  # fmt: skip
            records.append(_record(method, seed, final))
    return records


def test_one_parameter_switches_the_definition_of_every_synthetic_table_and_claim():
    records = _two_readings_records()
    assert study.synthetic_claims(records, "loss_ratio")[0].reproduced is True
    assert study.synthetic_claims(records, "std")[0].reproduced is False
    table = study.synthetic_table(records, "std")
    assert table.loc["AdaTask", "A (ours)"].startswith("0.51")
    by_definition = study.verdicts_by_definition(records)
    assert list(by_definition.columns) == ["std", "rms", "loss_ratio", "rmse_ratio"]
    assert by_definition.loc["adatask.table2.ada_lowers_a", "loss_ratio"] == "REPRODUCED"
    with pytest.raises(Exception, match="loss_ratio"):
        study.synthetic_table(records, "loss-ratio")


def test_verdicts_at_neighbouring_checkpoints_read_the_history():
    late = _two_readings_records()
    early = _two_readings_records()
    for record_late, record_early in zip(late, early):
        # epoch 1: AdaTask not yet ahead on A; epoch 2: the records' final values
        first = {**record_early["final"], "epoch": 1, "A/loss_ratio": 0.3 + 0.001 * record_early["seed"]}
        record_late["history"] = [first, {**record_late["final"], "epoch": 2}]
    table = study.verdicts_at_checkpoints(late, offsets=(-1, 0), definition="loss_ratio")
    assert list(table.columns) == ["epoch 1", "epoch 2"]
    assert table.loc["adatask.table2.ada_lowers_a", "epoch 2"] == "REPRODUCED"
    assert table.loc["adatask.table2.ada_lowers_a", "epoch 1"] != "REPRODUCED"
