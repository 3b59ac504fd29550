"""The multidigits chapter's arithmetic on hand-made records: Δm, verdicts, the tuned-EW choice
(validation only), ranks, the Kurin/Xin verdict rule and the paper-time estimate."""

import pytest

from mtl_lib.studies import multidigits as md


def _record(method, seed, left, right, lr=1e-2, wd=0.0, step_time=0.01, optimizer="adam"):
    final = {
        "epoch": 1,
        "steps": 10,
        "train_time_s": 10 * step_time,
        "left/acc": left,
        "right/acc": right,
    }
    return {
        "run_id": f"{method}-{seed}-{lr}-{wd}-{optimizer}",
        "method": method,
        "seed": seed,
        "config": {
            "problem": "multidigits",
            "optimizer": optimizer,
            "lr": lr,
            "optimizer_kwargs": {"weight_decay": wd} if wd else {},
        },
        "history": [final],
        "final": final,
    }


def test_delta_m_is_the_mean_relative_change_paired_by_seed():
    records = [_record("EW", 0, 0.5, 0.8), _record("UW", 0, 0.55, 0.8), _record("UW", 1, 0.9, 0.9)]
    frame = md.accuracy_frame(records)
    # seed 1 has no EW run: not paired, left out
    assert md.delta_m(frame, "UW", "EW") == [pytest.approx(100 * (0.1 + 0.0) / 2)]


def test_verdicts():
    assert md.verdict([1.0, 1.2, 0.9, 1.1, 1.0]) == "better"
    assert md.verdict([-1.0, -1.2, -0.9, -1.1, -1.0]) == "worse"
    assert md.verdict([1.0, -1.0, 0.5, -0.5, 0.1]) == "no detectable difference"
    assert md.verdict([3.0]) == "one seed: no interval"


def test_summary_ranks_costs_and_tuned_ew_rule():
    records = []
    for seed in range(5):
        jitter = 0.001 * seed
        records += [
            _record("EW", seed, 0.50 + jitter, 0.50),
            _record("EW (tuned)", seed, 0.60 + jitter, 0.60),
            _record("UW", seed, 0.70 + jitter, 0.70, step_time=0.01),  # better than both
            _record("CAGrad", seed, 0.40 + jitter, 0.40, step_time=0.02),  # worse than both
            _record("PCGrad", seed, 0.60 + jitter + (0.02 if seed % 2 else -0.02), 0.60, step_time=0.02),
        ]
    summary = md.summary_table(records, "smoke")
    assert summary.loc["UW", "verdict"] == "better" and summary.loc["UW", "vs tuned EW"] == "better"
    assert summary.loc["CAGrad", "verdict"] == "worse"
    assert summary.loc["PCGrad", "vs tuned EW"] == "no detectable difference"
    assert summary.loc["CAGrad", "cost/step vs EW"] == pytest.approx(2.0)
    assert summary.loc["UW", "mean rank"] == 1.0 and summary.loc["CAGrad", "mean rank"] == 5.0
    assert md.tuned_ew_verdict(summary).startswith("Of 3 methods, 1 is detectably better")
    sentences = md.verdict_sentences(summary)
    assert any(s.startswith("CAGrad: worse than EW") for s in sentences)


def test_tuned_ew_is_chosen_on_validation_scores():
    grid = [
        _record("g", 0, 0.5, 0.5, lr=1e-3), _record("g", 1, 0.5, 0.6, lr=1e-3),
        _record("g", 0, 0.7, 0.7, lr=1e-2, wd=1e-3), _record("g", 1, 0.6, 0.6, lr=1e-2, wd=1e-3),
    ]  # fmt: skip
    grid += [
        _record("r", 0, 0.9, 0.9, lr=3e-3, optimizer="rmsprop"),
        _record("r", 0, 0.2, 0.2, lr=1e-2, optimizer="rmsprop"),
    ]
    assert md.choose_tuned(grid) == {"lr": 1e-2, "weight_decay": 1e-3}
    # base learning rates: the best without weight decay, per optimizer
    assert md.choose_base_lrs(grid) == {"adam": 1e-3, "rmsprop": 3e-3}
    base_lrs = {"adam": 1e-3, "rmsprop": 3e-3, "adagrad": 0.1}
    lrs = {c.optimizer: c.lr for c in md.configs("smoke", base_lrs=base_lrs)}
    assert lrs == {
        "adam": 1e-3, "rmsprop": 3e-3, "adagrad": 0.1,
        "adatask_adam": 1e-3, "adatask_rmsprop": 3e-3, "adatask_adagrad": 0.1,
        "ladatask_adam": 1e-3, "ladatask_rmsprop": 3e-3, "ladatask_adagrad": 0.1,
    }  # fmt: skip
    assert {c.optimizer for c in md.grid_configs("smoke")} == {"adam", "rmsprop", "adagrad"}
    assert all(c.problem_kwargs["eval_split"] == "val" for c in md.grid_configs("smoke"))
    tuned = md.tuned_configs("smoke", {"lr": 3e-2, "weight_decay": 1e-3})
    assert all("eval_split" not in c.problem_kwargs and c.lr == 3e-2 for c in tuned)
    assert all(c.optimizer_kwargs == {"weight_decay": 1e-3} for c in tuned)


def test_rau_configs_scale_the_right_loss_in_one_condition():
    configs = md.rau_configs("smoke")
    scaled = [c for c in configs if "loss_scales" in c.problem_kwargs]
    assert len(scaled) == len(configs) / 2 and all(c.problem_kwargs["loss_scales"] == (1.0, 10.0) for c in scaled)
    assert all(c.diagnostics == ("rau",) for c in configs)


def test_paper_estimate_scales_with_steps_and_workers():
    records = [_record("EW", 0, 0.5, 0.5, step_time=0.01)]
    estimate = md.paper_estimate(records, "paper", workers=(1, 2))
    size = md.settings("paper")
    steps = size["epochs"] * -(-size["data"]["n_train"] // size["batch_size"])
    assert estimate["steps per run"] == steps
    assert estimate["hours with 1 worker"] == pytest.approx(estimate["runs"] * steps * 0.01 / 3600, rel=0.01)
    assert estimate["hours with 2 workers"] == pytest.approx(estimate["hours with 1 worker"] / 2, rel=0.01)


def _five_seed_records():
    records, tuned = [], []
    for seed in range(5):
        jitter = 0.001 * seed
        records += [
            _record("EW", seed, 0.50 + jitter, 0.50),
            _record("UW", seed, 0.70 + jitter, 0.70),
            _record("CAGrad", seed, 0.40 + jitter, 0.40, step_time=0.02),
        ]
        tuned.append(_record("EW (tuned)", seed, 0.60 + jitter, 0.60))
    grid = [_record("g", 0, 0.5, 0.5, lr=1e-3), _record("g", 0, 0.7, 0.7, lr=1e-2, wd=1e-3)]
    return records, tuned, grid


def test_saved_summary_round_trip_keeps_the_table(tmp_path):
    records, tuned, grid = _five_seed_records()
    path = md.save_summary(records, tuned, grid, [], "smoke", folder=tmp_path)
    assert path.name == "multidigits.smoke.json" and path.with_suffix(".md").exists()
    saved = md.read_saved("smoke", folder=tmp_path)
    table = md.summary_table(records + tuned, "smoke")
    back = md.saved_table(saved)
    assert list(back.columns) == list(table.columns) and list(back.index) == list(table.index)
    assert (
        back.loc["UW", "verdict"] == "better"
        and back.loc["CAGrad", "Δm % vs reference"] == table.loc["CAGrad", "Δm % vs reference"]
    )
    assert saved["runs"] == {"methods": 15, "tuned EW": 5, "grid": 2, "rAU": 0}
    assert saved["tuned_choice"] == {"lr": 1e-2, "weight_decay": 1e-3}
    assert saved["delta_m"]["UW"] == pytest.approx(md.delta_m_values(records + tuned, "smoke")["UW"])
    assert saved["tuned_ew_verdict"] == md.tuned_ew_verdict(table)
    assert "15 runs" not in md.saved_facts(saved) and "22 runs" in md.saved_facts(saved)


def test_saving_refuses_unfinished_runs_and_absence_names_the_command(tmp_path):
    records, tuned, grid = _five_seed_records()
    records[1]["status"] = "failed"
    with pytest.raises(ValueError, match="1 runs did not finish"):
        md.save_summary(records, tuned, grid, [], "smoke", folder=tmp_path)
    assert md.read_saved("smoke", folder=tmp_path) is None
    message = md.missing_saved("smoke", folder=tmp_path)
    assert "python -m mtl_lib run multidigits --profile smoke --workers 2 --save-summary" in message


def test_verdict_comparison_counts_agreements_and_missing_methods():
    records, tuned, _ = _five_seed_records()
    here = md.summary_table(records + tuned, "smoke")
    there = here.drop(index="CAGrad").copy()
    there.loc["UW", "verdict"] = "no detectable difference"
    comparison = md.compare_verdicts(here, there, "quick", "paper")
    assert "EW" not in comparison.index  # the reference has no verdict to compare
    assert comparison.loc["UW", "same verdict"] is False or comparison.loc["UW", "same verdict"] == False  # noqa: E712
    assert comparison.loc["EW (tuned)", "same verdict"] == True  # noqa: E712
    sentence = md.agreement_sentence(comparison, "quick", "paper")
    assert sentence.startswith("1 of 2 verdicts are the same")
    assert "Not in the saved sweep (re-run it to add them): CAGrad." in sentence


def _tuned_claim(records):
    return md.tuned_ew_claim(md.delta_m_values(records, "smoke", against=md.TUNED_EW), "smoke")


def test_tuned_ew_claim_and_its_place_in_the_saved_summary(tmp_path):
    records, tuned, grid = _five_seed_records()
    for seed in range(5):  # a second method clearly below tuned EW: matched
        records.append(_record("PCGrad", seed, 0.45 + 0.001 * seed, 0.45))
    # CAGrad and PCGrad matched (interval below +2 %), UW better: 2 of 3 matched
    claim = _tuned_claim(records + tuned)
    assert claim.verdict == "REPRODUCED" and "2 matched by tuned EW" in claim.ours
    for seed in range(5):  # make PCGrad better than tuned EW: 2 of 3 better
        records[-5 + seed] = _record("PCGrad", seed, 0.8 + 0.001 * seed, 0.8)
    claim = _tuned_claim(records + tuned)
    assert claim.verdict == "NOT REPRODUCED"


def test_tuned_ew_claim_is_inconclusive_when_methods_are_only_indistinguishable():
    """Methods whose Δm intervals straddle 0 and the margin are not shown to be matched: the
    earlier rule ("at most half detectably better") called this agreement."""
    records, tuned, _ = _five_seed_records()
    records = [r for r in records if r["method"] == "EW"]
    for name, swing in (("UW", 0.08), ("CAGrad", 0.07), ("PCGrad", 0.09)):
        for seed in range(5):
            records.append(_record(name, seed, 0.60 + (swing if seed % 2 else -swing), 0.60))
    claim = _tuned_claim(records + tuned)
    assert claim.verdict == "INCONCLUSIVE" and "3 undecided" in claim.ours


def test_the_saved_summary_carries_the_tuned_ew_claim(tmp_path):
    records, tuned, grid = _five_seed_records()
    claim = _tuned_claim(records + tuned)
    md.save_summary(records, tuned, grid, [], "smoke", folder=tmp_path)
    saved = md.read_saved("smoke", folder=tmp_path)
    assert saved["claims"][0]["claim"] == claim.claim and saved["claims"][0]["verdict"] == "NOT REPRODUCED"
