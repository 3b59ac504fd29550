"""The reproduction protocol's verdicts (mtl_lib.studies._common): one rule for every claim
measured over seeds, with power."""

import math

import pandas as pd
import pytest
from scipy.stats import t as student_t

from mtl_lib.metrics.stats import t_quantile_975
from mtl_lib.studies._common import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    VERDICTS,
    Claim,
    PairedDifference,
    estimate,
    paired_difference,
)


def _difference(mean: float, se: float, n: int = 3) -> PairedDifference:
    return PairedDifference(mean, se * t_quantile_975(n - 1), n)


@pytest.mark.parametrize(
    ("mean", "se", "paper", "expected"),
    [
        (10.0, 1.0, None, REPRODUCED),  # interval (half-width 4.3 SE) wholly above zero
        (10.0, 1.0, 30.0, REPRODUCED),  # smaller than the paper's effect, but detectably positive
        (2.0, 1.0, None, INCONCLUSIVE),  # reaches zero, the paper states no size
        (2.0, 1.0, 5.0, INCONCLUSIVE),  # holds both 0 and the paper's +5
        (2.0, 1.0, 10.0, NOT_REPRODUCED),  # holds 0 but excludes the paper's +10: smaller than claimed
        (-1.0, 1.0, 2.0, INCONCLUSIVE),  # mean the other way, yet the interval still holds 0 and +2
        (-3.0, 1.0, 5.0, NOT_REPRODUCED),  # holds 0 (up to +1.3) but not the paper's +5
        (-10.0, 1.0, None, NOT_REPRODUCED),  # wholly on the wrong side of zero
    ],
)
def test_the_verdict_rule(mean, se, paper, expected):
    assert _difference(mean, se).verdict(paper_effect=paper) == expected
    flipped = None if paper is None else -paper
    assert _difference(-mean, se).verdict("negative", paper_effect=flipped) == expected  # symmetric


def test_the_leaf_case_an_interval_holding_the_papers_effect_is_inconclusive():
    # "F beats E" over 3 folds: an interval holding the study's own +0.019 and 0 cannot tell
    diff = PairedDifference(-0.040, 0.065, 3)
    assert diff.verdict(paper_effect=0.019) == INCONCLUSIVE
    assert math.isfinite(diff.detectable) and diff.detectable > 0.019  # it could not have seen the paper's effect
    assert diff.detectable == pytest.approx(0.081, abs=0.001)  # book/reproducing.md: "about 0.08"
    # -0.044 ± 0.059 ends at +0.015, short of +0.019: the study's effect is excluded
    assert PairedDifference(-0.044, 0.059, 3).verdict(paper_effect=0.019) == NOT_REPRODUCED
    assert PairedDifference(0.060, 0.030, 5).verdict(paper_effect=0.019) == REPRODUCED


def test_a_threshold_claim_is_judged_against_its_bound():
    assert estimate([0.95, 0.96, 0.97]).verdict(reference=0.9) == REPRODUCED
    assert estimate([0.5, 0.55, 0.6]).verdict(reference=0.9) == NOT_REPRODUCED
    assert estimate([0.6, 0.99, 0.8]).verdict(reference=0.9, paper_effect=0.98) == INCONCLUSIVE


def test_verdict_is_scale_free():
    for scale in (1e-6, 1.0, 1e6):
        assert _difference(10.0 * scale, 1.0 * scale).verdict() == REPRODUCED
        assert _difference(2.0 * scale, 1.0 * scale).verdict(paper_effect=10.0 * scale) == NOT_REPRODUCED
        assert _difference(2.0 * scale, 1.0 * scale).verdict() == INCONCLUSIVE


def test_no_interval_is_inconclusive():
    assert PairedDifference(0.1, math.nan, 1).verdict() == INCONCLUSIVE
    assert PairedDifference(math.nan, math.nan, 0).verdict() == INCONCLUSIVE
    assert math.isinf(PairedDifference(0.1, math.nan, 1).detectable)


def test_detectable_effect_is_the_80_percent_power_formula():
    diff = _difference(0.0, 2.0, n=5)
    expected = (student_t.ppf(0.975, 4) + student_t.ppf(0.8, 4)) * diff.standard_error
    assert diff.detectable == pytest.approx(expected)
    assert diff.standard_error == pytest.approx(2.0, rel=1e-3)


def test_claim_reports_power_when_inconclusive():
    frame = pd.DataFrame({"method": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2,
                          "value": [1.0, 2.0, 3.05, 1.0, 2.1, 2.9]})  # fmt: skip
    diff = paired_difference(frame, "a", "b", "value")
    assert diff.n == 3 and abs(diff.mean - 0.0167) < 1e-3
    claim = Claim.difference("a beats b", "+1", diff.describe(), diff, paper_effect=1.0)
    assert claim.verdict == NOT_REPRODUCED  # the interval excludes the paper's +1
    claim = Claim.difference("a beats b", "+0.1", diff.describe(), diff, paper_effect=0.1)
    assert claim.verdict == INCONCLUSIVE and "detects effects" in claim.power and not claim.reproduced


def test_an_ordering_is_tested_pair_by_pair_not_on_means():
    # "a is lowest": a's mean is lowest, yet b's lead over a is within noise -> INCONCLUSIVE
    frame = pd.DataFrame({"method": ["a"] * 3 + ["b"] * 3 + ["c"] * 3, "seed": [0, 1, 2] * 3,
                          "value": [1.0, 2.0, 3.0, 1.1, 1.9, 3.2, 5.0, 6.0, 7.1]})  # fmt: skip
    claim = Claim.pairwise("a lowest", "", frame, [("b", "a"), ("c", "a")], "value", "positive")
    assert claim.verdict == INCONCLUSIVE
    assert "c − a" in claim.ours and "b − a" in claim.power
    wrong = Claim.pairwise("c lowest", "", frame, [("a", "c")], "value", "positive")
    assert wrong.verdict == NOT_REPRODUCED


def test_within_and_all_of():
    assert Claim.within("x", "", [1.0, 1.01, 0.99], 1.0, 0.1).verdict == REPRODUCED
    assert Claim.within("x", "", [2.0, 2.01, 1.99], 1.0, 0.1).verdict == NOT_REPRODUCED
    assert Claim.within("x", "", [0.5, 1.5, 1.0], 1.0, 0.1).verdict == INCONCLUSIVE
    yes, no, maybe = (Claim("p", "", "", v) for v in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE))
    assert Claim.all_of("c", "", [yes, yes]).verdict == REPRODUCED
    assert Claim.all_of("c", "", [yes, maybe]).verdict == INCONCLUSIVE
    assert Claim.all_of("c", "", [maybe, no]).verdict == NOT_REPRODUCED


def test_exact_checks_keep_yes_or_no():
    assert {Claim.check("c", "", "", h).verdict for h in (True, False)} == {REPRODUCED, NOT_REPRODUCED}
    assert set(VERDICTS) == {REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE}


def test_no_effect_worked_examples_of_the_book():
    """book/reproducing.md's three "no effect" examples, margin 0.018 (10 seeds)."""
    examples = {-0.0066: REPRODUCED, -0.0180: INCONCLUSIVE, -0.0300: NOT_REPRODUCED}
    for mean, expected in examples.items():
        diff = PairedDifference(mean, 0.0062, 10)
        assert diff.verdict_no_effect("negative", margin=0.018) == expected, mean


@pytest.mark.parametrize(
    ("mean", "se", "margin", "expected"),
    [
        (-10.0, 1.0, 1.0, NOT_REPRODUCED),  # significantly on the excluded side
        (10.0, 1.0, 0.0, REPRODUCED),  # wholly on the other side
        (0.0, 0.1, 1.0, REPRODUCED),  # within the margin: equivalence shown
        (-1.0, 1.0, 1.0, INCONCLUSIVE),  # reaches past the margin, and past zero: cannot tell
        # the margin, not zero, is the bound: an effect shown to be nonzero but smaller than the
        # margin is what the claim allows (the old rule called it NOT REPRODUCED)
        (-0.5, 0.05, 1.0, REPRODUCED),  # [−0.72, −0.28]: excludes 0, inside the margin
        (-1.0, 0.05, 1.0, INCONCLUSIVE),  # [−1.22, −0.78]: excludes 0, straddles the margin
        (-1.5, 0.1, 1.0, NOT_REPRODUCED),  # [−1.93, −1.07]: wholly beyond the margin
    ],
)
def test_no_effect_verdict(mean, se, margin, expected):
    assert _difference(mean, se).verdict_no_effect("negative", margin=margin) == expected
    assert _difference(-mean, se).verdict_no_effect("positive", margin=margin) == expected


# ----------------------------------------------------------------------------- saved sweeps
def _saved_claims():
    from mtl_lib.studies._common import Claim

    mine = [
        Claim("A beats B (reworded since the sweep was saved).", "yes", "+1 ± 0.5", "REPRODUCED", id="t.a_beats_b"),
        Claim("C is balanced.", "93 %", "40 %", "NOT REPRODUCED", id="t.c_balanced"),
        Claim("Other chapter.", "?", "1", "REPRODUCED", id="t.new"),  # same text as a saved claim, other id
    ]
    saved = [
        {"id": "t.a_beats_b", "source": "T", "claim": "A beats B.", "paper": "yes", "ours": "+0.1 ± 0.5",
         "verdict": "INCONCLUSIVE"},
        {"id": "t.c_balanced", "source": "T", "claim": "C is balanced.", "paper": "93 %", "ours": "55 %",
         "verdict": "NOT REPRODUCED"},
        {"id": "f.other", "source": "F", "claim": "Other chapter.", "paper": "", "ours": "", "verdict": "REPRODUCED"},
    ]  # fmt: skip
    return mine, saved


def test_compare_claims_pairs_by_id_not_text_and_reports_changes_and_gaps():
    """A reworded claim still meets its saved verdict; the same wording under another id does not."""
    from mtl_lib.studies._common import claims_agreement, compare_claims

    mine, saved = _saved_claims()
    table = compare_claims(mine, saved, "quick", "paper (saved)")
    assert list(table.index) == [1, 2, 3]
    assert table.loc[1, "verdict (paper (saved))"] == "INCONCLUSIVE" and table.loc[1, "same verdict"] is False
    assert table.loc[2, "same verdict"] is True and table.loc[2, "ours (paper (saved))"] == "55 %"
    assert table.loc[3, "same verdict"] is None
    text = claims_agreement(table, "quick", "paper (saved)")
    assert text.startswith("1 of 2 verdicts agree")
    assert "(1) REPRODUCED → INCONCLUSIVE" in text and "claims 3." in text


def test_compare_claims_reads_a_saved_legacy_verdict_as_todays_rule_does():
    """A summary saved under the earlier rule (UNDECIDED, SAME DIRECTION) is shown and compared as
    INCONCLUSIVE, never as its raw word beside a generated INCONCLUSIVE (found by the browser test)."""
    from mtl_lib.studies._common import Claim, compare_claims

    mine = [Claim("A beats B.", "yes", "+1 ± 2", "INCONCLUSIVE", id="t.a")]
    for legacy in ("UNDECIDED", "SAME DIRECTION"):
        saved = [{"id": "t.a", "claim": "A beats B.", "paper": "yes", "ours": "+1 ± 2", "verdict": legacy}]
        table = compare_claims(mine, saved, "quick", "paper")
        assert table.loc[1, "verdict (paper)"] == "INCONCLUSIVE"
        assert bool(table.loc[1, "same verdict"]) is True


def test_beside_saved_reads_the_summary_filters_by_source_or_says_how_to_make_it(tmp_path, monkeypatch):
    from mtl_lib.experiments.saved_summaries import write_summary
    from mtl_lib.studies._common import beside_saved

    mine, saved = _saved_claims()
    monkeypatch.setenv("MTL_SUMMARIES_DIR", str(tmp_path))
    text, table = beside_saved(mine, "toy", "quick", command="python make_toy.py")
    assert table is None and "python make_toy.py" in text and "toy.paper.json" in text
    write_summary("toy", "paper", {"claims": saved})
    text, table = beside_saved(mine, "toy", "quick", command="python make_toy.py", source="T")
    assert "'paper' sweep" in text and "1 of 2 verdicts agree" in text
    assert table["verdict (paper (saved))"].tolist()[:2] == ["INCONCLUSIVE", "NOT REPRODUCED"]


def test_the_committed_synthetic_paper_summary_is_well_formed():
    """The saved paper summary the AdaTask chapters show: present, stamped with a commit, every run of the sweep,
    the 12 claims of both chapters, each with a known verdict."""
    from pathlib import Path

    from mtl_lib.experiments import read_summary, summaries_dir
    from mtl_lib.experiments.build_status import LEGACY_VERDICTS
    from mtl_lib.studies._common import VERDICTS

    saved = read_summary("synthetic_verdicts", "paper", folder=Path(__file__).parents[2] / "data" / "paper_verdicts")
    assert saved is not None, f"data/paper_verdicts/synthetic_verdicts.paper.json is missing ({summaries_dir()})"
    from mtl_lib.studies import adatask_rau, adatask_tables

    # every Tables 2/5 run and Fig. 2 bucket run at paper, the EqualWeight probe run and the ablation runs
    expected_runs = (
        len(adatask_tables.SYNTHETIC_METHODS) * len(adatask_tables.synthetic_settings("paper")["seeds"])
        + len(adatask_rau.METHODS) * len(adatask_rau.settings("paper")["seeds"])
        + 1
        + len(adatask_rau.ablation_configs("paper", device="cpu"))
    )
    ablations = {a["id"] for a in saved["ablations"]}
    assert ablations >= set(adatask_rau.FIG1_ABLATION_IDS) and len(ablations) == len(saved["ablations"])
    assert saved["provenance"]["commit"] and saved["runs"] == expected_runs
    texts = {c["claim"] for c in saved["claims"]}
    assert len(texts) == 12 and {c["source"] for c in saved["claims"]} == {"Tables 2/5", "Fig. 2 / rAU"}
    # written under the earlier rule: its SAME DIRECTION / UNDECIDED read as INCONCLUSIVE
    assert all(c["verdict"] in VERDICTS or c["verdict"] in LEGACY_VERDICTS for c in saved["claims"])
