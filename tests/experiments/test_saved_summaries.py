"""Saved summaries of sweeps the book build does not run: round trip, provenance, where they
live, and the errors for a renamed file, a bad name and reserved keys."""

import json
import math

import pytest

from mtl_lib.experiments import saved_summaries as saved


def test_round_trip_with_provenance_and_markdown(tmp_path):
    path = saved.write_summary("study", "paper", {"value": 1.5, "gap": math.nan}, "# hello", folder=tmp_path)
    assert path == tmp_path / "study.paper.json"
    assert path.with_suffix(".md").read_text() == "# hello\n"
    back = saved.read_summary("study", "paper", folder=tmp_path)
    assert back["value"] == 1.5 and math.isnan(back["gap"])  # non-finite values survive the trip
    assert back["name"] == "study" and back["profile"] == "paper"
    prov = back["provenance"]
    assert prov["written_at"].endswith("+00:00") and prov["torch_version"] and prov["host"] is not None
    # this test runs inside the repository's git checkout
    assert prov["commit"] is None or len(prov["commit"]) == 40
    line = saved.describe(back)
    assert "'paper' sweep" in line and prov["written_at"] in line


def test_absent_summary_is_none_and_the_message_names_the_command(tmp_path):
    assert saved.read_summary("study", "paper", folder=tmp_path) is None
    message = saved.missing_message("study", "paper", "python run_it.py --profile paper", folder=tmp_path)
    assert str(tmp_path / "study.paper.json") in message and "python run_it.py --profile paper" in message


def test_a_renamed_file_is_refused(tmp_path):
    saved.write_summary("study", "quick", {}, folder=tmp_path)
    (tmp_path / "study.quick.json").rename(tmp_path / "study.paper.json")
    with pytest.raises(ValueError, match="renamed or edited by hand"):
        saved.read_summary("study", "paper", folder=tmp_path)


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden"])
def test_bad_names(tmp_path, name):
    with pytest.raises(ValueError, match="plain file stem"):
        saved.summary_path(name, "paper", tmp_path)


def test_reserved_keys(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        saved.write_summary("study", "paper", {"profile": "quick"}, folder=tmp_path)
    assert not (tmp_path / "study.paper.json").exists()


def test_folder_env_override_and_book_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_SUMMARIES_DIR", str(tmp_path / "elsewhere"))
    assert saved.summaries_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("MTL_SUMMARIES_DIR")
    book = tmp_path / "book"
    (book / "notebooks").mkdir(parents=True)
    (book / "_toc.yml").write_text("root: intro\n")
    monkeypatch.chdir(book / "notebooks")
    assert saved.summaries_dir() == book / "data" / "paper_verdicts"


def test_files_are_strict_json(tmp_path):
    path = saved.write_summary("study", "paper", {"x": math.inf}, folder=tmp_path)
    json.loads(path.read_text())  # no bare Infinity: any JSON reader can load it


def test_missing_message_in_the_default_folder_shows_no_machine_path(tmp_path, monkeypatch):
    monkeypatch.delenv("MTL_SUMMARIES_DIR", raising=False)
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    monkeypatch.chdir(tmp_path)
    message = saved.missing_message("study", "paper", "make it")
    assert "data/paper_verdicts/study.paper.json does not exist" in message and str(tmp_path) not in message


def test_describe_adds_the_training_time_the_summary_records(tmp_path):
    saved.write_summary("a", "paper", {"run_seconds": {"x": 3600.0, "y": 1800.0}}, folder=tmp_path)
    saved.write_summary("b", "paper", {"run_seconds": 900.0}, folder=tmp_path)
    saved.write_summary("c", "paper", {}, folder=tmp_path)
    assert saved.describe(saved.read_summary("a", folder=tmp_path)).endswith("; 1.50 run-hours of training")
    assert saved.describe(saved.read_summary("b", folder=tmp_path)).endswith("; 0.25 run-hours of training")
    assert "run-hours" not in saved.describe(saved.read_summary("c", folder=tmp_path))


def test_rekey_claims_adds_ids_in_place_and_records_it(tmp_path):
    """The migration of summaries written before claims had ids: ids added, nothing else changed,
    the re-keying recorded in the provenance; a second run changes nothing."""
    path = saved.write_summary("study", "paper", {"claims": [
        {"claim": "A beats B.", "verdict": "REPRODUCED", "paper": "", "ours": "1"},
        {"claim": "C.", "verdict": "INCONCLUSIVE", "paper": "", "ours": "2", "id": "s.c"},
    ], "run_seconds": 3.0}, folder=tmp_path)  # fmt: skip
    before = json.loads(path.read_text())
    assert saved.rekey_claims(path, {"A beats B.": "s.a_beats_b"}, note="test") == 1
    after = json.loads(path.read_text())
    assert [c["id"] for c in after["claims"]] == ["s.a_beats_b", "s.c"]
    stamp = after["provenance"].pop("rekeyed")
    assert stamp[0]["claims"] == 1 and stamp[0]["note"] == "test"
    for claim in after["claims"]:
        claim.pop("id")
    for claim in before["claims"]:
        claim.pop("id", None)
    assert after == before  # written_at and every number unchanged
    assert saved.rekey_claims(path, {"A beats B.": "s.a_beats_b"}, note="again") == 0
    assert "re-keyed by id" in saved.describe(saved.read_summary("study", "paper", folder=tmp_path))
    with pytest.raises(ValueError, match="no id for the claim"):
        saved.write_summary("other", "paper", {"claims": [{"claim": "X.", "verdict": "REPRODUCED"}]}, folder=tmp_path)
        saved.rekey_claims(tmp_path / "other.paper.json", {}, note="")


def test_rejudge_claims_recomputes_verdicts_in_place_and_records_what_changed(tmp_path):
    """Today's rule applied to a saved summary from the values it stores: the claims change, the
    provenance says when and which verdicts changed, written_at and the stored numbers stay."""
    path = saved.write_summary("study", "paper", {"claims": [
        {"id": "s.a", "claim": "A beats B.", "verdict": "SAME DIRECTION", "paper": "", "ours": "+1"},
    ], "values": [1.0, 3.0]}, folder=tmp_path)  # fmt: skip
    before = json.loads(path.read_text())

    def rejudge(summary):
        verdict = "REPRODUCED" if min(summary["values"]) > 0 else "INCONCLUSIVE"
        return {**summary, "claims": [{**summary["claims"][0], "verdict": verdict}]}

    changes = saved.rejudge_claims(path, rejudge, note="test", markdown="# new\n")
    assert changes == [("s.a", "SAME DIRECTION", "REPRODUCED")]
    after = json.loads(path.read_text())
    stamp = after["provenance"].pop("rejudged")
    assert stamp[0]["note"] == "test" and stamp[0]["changed"] == [["s.a", "SAME DIRECTION", "REPRODUCED"]]
    assert after["provenance"] == before["provenance"] and after["values"] == before["values"]
    assert path.with_suffix(".md").read_text() == "# new\n"
    assert "re-judged under today's rule" in saved.describe(saved.read_summary("study", "paper", folder=tmp_path))
    assert saved.rejudge_claims(path, rejudge, note="again") == []  # nothing left to change


def test_the_committed_multidigits_summary_is_judged_by_todays_rule():
    """The saved paper verdict on the front page is the one today's claim function gives on the
    per-seed values the file stores (so it cannot keep an earlier rule's word)."""
    from mtl_lib.studies import multidigits as md

    summary = md.read_saved("paper")
    assert summary is not None
    assert summary["claims"] == md.rejudged(summary)["claims"]


def test_refresh_claims_replaces_by_id_and_records_it(tmp_path):
    """A probe refresh: the claims given replace those with their ids, the others stay, the
    provenance keeps written_at and records the refresh; an unknown id is refused."""
    path = saved.write_summary("study", "paper", {"claims": [
        {"id": "s.a", "claim": "A.", "verdict": "NOT REPRODUCED", "paper": "", "ours": "1"},
        {"id": "s.b", "claim": "B.", "verdict": "REPRODUCED", "paper": "", "ours": "2"},
    ], "runs": 2}, folder=tmp_path)  # fmt: skip
    before = json.loads(path.read_text())
    fresh = [{"id": "s.a", "claim": "A.", "verdict": "INCONCLUSIVE", "paper": "", "ours": "1 ± 3"}]
    changes = saved.refresh_claims(
        path, fresh, note="re-ran the probe", update=lambda s: {**s, "runs": 3}, markdown=lambda s: "# refreshed"
    )
    assert changes == [("s.a", "NOT REPRODUCED", "INCONCLUSIVE")]
    after = json.loads(path.read_text())
    assert after["claims"] == [fresh[0], before["claims"][1]] and after["runs"] == 3
    (stamp,) = after["provenance"].pop("refreshed")
    assert stamp["claims"] == ["s.a"] and stamp["changed"] == [["s.a", "NOT REPRODUCED", "INCONCLUSIVE"]]
    assert after["provenance"] == before["provenance"]
    assert path.with_suffix(".md").read_text() == "# refreshed\n"
    assert "recomputed from a re-run probe" in saved.describe(saved.read_summary("study", "paper", folder=tmp_path))
    with pytest.raises(ValueError, match=r"no claim with id\(s\) \['s.z'\]"):
        saved.refresh_claims(path, [{"id": "s.z", "verdict": "REPRODUCED"}], note="")
