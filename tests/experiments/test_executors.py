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


# ----------------------------------------------------------------------------- a cluster that keeps dying
class _FakeClient:
    """A Dask client as :class:`executors.DaskExecutor` sees it: the scheduler's event log and
    its workers."""

    def __init__(self) -> None:
        self.events: list = []
        self.workers = {"tcp://w1": 1}

    def get_executor(self, pure: bool = True):
        return self

    def get_events(self, topic: str):
        return list(self.events)

    def nthreads(self):
        return dict(self.workers)

    def die(self, address: str = "tcp://w1", expected: bool = False) -> None:
        self.events.append((0.0, {"action": "remove-worker", "worker": address, "expected": expected}))


def test_dask_health_counts_every_death_and_gives_up_past_the_bound():
    client = _FakeClient()
    client.die()  # before this executor began: not counted
    executor = executors.DaskExecutor(client, max_worker_losses=2, check_every_s=0)
    client.die()
    client.die(expected=True)  # a worker closed on purpose is no loss
    client.die()  # the nanny's restart kept the address: still a second death
    executor.check_health()
    assert executor.lost == ["tcp://w1", "tcp://w1"]
    client.die()
    with pytest.raises(executors.ExecutorFailed, match=r"lost 3 worker\(s\) .*max_worker_losses=2.*workers' logs"):
        executor.check_health()


def test_dask_health_gives_up_on_a_cluster_without_workers(monkeypatch):
    client = _FakeClient()
    executor = executors.DaskExecutor(client, no_workers_timeout_s=5, check_every_s=0)
    clock = [100.0]
    monkeypatch.setattr(executors.time, "monotonic", lambda: clock[0])
    client.workers = {}
    executor.check_health()  # none since now
    clock[0] += 4
    executor.check_health()
    clock[0] += 2
    with pytest.raises(executors.ExecutorFailed, match="no worker for 5 s"):
        executor.check_health()


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                    reason="Dask distributed is not installed: pip install -e '.[cluster]'")  # fmt: skip
def test_sweep_on_a_dask_cluster_whose_workers_keep_dying_fails_clearly(tmp_path, monkeypatch):
    """Before: the sweep hung past 300 s. Now it stops after ``max_worker_losses`` deaths with the
    reason and the resume line, releasing its claims."""
    import time

    import tests.experiments._dying_problem  # noqa: F401 — registers "fault_dies" (kills its worker)
    from mtl_lib.experiments import RunConfig

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    configs = [RunConfig(problem="fault_dies", epochs=1, seed=seed, device="cpu") for seed in range(3)]
    started = time.monotonic()
    with executors.dask_executor(workers=1, max_worker_losses=0) as executor:
        with pytest.raises(
            executors.ExecutorFailed, match=r"lost [1-9] worker\(s\).*0 of 3 records saved.*rerun to resume"
        ):
            sweep(configs, tmp_path, progress=False, executor=executor)
    took = time.monotonic() - started
    print(f"dying Dask cluster: sweep failed after {took:.1f} s")
    assert took < 60 and not list(tmp_path.glob("*.claim"))
