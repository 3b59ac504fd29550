"""The misbehaving page's library (mtl_lib/studies/misbehaving): the fast reproductions show the
fixed behaviour, the audit's evidence is read from the results (never typed), and a saved CAGrad
result made for other settings is refused."""

import json

import pytest

from mtl_lib.studies import misbehaving as mb


def test_fast_reproductions_show_the_fixed_behaviour():
    excess = mb.excess_weights().set_index(["dtype", "step"])
    assert excess.loc[("float32", 1), "smaller weight, ours"] == pytest.approx(0.5)
    dual = mb.dual_cone_conflict()
    assert (dual["ours (per-task ridge, default)"] > -1e-3).all()
    assert (mb.imtl_g_projections().iloc[0] > 0).all()
    pcd = mb.pcd_rescaling()
    assert (pcd.iloc[:, 2] < 1e-12).all()


def _results():
    return {
        "profile": "quick",
        "excess": mb.excess_weights(),
        "pcd": mb.pcd_rescaling(),
        "imtl_g": mb.imtl_g_projections(),
    }


def test_audit_evidence_is_computed_from_the_results():
    results = _results()
    table = mb.audit_table(results)
    assert list(table.index[:2]) == ["ExcessMTL", "PCD"]
    assert "0.5 (ours, fixed)" in table.loc["ExcessMTL", "evidence"]
    # a row whose input this execution did not compute says so instead of showing a number
    assert table.loc["SDMGrad", "evidence"].startswith("not computed")
    results["excess"].loc[results["excess"]["dtype"] == "float32", "smaller weight, ours"] = 0.123
    assert "0.123 (ours, fixed)" in mb.audit_table(results).loc["ExcessMTL", "evidence"]
    assert set(table["class"]) <= {mb.BUG, mb.SETTING, mb.FINDING}


def test_digit_table_pairs_delta_m_by_seed():
    def record(label, seed, left, right):
        return {"method": label, "seed": seed, "final": {"left/acc": left, "right/acc": right}}

    records = [record(label, s, 0.5, 0.5) for label in mb.DIGIT_VARIANTS for s in (0, 1)]
    records[2] = record(list(mb.DIGIT_VARIANTS)[1], 0, 0.25, 0.5)  # -25 % on seed 0
    table = mb.digit_table(records)
    assert table.loc["EW", "Δm % vs EW"].startswith("+0.0")
    assert table.iloc[1]["Δm % vs EW"].startswith("-12.5")


def test_a_saved_cagrad_result_for_other_settings_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_SUMMARIES_DIR", str(tmp_path))
    assert mb.read_cagrad_official() is None
    payload = {
        "name": mb.CAGRAD_SAVED,
        "profile": "paper",
        "provenance": {"written_at": "2026-12-03T00:00:00Z"},
        "settings": [0.4, 1e-3, 10, 2],
        "rows": [],
    }
    (tmp_path / f"{mb.CAGRAD_SAVED}.paper.json").write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="re-run"):
        mb.read_cagrad_official()


def test_the_committed_cagrad_result_is_for_the_codes_settings():
    """The page reads benchmarks/saved/misbehaving_cagrad.paper.json: it must exist and be for
    CAGRAD_OFFICIAL (changing those settings without re-running the command fails here)."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "benchmarks" / "saved"
    saved = mb.read_cagrad_official(folder)
    assert saved is not None, f"make it with: {mb.CAGRAD_COMMAND}"
    assert [row["steps"] for row in saved["rows"]] == [mb.CAGRAD_OFFICIAL[2]]
