"""Killing a sweep: SIGTERM, SIGKILL and Ctrl-C of a 2-worker sweep leave no live worker after
5 s and a rerun finishes every run; claims left by dead or replaced writers, or holding no
claim at all (zero bytes, garbage), cost the next sweep seconds, not hours."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import tests.faults._sweep_problems  # noqa: F401 — registers the "fault_tiny" problem
from mtl_lib.experiments import RunConfig, claims, sweep

ROOT = Path(__file__).resolve().parents[2]
RUNS = 4

#: What the command line does with a stopped sweep: its one-line message, exit status 130. Ctrl-C
#: handled as in a terminal's foreground job: a test suite started as a background job of a shell
#: without job control (``make test > log &`` in a script) hands its children SIGINT *ignored*,
#: and Python then never raises KeyboardInterrupt: the sweep ran on to its end (exit 0, or workers
#: alive for its remaining 10 s) in two fresh-clone runs.
SWEEPER = textwrap.dedent(
    """
    import json, signal, sys, warnings
    signal.signal(signal.SIGINT, signal.default_int_handler)
    warnings.simplefilter("ignore")
    import tests.faults._sweep_problems
    from mtl_lib.experiments import RunConfig, SweepInterrupted, sweep
    {patch}
    configs = [RunConfig.from_dict(c) for c in json.loads(sys.argv[1])]
    try:
        sweep(configs, sys.argv[2], progress=False, workers=2)
    except SweepInterrupted as stop:
        print(stop, file=sys.stderr)
        sys.exit(130)
    """
)

#: A Ctrl-C that lands while the sweep starts its first worker, just after the worker's start()
#: and before the pool records it (sent from inside start(); the worker's pid goes to argv[3]).
STOP_WHILE_A_WORKER_STARTS = """
import multiprocessing.context, os, time
real_start = multiprocessing.context.SpawnProcess.start
def start(self):
    real_start(self)
    if not os.path.exists(sys.argv[3]):
        with open(sys.argv[3], "w") as handle:
            handle.write(str(self.pid))
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)  # Python runs the handler in this thread when the sleep ends
multiprocessing.context.SpawnProcess.start = start
"""


def _configs(count_dir: Path) -> list[RunConfig]:
    # 8 epochs of 0.2 s each: a run outlasts the wait for both workers even on a loaded machine (3 epochs
    # once let the sweep finish first), while short epochs keep the stop fast; short enough to rerun
    return [
        RunConfig(
            problem="fault_tiny", optimizer="rmsprop", epochs=8, batch_size=16, seed=seed, device="cpu",
            problem_kwargs={"count_dir": str(count_dir), "sleep_s": 0.2},
        )
        for seed in range(RUNS)
    ]  # fmt: skip


def _alive(pid: int) -> bool:
    """A live process (a zombie waiting to be reaped is dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _session_members(sid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid and _alive(int(entry.name)):
                    members.append(int(entry.name))
            except OSError:
                continue
    return members


def _worker_pids(count_dir: Path) -> set[int]:
    return {int(pid) for log in count_dir.glob("*.log") for pid in log.read_text().split()}


def _start_sweeper(configs: list[RunConfig], results: Path, *extra: str, patch: str = "") -> subprocess.Popen:
    payload = json.dumps([{**c.identity(), "device": "cpu"} for c in configs])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    script = SWEEPER.replace("{patch}", patch.strip())
    return subprocess.Popen(
        [sys.executable, "-c", script, payload, str(results), *extra], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,  # a terminal's job
    )  # fmt: skip


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL", "Ctrl-C"])
def test_stopped_sweep_leaves_no_worker_and_resumes(tmp_path, how):
    counts, results = tmp_path / "counts", tmp_path / "results"
    counts.mkdir()
    configs = _configs(counts)
    process = _start_sweeper(configs, results)
    deadline = time.monotonic() + 120
    while len(_worker_pids(counts)) < 2:  # both workers are training
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    workers = _worker_pids(counts)
    if how == "Ctrl-C":
        os.killpg(process.pid, signal.SIGINT)  # a terminal sends it to the whole process group
    else:
        os.kill(process.pid, getattr(signal, how))
    stopped = time.monotonic()
    workers_gone = session_gone = None
    while session_gone is None and time.monotonic() - stopped < 15:
        now = time.monotonic() - stopped
        if workers_gone is None and not any(map(_alive, workers)):
            workers_gone = now
        if workers_gone is not None and not _session_members(process.pid):
            session_gone = now  # the sweep itself and multiprocessing's resource tracker too
        time.sleep(0.02)
    out, err = process.communicate(timeout=30)
    assert workers_gone is not None and workers_gone < 5, (workers, _session_members(process.pid))
    assert session_gone is not None, _session_members(process.pid)
    print(f"{how}: workers gone after {workers_gone:.2f} s, every process of the sweep after {session_gone:.2f} s")
    if how != "SIGKILL":  # SIGKILL leaves no chance to say anything
        assert process.returncode == 130, err
        assert "Traceback" not in err and "leaked semaphore" not in err, err
        assert f"of {RUNS} records saved in {results}; rerun to resume" in err, err
        assert not list(results.glob("*.claim"))  # released
    # the rerun (claims of a killed sweep are stale at once) finishes every run
    started = time.monotonic()
    records = sweep(configs, results, progress=False, workers=1)
    assert [r["status"] for r in records] == ["finished"] * RUNS
    assert time.monotonic() - started < 30


def test_a_ctrl_c_while_a_worker_starts_still_ends_it(tmp_path):
    """Before: the pool had started the worker but not recorded it, so the stop did not see it
    and the exit waited for it: sweep and worker alive until killed. After: the stop waits for
    the record (``workers.stops_deferred``); worker gone and exit 130 within seconds."""
    counts, results, started = tmp_path / "counts", tmp_path / "results", tmp_path / "worker.pid"
    counts.mkdir()
    process = _start_sweeper(_configs(counts), results, str(started), patch=STOP_WHILE_A_WORKER_STARTS)
    try:
        deadline = time.monotonic() + 120
        while not started.exists() or not started.read_text():
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        worker, stopped = int(started.read_text()), time.monotonic()
        worker_gone = sweep_gone = None
        while sweep_gone is None and time.monotonic() - stopped < 15:
            if worker_gone is None and not _alive(worker):
                worker_gone = time.monotonic() - stopped
            if worker_gone is not None and process.poll() is not None:
                sweep_gone = time.monotonic() - stopped
            time.sleep(0.02)
    finally:
        if process.poll() is None:  # still hanging: end it and its workers
            os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate(timeout=30)
    assert worker_gone is not None and worker_gone < 5, (worker_gone, err)
    assert sweep_gone is not None, err
    print(f"Ctrl-C while a worker starts: worker gone after {worker_gone:.2f} s, the sweep after {sweep_gone:.2f} s")
    assert process.returncode == 130, err
    assert "Traceback" not in err and f"of {RUNS} records saved in {results}; rerun to resume" in err, err


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


#: (case, claim content given a live unrelated process) — each is no claim of a live sweep
LEFTOVER_CLAIMS = [
    ("zero-byte", lambda other: b""),
    ("garbage", lambda other: b'{"pid": 12'),
    ("not-a-claim", lambda other: b'["pid", 12]'),
    (
        "reused-pid",  # the pid is alive, but it is another process than the one that wrote the claim
        lambda other: json.dumps(
            {
                "pid": other.pid,
                "host": socket.gethostname(),
                "boot_id": claims.boot_id(),
                "start_time": claims.process_start_time(other.pid) - 1000,
                "time": time.time(),
            }
        ).encode(),  # fmt: skip
    ),
    (
        "reused-pid-old-format",  # no start time recorded: the process started after the claim was written
        lambda other: json.dumps({"pid": other.pid, "host": socket.gethostname(), "time": 0}).encode(),
    ),
]


@pytest.mark.parametrize("case,content", LEFTOVER_CLAIMS, ids=[c[0] for c in LEFTOVER_CLAIMS])
def test_leftover_claim_costs_seconds_not_hours(tmp_path, case, content):
    config = RunConfig(
        problem="fault_tiny", optimizer="rmsprop", epochs=1, batch_size=16, device="cpu",
    )  # fmt: skip
    claim = claims.claim_path(tmp_path, config.run_id())
    if case == "reused-pid-old-format":
        claim.write_bytes(b"")
        stamp = time.time() - 30
        os.utime(claim, (stamp, stamp))  # written before the unrelated process started
    other = _sleeper()
    try:
        time.sleep(0.1)  # let it exist in /proc
        written = claim.stat().st_mtime if claim.exists() else None
        claim.write_bytes(content(other))
        if written is not None:
            os.utime(claim, (written, written))
        started = time.monotonic()
        (record,) = sweep([config], tmp_path, progress=False, workers=1)
        took = time.monotonic() - started
    finally:
        other.kill()
        other.wait()
    print(f"{case}: claim taken over, run finished in {took:.2f} s")
    assert record["status"] == "finished" and took < 30
    assert not claim.exists()


def test_claim_of_a_live_sweep_is_honoured(tmp_path):
    """The counterpart: a claim whose writer is this very process (alive, same start time) is
    not taken over, however it is read."""
    path = claims.try_claim(tmp_path, "run")
    assert path is not None and not claims.claim_is_stale(path)
    assert claims.try_claim(tmp_path, "run") is None
    info = claims.read_claim(path)
    assert info["start_time"] == claims.process_start_time(os.getpid()) and info["boot_id"] == claims.boot_id()
    claims.release_claim(path)
