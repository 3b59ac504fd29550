"""Cluster executors: a smoke study swept through Dask (LocalCluster) and through submitit's
local executor lands the same records as the in-process sweep. Skipped, with the reason, when
the ``[cluster]`` extra is not installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mtl_lib.experiments import executors, sweep
from mtl_lib.studies import adatask_synthetic

ROOT = Path(__file__).resolve().parents[2]


def _metrics(records):
    return [{k: v for k, v in r["final"].items() if k != "train_time_s"} for r in records]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    configs = adatask_synthetic.configs("smoke", methods=["PCGrad"], device="cpu")  # 2 runs: keep it cheap
    return configs, sweep(configs, tmp_path_factory.mktemp("inline"), progress=False, workers=1)


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                    reason="Dask distributed is not installed: pip install -e '.[cluster]'")  # fmt: skip
def test_dask_local_cluster_sweep_matches_in_process(tmp_path, reference, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # workers import this checkout's mtl_lib
    configs, expected = reference
    with executors.dask_executor(workers=2) as executor:
        records = sweep(configs, tmp_path, progress=False, executor=executor)
    assert [r["status"] for r in records] == ["finished"] * len(configs)
    assert _metrics(records) == _metrics(expected)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(f"{c.run_id()}.json" for c in configs)
    # resume: nothing left to do, nothing submitted
    assert _metrics(sweep(configs, tmp_path, progress=False, executor=_Refuse())) == _metrics(expected)


@pytest.mark.skipif(importlib.util.find_spec("submitit") is None,
                    reason="submitit is not installed: pip install -e '.[cluster]'")  # fmt: skip
def test_submitit_local_sweep_matches_in_process(tmp_path, reference, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    configs, expected = reference
    executor = executors.submitit_executor(tmp_path / "_submitit", local=True, timeout_min=20)
    records = sweep(configs, tmp_path / "results", progress=False, executor=executor)
    assert [r["status"] for r in records] == ["finished"] * len(configs)
    assert _metrics(records) == _metrics(expected)


class _Refuse:
    def submit(self, *args, **kwargs):
        raise AssertionError("a finished run was submitted again")


def test_missing_extra_is_a_clear_error(monkeypatch):
    real_import = importlib.import_module

    def fake(name, *args):
        if name in ("distributed", "submitit"):
            raise ImportError(name)
        return real_import(name, *args)

    monkeypatch.setattr(executors.importlib, "import_module", fake)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[cluster\]'"):
        executors.dask_executor()
    with pytest.raises(ImportError, match="cluster extra"):
        executors.submitit_executor("x")
    with pytest.raises(ValueError, match="local, dask, submitit"):
        executors.make_executor("ray")
