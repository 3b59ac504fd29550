"""Claims name their writer by pid, host, boot and process start time, and a sweep renews the
leases of those it holds from a heartbeat thread."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from mtl_lib.experiments import claims


def test_start_time_tells_processes_apart():
    here = claims.process_start_time(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(0.2)
        assert here is not None and claims.process_start_time(child.pid) > here
        started = claims.process_started_at(child.pid)
        assert abs(started - time.time()) < 5
    finally:
        child.kill()
        child.wait()
    assert claims.process_start_time(child.pid) is None  # gone (reaped)


def test_heartbeat_renews_held_claims_only(tmp_path):
    held = claims.try_claim(tmp_path, "held")
    other = claims.try_claim(tmp_path, "other")
    for path in (held, other):
        os.utime(path, (0, 0))
    with claims.ClaimHeartbeat(interval_s=0.05) as heartbeat:
        heartbeat.hold(held)
        deadline = time.monotonic() + 5
        while held.stat().st_mtime == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        heartbeat.drop(held)
    assert time.time() - held.stat().st_mtime < 5  # renewed
    assert other.stat().st_mtime == 0  # not ours to renew


def _tiny_configs(n: int = 2):
    from mtl_lib.experiments import RunConfig

    return [RunConfig(problem="synthetic_regression", lr=1e-3, epochs=1, batch_size=64, seed=s,
                      problem_kwargs={"n_train": 64, "n_test": 32, "hidden": [8, 8, 8, 8]}) for s in range(n)]  # fmt: skip


def test_a_stop_right_after_a_claim_is_taken_releases_it(tmp_path, monkeypatch):
    """A Ctrl-C that lands between taking a claim and noting its run in flight (seen in a make test:
    a 2-worker sweep stopped by Ctrl-C left one .claim behind) must not leave the claim."""
    import signal

    import pytest

    from mtl_lib.experiments import SweepInterrupted, store, sweep

    real = store.try_claim

    def taken_then_stopped(*args, **kwargs):
        claim = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # delivered at the next bytecode: before the claim is noted
        return claim

    monkeypatch.setattr(store, "try_claim", taken_then_stopped)
    with pytest.raises(SweepInterrupted):
        sweep(_tiny_configs(), tmp_path, workers=1, progress=False)
    assert list(tmp_path.glob("*.claim")) == []


def test_a_stop_while_a_finished_run_is_recorded_releases_its_claim(tmp_path, monkeypatch):
    """The other window: the run has left the in-flight table and its record is being written."""
    import pytest

    from mtl_lib.experiments import SweepInterrupted, store, sweep

    real = store.write_json_atomic

    def stopped_while_writing(path, *args, **kwargs):
        if str(path).endswith(".json") and "checkpoint" not in str(path):
            raise KeyboardInterrupt
        return real(path, *args, **kwargs)

    monkeypatch.setattr(store, "write_json_atomic", stopped_while_writing)
    with pytest.raises(SweepInterrupted):
        sweep(_tiny_configs(), tmp_path, workers=1, progress=False)
    assert list(tmp_path.glob("*.claim")) == []
