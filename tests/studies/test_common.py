"""The reproduction protocol's verdicts on a paired difference (mtl_lib.studies._common)."""

import math

import pandas as pd
import pytest

from mtl_lib.metrics.stats import t_quantile_975
from mtl_lib.studies._common import (
    NOT_REPRODUCED,
    REPRODUCED,
    SAME_DIRECTION,
    UNDECIDED,
    Claim,
    PairedDifference,
    paired_difference,
)


def _difference(mean: float, se: float, n: int = 3) -> PairedDifference:
    return PairedDifference(mean, se * t_quantile_975(n - 1), n)


@pytest.mark.parametrize(
    ("mean", "se", "expected"),
    [
        (10.0, 1.0, REPRODUCED),  # lower end of the interval far above zero
        (2.0, 1.0, SAME_DIRECTION),  # mean 2 SE above zero, interval (half-width 4.3 SE) reaches below
        (-3.0, 1.0, NOT_REPRODUCED),  # clearly the other way
        (0.5, 1.0, UNDECIDED),  # mean within one SE of zero: its sign is noise
        (-0.5, 1.0, UNDECIDED),
        (4.3 + 0.5, 1.0, UNDECIDED),  # interval's lower end within one SE of zero
    ],
)
def test_verdict_bands(mean, se, expected):
    assert _difference(mean, se).verdict() == expected
    assert _difference(-mean, se).verdict("negative") == expected  # the claim's sign is symmetric


def test_verdict_is_scale_free():
    for scale in (1e-6, 1.0, 1e6):
        assert _difference(2.0 * scale, 1.0 * scale).verdict() == SAME_DIRECTION
        assert _difference(0.5 * scale, 1.0 * scale).verdict() == UNDECIDED


def test_identical_runs_and_single_pairs_keep_the_plain_rule():
    # no spread at all (two methods that coincide): a definite "no difference", not the edge
    assert PairedDifference(0.0, 0.0, 5).verdict() == NOT_REPRODUCED
    assert PairedDifference(0.1, math.nan, 1).verdict() == SAME_DIRECTION
    assert PairedDifference(-0.1, math.nan, 1).verdict() == NOT_REPRODUCED
    assert PairedDifference(math.nan, math.nan, 0).verdict() == NOT_REPRODUCED


def test_claim_carries_the_edge_verdict():
    frame = pd.DataFrame({"method": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2,
                          "value": [1.0, 2.0, 3.05, 1.0, 2.1, 2.9]})  # fmt: skip
    diff = paired_difference(frame, "a", "b", "value")
    assert diff.n == 3 and abs(diff.mean - 0.0167) < 1e-3
    claim = Claim.difference("a beats b", "+1", diff.describe(), diff)
    assert claim.verdict == UNDECIDED and not claim.reproduced


@pytest.mark.parametrize(
    ("mean", "se", "expected"),
    [
        (-10.0, 1.0, NOT_REPRODUCED),  # significantly on the excluded side
        (-1.0, 1.0, REPRODUCED),  # interval reaches well across zero: no detectable effect
        (3.0, 1.0, REPRODUCED),
        (-4.3 - 0.5, 1.0, UNDECIDED),  # the interval's far end within one SE of zero
        (-4.3 + 0.5, 1.0, UNDECIDED),
    ],
)
def test_no_effect_verdict(mean, se, expected):
    assert _difference(mean, se).verdict_no_effect("negative") == expected
    assert _difference(-mean, se).verdict_no_effect("positive") == expected


# ----------------------------------------------------------------------------- saved sweeps
def _saved_claims():
    from mtl_lib.studies._common import Claim

    mine = [
        Claim("A beats B.", "yes", "+1 ± 0.5", "REPRODUCED"),
        Claim("C is balanced.", "93 %", "40 %", "NOT REPRODUCED"),
        Claim("A new claim.", "?", "1", "REPRODUCED"),
    ]
    saved = [
        {"source": "T", "claim": "A beats B.", "paper": "yes", "ours": "+0.1 ± 0.5", "verdict": "UNDECIDED"},
        {"source": "T", "claim": "C is balanced.", "paper": "93 %", "ours": "55 %", "verdict": "NOT REPRODUCED"},
        {"source": "F", "claim": "Other chapter.", "paper": "", "ours": "", "verdict": "REPRODUCED"},
    ]
    return mine, saved


def test_compare_claims_pairs_by_text_and_reports_changes_and_gaps():
    from mtl_lib.studies._common import claims_agreement, compare_claims

    mine, saved = _saved_claims()
    table = compare_claims(mine, saved, "quick", "paper (saved)")
    assert list(table.index) == [1, 2, 3]
    assert table.loc[1, "verdict (paper (saved))"] == "UNDECIDED" and table.loc[1, "same verdict"] is False
    assert table.loc[2, "same verdict"] is True and table.loc[2, "ours (paper (saved))"] == "55 %"
    assert table.loc[3, "same verdict"] is None
    text = claims_agreement(table, "quick", "paper (saved)")
    assert text.startswith("1 of 2 verdicts agree")
    assert "(1) REPRODUCED → UNDECIDED" in text and "claims 3." in text


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
    assert table["verdict (paper (saved))"].tolist()[:2] == ["UNDECIDED", "NOT REPRODUCED"]


def test_the_committed_synthetic_paper_summary_is_well_formed():
    """The saved paper summary the AdaTask chapters show: present, stamped with a commit, 66 runs,
    the 12 claims of both chapters, each with a known verdict."""
    from pathlib import Path

    from mtl_lib.experiments import read_summary, summaries_dir
    from mtl_lib.studies._common import VERDICTS

    saved = read_summary("synthetic_verdicts", "paper", folder=Path(__file__).parents[2] / "data" / "paper_verdicts")
    assert saved is not None, f"data/paper_verdicts/synthetic_verdicts.paper.json is missing ({summaries_dir()})"
    assert saved["provenance"]["commit"] and saved["runs"] == 66
    texts = {c["claim"] for c in saved["claims"]}
    assert len(texts) == 12 and {c["source"] for c in saved["claims"]} == {"Tables 2/5", "Fig. 2 / rAU"}
    assert all(c["verdict"] in VERDICTS for c in saved["claims"])
