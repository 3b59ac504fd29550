"""The command line: listings, a smoke sweep, status of a results folder, clear errors."""

from __future__ import annotations

import json

import pytest

from mtl_lib import cli
from mtl_lib.experiments import store


def test_lists_studies_and_methods(capsys):
    assert cli.main(["studies"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli.STUDIES)
    assert cli.main(["methods", "--kind", "aggregator"]) == 0
    assert "pcgrad" in capsys.readouterr().out


def test_every_study_yields_valid_configs_for_every_profile():
    from mtl_lib.experiments import validate_configs

    for study in cli.STUDIES.values():
        for profile in ("smoke", "quick", "paper"):
            configs = study.configs(profile, None, "cpu")
            assert configs, (study.name, profile)
            validate_configs(configs)


def test_run_then_status(tmp_path, capsys):
    assert cli.main(["run", "adatask_synthetic", "--profile", "smoke", "--results", str(tmp_path),
                     "--workers", "1", "--no-progress"]) == 0  # fmt: skip
    folder = tmp_path / "adatask_synthetic" / "smoke"
    records = sorted(folder.glob("*.json"))
    assert len(records) == len(cli.STUDIES["adatask_synthetic"].configs("smoke", None, "auto"))
    # one failed, one damaged, one claimed by a live process, one missing
    failed = json.loads(records[0].read_text())
    failed.update(status="failed", error={"type": "NonFiniteError", "message": "nan"})
    records[0].write_text(json.dumps(failed))
    records[1].write_text("{trunc")
    store.try_claim(folder, records[2].stem)
    records[2].unlink()
    records[3].unlink()
    capsys.readouterr()
    assert cli.main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("adatask_synthetic"))
    assert line.split()[1:] == ["smoke", str(len(records) - 4), "1", "1", "1", "1"]


def test_bad_input_is_named(tmp_path):
    with pytest.raises(SystemExit, match="unknown study 'nope'"):
        cli.main(["run", "nope", "--results", str(tmp_path)])
    with pytest.raises(SystemExit, match="no results folder"):
        cli.main(["status", str(tmp_path / "absent")])
    with pytest.raises(SystemExit, match="no notebook"):
        cli.main(["render", "absent.ipynb"])
    with pytest.raises(SystemExit):
        cli.main(["run", "adatask_synthetic", "--executor", "ray"])
