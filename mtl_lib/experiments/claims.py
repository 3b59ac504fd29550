"""Who is training which run: claim files, the liveness of their writers, and the temporary
files that killed writes leave behind.

Before training a run, a sweep creates ``<run_id>.claim`` in the results folder, holding its
pid, host, boot id and the process's start time. The file is written under a temporary name
and hard-linked into place (``os.link`` fails if the claim exists: atomic on local and NFS file
systems), so a claim is never seen half-written by its rightful owner's rivals. Another sweep
skips a claimed run. A claim is **stale** — and taken over — when:

* its content is not a claim (zero bytes, garbage, half a JSON object): judged by content, after
  :data:`CLAIM_WRITE_GRACE_S` (the window of a writer on a file system without hard links);
* its writer ran on this host and is gone: the pid is dead, or it now belongs to another process
  (its start time in ``/proc/<pid>/stat`` differs from the recorded one; for claims written
  without one, the process started after the claim was last written), or the machine has
  rebooted since (another boot id);
* its writer ran on another host (whose processes cannot be checked) and has not renewed its
  lease for ``stale_after_s``: the sweep holding a claim renews it (touches the file) every
  :data:`HEARTBEAT_S` seconds from a background thread, whatever its runs are doing.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CLAIM_SUFFIX = ".claim"
#: A claim whose lease has not been renewed for this long is stale (only decisive for claims of
#: other hosts: on this host a dead or replaced writer is seen at once).
STALE_CLAIM_S = 600.0
#: How often a sweep renews the claims it holds.
HEARTBEAT_S = 20.0
#: A claim whose content is unreadable is stale once it is this old (its writer needs
#: microseconds; the grace only covers file systems without hard links).
CLAIM_WRITE_GRACE_S = 2.0
#: A temporary file whose writer cannot be checked (another host) is removed after this long;
#: a record write takes milliseconds.
TEMP_MAX_AGE_S = 600.0


# --------------------------------------------------------------------------- processes
def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (whoever owns it)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (field 22 of
    ``/proc/<pid>/stat``); ``None`` when it does not exist or there is no ``/proc``. Together with
    the pid it names one process: a pid reused by a later process has a later start time."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may itself contain spaces or ')'
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 overall: 20th after the name and the state
    except (IndexError, ValueError):
        return None


def process_started_at(pid: int) -> float | None:
    """Wall-clock time (seconds since the epoch) at which process ``pid`` started, or ``None``."""
    ticks = process_start_time(pid)
    try:
        boot = next(
            int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return None if ticks is None else boot + ticks / os.sysconf("SC_CLK_TCK")


def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def writer_gone(info: dict[str, Any], written_at: float | None = None) -> bool:
    """Whether the process a claim names is certainly gone: dead, or its pid now belongs to
    another process (another start time than recorded; or, for claims that recorded none, a
    process started after the claim was last written at ``written_at``). Only decidable on this
    host; ``False`` for other hosts."""
    pid = info.get("pid")
    if info.get("host") != socket.gethostname() or not isinstance(pid, int) or isinstance(pid, bool):
        return False
    if info.get("boot_id") and boot_id() and info["boot_id"] != boot_id():
        return True  # rebooted since: every pid of that boot is gone
    if not pid_alive(pid):
        return True
    started = info.get("start_time")
    if isinstance(started, int) and not isinstance(started, bool):
        return process_start_time(pid) not in (None, started)
    now_started = process_started_at(pid)
    # one second of slack: the start time is known to a clock tick, the mtime to the file system's
    return written_at is not None and now_started is not None and now_started > written_at + 1.0


# --------------------------------------------------------------------------- temporary files
def clean_temporary_files(folder: str | Path, max_age_s: float = TEMP_MAX_AGE_S) -> list[Path]:
    """Remove temporary files left by killed writes in ``folder``: those whose writer (pid in
    the name) is dead on this host, and those older than ``max_age_s`` (any host). A file a
    live writer on this host is still writing is kept, and so is one this process may not
    delete (a read-only folder). Returns the removed paths."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    host = socket.gethostname()
    removed = []
    now = time.time()
    for tmp in folder.glob(".*.tmp"):
        try:
            age = now - tmp.stat().st_mtime
        except FileNotFoundError:
            continue  # its writer just renamed it
        parts = tmp.name.split(".")
        # .<name parts>.<host>.<pid>.<random>.tmp — host and pid sit at fixed places from the end
        writer_host, writer_pid = (parts[-4], parts[-3]) if len(parts) >= 6 else ("", "")
        dead_here = writer_host == host and writer_pid.isdigit() and not pid_alive(int(writer_pid))
        if dead_here or age > max_age_s:
            try:
                tmp.unlink(missing_ok=True)
            except PermissionError:
                continue
            removed.append(tmp)
    return removed


# --------------------------------------------------------------------------- claims
def claim_path(results_dir: str | Path, run_id: str) -> Path:
    return Path(results_dir) / f"{run_id}{CLAIM_SUFFIX}"


def _claim_payload() -> bytes:
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "boot_id": boot_id(),
        "start_time": process_start_time(os.getpid()),
        "time": time.time(),
    }
    return json.dumps(info).encode()


def read_claim(path: str | Path) -> dict[str, Any] | None:
    """The claim's content: ``None`` when there is no claim, ``{}`` when its content is not a
    claim (empty, garbage, half-written)."""
    try:
        info = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) and "pid" in info and "host" in info else {}


def claim_is_stale(path: str | Path, stale_after_s: float = STALE_CLAIM_S) -> bool:
    """Whether the claim at ``path`` belongs to nobody any more (see the module docstring)."""
    info = read_claim(path)
    if info is None:
        return True
    try:
        written_at = Path(path).stat().st_mtime
    except FileNotFoundError:
        return True
    age = time.time() - written_at
    if not info:
        return age > CLAIM_WRITE_GRACE_S
    return writer_gone(info, written_at) or age > stale_after_s


def try_claim(results_dir: str | Path, run_id: str, stale_after_s: float = STALE_CLAIM_S) -> Path | None:
    """Claim ``run_id`` for this process: the claim file's path, or ``None`` when another live
    process holds it. A stale claim is removed under a short-lived recovery lock (itself an
    ``O_EXCL`` file), so two processes recovering the same stale claim cannot both win."""
    path = claim_path(results_dir, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        if _create_whole(path, _claim_payload()):
            return path
        if not claim_is_stale(path, stale_after_s) or not _remove_stale_claim(path, stale_after_s):
            return None
    return None


def _create_whole(path: Path, payload: bytes) -> bool:
    """Create ``path`` holding ``payload`` unless it exists; readers see all of it or nothing."""
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{socket.gethostname()}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links here: exclusive create, then write (the grace covers it)
            return _create_exclusive(path, payload)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _create_exclusive(path: Path, payload: bytes) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)
    return True


def _remove_stale_claim(path: Path, stale_after_s: float) -> bool:
    lock = path.with_name(f".{path.name}.recovering")
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(FileNotFoundError):
            if time.time() - lock.stat().st_mtime > 60:  # a recoverer died within milliseconds' work
                lock.unlink(missing_ok=True)
        return False
    try:
        os.close(fd)
        if claim_is_stale(path, stale_after_s):  # still stale now that we hold the lock
            path.unlink(missing_ok=True)
            return True
        return False
    finally:
        lock.unlink(missing_ok=True)


def refresh_claim(path: str | Path) -> None:
    """Renew a held claim's lease (its age is measured from its modification time)."""
    with contextlib.suppress(FileNotFoundError):
        os.utime(path)


def release_claim(path: str | Path | None) -> None:
    """Give up a claim this process holds (only if it is still ours)."""
    if path is None:
        return
    info = read_claim(path)
    if info and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
        Path(path).unlink(missing_ok=True)


class ClaimHeartbeat:
    """Renews the leases of the claims this sweep holds every ``interval_s`` seconds, from a
    daemon thread, so that a long epoch (or a run on a cluster) never looks abandoned."""

    def __init__(self, interval_s: float = HEARTBEAT_S) -> None:
        self.interval_s = interval_s
        self.held: set[Path] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="claim-heartbeat", daemon=True)

    def __enter__(self) -> ClaimHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def hold(self, path: Path) -> None:
        with self._lock:
            self.held.add(path)

    def drop(self, path: Path) -> None:
        with self._lock:
            self.held.discard(path)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                paths = list(self.held)
            for path in paths:
                refresh_claim(path)
