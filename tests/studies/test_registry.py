"""The book's chapters as data: one Study per notebook of the table of contents, and what reads it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from mtl_lib.core.profiles import PROFILES
from mtl_lib.studies import registry
from mtl_lib.studies.registry import Stage, Study, one_stage

ROOT = Path(__file__).resolve().parents[2]


def _toc_notebooks() -> list[str]:
    found: list[str] = []

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if entry.get("file", "").startswith("notebooks/"):
                found.append(entry["file"].split("/", 1)[1])
            walk(entry.get("sections", []))

    for part in yaml.safe_load((ROOT / "_toc.yml").read_text())["parts"]:
        walk(part["chapters"])
    return found


def test_every_notebook_in_the_toc_has_exactly_one_study_and_every_study_a_notebook() -> None:
    notebooks = _toc_notebooks()
    declared = [s.notebook for s in registry.studies().values()]
    assert sorted(declared) == sorted(set(declared)), "a notebook is declared by two studies"
    assert sorted(notebooks) == sorted(declared), (
        f"in _toc.yml without a Study: {sorted(set(notebooks) - set(declared))}; "
        f"a Study whose notebook is not in _toc.yml: {sorted(set(declared) - set(notebooks))}"
    )
    for notebook in notebooks:
        assert (ROOT / "notebooks" / f"{notebook}.md").exists(), f"notebooks/{notebook}.md is missing"


@pytest.mark.parametrize("name", sorted(registry.studies()))
def test_settings_exist_for_every_profile_and_sweeps_plan_valid_configs(name: str) -> None:
    from mtl_lib.experiments import validate_configs

    study = registry.studies()[name]
    for profile in PROFILES:
        assert isinstance(study.settings(profile), dict) and study.settings(profile)
        if study.sweep is not None:
            stage = study.first_stage(profile, None, "cpu")
            assert stage.configs, (name, profile)
            validate_configs(stage.configs)


@pytest.mark.parametrize("name", sorted(registry.studies()))
def test_every_caption_rule_matches_a_cell_of_its_notebook(name: str) -> None:
    """A caption whose piece of code is in no cell is dead (three of eight were, before)."""
    study = registry.studies()[name]
    text = (ROOT / "notebooks" / f"{study.notebook}.md").read_text()
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, flags=re.S)
    for piece, caption in study.captions:
        assert caption.strip()
        assert any(piece in cell for cell in cells), f"{name}: no code cell of its notebook contains {piece!r}"


def test_claim_ids_are_unique_and_the_saved_summaries_use_registered_ids() -> None:
    ids = registry.claim_ids()
    assert len(ids) >= 20
    for path in sorted((ROOT / "data" / "paper_verdicts").glob("*.json")):
        claims = json.loads(path.read_text()).get("claims", [])
        unknown = [c.get("id") for c in claims if c.get("id") not in ids]
        assert not unknown, f"{path.name}: claims without a registered id: {unknown}"


def test_saved_summary_keys_have_their_writer() -> None:
    owners = {s.saved_summary: s for s in registry.studies().values() if s.saved_summary}
    assert set(owners) == {p.name.split(".")[0] for p in (ROOT / "data" / "paper_verdicts").glob("*.json")}
    for key, study in owners.items():
        assert study.write_summary is not None and registry.summary_owner(key) is study
        assert study.summary_command("paper") == f"python -m mtl_lib run {study.name} --profile paper --save-summary"


def test_lookup_by_name_or_notebook_and_a_did_you_mean() -> None:
    assert registry.get("synthetic_regression").name == "adatask_synthetic"
    assert registry.get("notebooks/multidigits.md").name == "multidigits"
    with pytest.raises(KeyError, match="did you mean 'multidigits'"):
        registry.get("multidigit")


def test_a_multi_stage_plan_sends_each_stage_its_records() -> None:
    seen = []

    def plan(profile, data_dir, device):
        first = yield Stage("a", [])
        seen.append(first)
        yield Stage("b", [], folder="elsewhere")

    study = Study("toy", "toy", "a toy", settings=lambda p: {"p": p}, estimated_s=1, sweep=plan)
    out = registry.drive(study, "smoke", lambda stage, folder: [{"stage": stage.label, "folder": folder}])
    assert seen == [[{"stage": "a", "folder": "toy"}]]
    assert out == {"a": [{"stage": "a", "folder": "toy"}], "b": [{"stage": "b", "folder": "elsewhere"}]}
    stopped = registry.drive(study, "smoke", lambda stage, folder: None)
    assert stopped == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "Bad Name"}, "lower-case"),
        ({"estimated_s": 0}, "estimated_s"),
        ({"claims": ("Not An Id",)}, "claim ids"),
        ({"write_summary": lambda *a: Path()}, "write_summary needs"),
    ],
)
def test_a_bad_declaration_is_refused(fields: dict, message: str) -> None:
    base = {"name": "toy", "notebook": "toy", "describe": "", "settings": lambda p: {}, "estimated_s": 1.0}
    with pytest.raises(ValueError, match=message):
        Study(**{**base, **fields})


def test_one_stage_passes_the_data_folder_only_when_asked() -> None:
    calls = []
    plan = one_stage(lambda profile, device, **kw: calls.append((profile, device, kw)) or [], data=True)
    next(plan("quick", "/data", "cpu"))
    assert calls == [("quick", "cpu", {"data_dir": "/data"})]


def test_the_calibration_plan_is_the_searches_own_stages() -> None:
    """The command line runs the same staged searches the chapter's calibrate() runs, into the
    committed folders (no profile level) under the results root."""
    from mtl_lib.studies import adatask_calibration

    stage = registry.get("calibration").first_stage("smoke")
    assert stage.folder == "calibration/adatask_synthetic" and not stage.per_profile
    assert stage.path(Path("data"), stage.folder, "smoke") == Path("data/calibration/adatask_synthetic")
    own = next(adatask_calibration.search_stages("smoke"))
    assert [c.run_id() for c in stage.configs] == [c.run_id() for c in own]
