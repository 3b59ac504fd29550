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
