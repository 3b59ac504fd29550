"""Results records on disk: one JSON file per run, written atomically, read defensively.

A results folder holds, per run, ``<run_id>.json`` (its record) and, while some process
trains it, ``<run_id>.claim``. Three things can go wrong with such a folder and none of them
may stop a sweep or lose a finished record:

* a record is damaged (truncated, empty, not a JSON object, no final metrics, another
  config): :func:`inspect_record` says why, :func:`set_aside` moves it to
  ``<results>/_damaged/<name>.<UTC timestamp>`` (never deleted) and the run is redone;
* a write was killed half-way: the temporary file it left (``.<name>.<host>.<pid>.*.tmp``)
  is removed by :func:`clean_temporary_files` once its writer is dead or it is old;
* two sweeps share the folder: before training a run, a sweep creates its claim file with
  ``O_CREAT | O_EXCL`` (atomic on local and NFSv3+ file systems), holding pid, host and time.
  Another sweep skips a claimed run. A claim is stale — and taken over — when its process is
  dead (same host) or the claim has not been refreshed for ``stale_after_s`` (other hosts,
  whose processes cannot be checked; live sweeps refresh their claims while they train).

Records are standard JSON: ``NaN`` and ``±Infinity`` are not JSON, so :func:`write_json_atomic`
writes them as ``null`` and lists where they were under the key ``"_nonfinite"``
(``[{"path": ["history", 3, "A/loss"], "value": "nan"}, ...]``); :func:`read_json` puts the
floats back, so a reader sees exactly what was written.
"""

from __future__ import annotations

import json
import math
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

NONFINITE_KEY = "_nonfinite"
DAMAGED_FOLDER = "_damaged"
CLAIM_SUFFIX = ".claim"
#: A temporary file whose writer cannot be checked (another host) is removed after this long;
#: a record write takes milliseconds.
TEMP_MAX_AGE_S = 600.0
#: A claim not refreshed for this long is stale. Sweeps refresh their claims every few seconds
#: while they wait for runs, and at every epoch when training in-process.
STALE_CLAIM_S = 6 * 3600.0


# --------------------------------------------------------------------------- JSON, NaN-safe
def _encode_nonfinite(value: Any, path: list, found: list[dict[str, Any]]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        found.append({"path": list(path), "value": repr(value)})  # 'nan', 'inf', '-inf'
        return None
    if isinstance(value, dict):
        return {k: _encode_nonfinite(v, [*path, k], found) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_nonfinite(v, [*path, i], found) for i, v in enumerate(value)]
    return value


def to_json_safe(payload: Any) -> Any:
    """``payload`` with every non-finite float replaced by ``None``; for a dict, the replaced
    places are listed under ``"_nonfinite"`` so that :func:`from_json_safe` can restore them."""
    found: list[dict[str, Any]] = []
    safe = _encode_nonfinite(payload, [], found)
    if found:
        if not isinstance(safe, dict):
            raise ValueError("non-finite floats can only be recorded inside a JSON object")
        safe[NONFINITE_KEY] = found
    return safe


def from_json_safe(payload: Any) -> Any:
    """Inverse of :func:`to_json_safe` (the ``"_nonfinite"`` key is consumed)."""
    if not isinstance(payload, dict) or NONFINITE_KEY not in payload:
        return payload
    for entry in payload.pop(NONFINITE_KEY):
        *parents, last = entry["path"]
        target = payload
        for key in parents:
            target = target[key]
        target[last] = float(entry["value"])
    return payload


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write JSON to ``path`` so that a reader (or a killed run) never sees half a file: write a
    temporary file in the same folder, flush it to disk, then rename it over the target.

    Non-finite floats are written as ``null`` and flagged (see the module docstring); the file
    is strict JSON (``allow_nan=False``), readable by any JSON parser."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_json_safe(payload), indent=1, sort_keys=True, allow_nan=False)
    prefix = f".{path.name}.{socket.gethostname()}.{os.getpid()}."
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def read_json(path: str | Path) -> Any:
    """Read a JSON file written by :func:`write_json_atomic` (non-finite floats restored)."""
    with open(path) as handle:
        return from_json_safe(json.load(handle))


def default_results_dir(*parts: str) -> Path:
    """Where results go unless told otherwise: ``$MTL_RESULTS_DIR`` if set, else
    ``_build/results`` at the book's root (found by walking up to ``_toc.yml``)."""
    env = os.environ.get("MTL_RESULTS_DIR")
    if env:
        return Path(env, *parts)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists():
            return folder.joinpath("_build", "results", *parts)
    return here.joinpath("results", *parts)


# --------------------------------------------------------------------------- damaged records
@dataclass(frozen=True)
class RecordCheck:
    """What is in a record file: ``status`` is ``missing``, ``finished``, ``failed`` or
    ``damaged`` (then ``reason`` says why)."""

    status: str
    record: dict[str, Any] | None = None
    reason: str = ""


def inspect_record(path: str | Path, identity: dict[str, Any] | None = None) -> RecordCheck:
    """Read ``path`` and classify it without raising.

    A record is damaged when it is empty, not valid JSON (e.g. truncated), not a JSON object,
    has no ``config`` or a config other than ``identity``, or — when it says it finished — has
    no final metrics. Records written before statuses existed count as finished."""
    path = Path(path)
    if not path.exists():
        return RecordCheck("missing")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        return RecordCheck("damaged", reason=f"unreadable ({type(error).__name__}: {error})")
    if not text.strip():
        return RecordCheck("damaged", reason="empty file")
    try:
        record = from_json_safe(json.loads(text))
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as error:
        return RecordCheck("damaged", reason=f"not valid JSON (truncated?): {error}")
    if not isinstance(record, dict):
        return RecordCheck("damaged", reason=f"not a JSON object but a {type(record).__name__}")
    if not isinstance(record.get("config"), dict):
        return RecordCheck("damaged", reason="no 'config' object")
    if identity is not None and record["config"] != identity:
        return RecordCheck("damaged", reason="it holds a different config than the run it is named after")
    status = record.get("status", "finished")
    if status == "failed":
        if not isinstance(record.get("error"), dict):
            return RecordCheck("damaged", reason="a failed record without its 'error'")
        return RecordCheck("failed", record)
    if status != "finished":
        return RecordCheck("damaged", reason=f"unknown status {status!r}")
    final = record.get("final")
    if not isinstance(final, dict) or not final:
        return RecordCheck("damaged", reason="no final metrics ('final' missing or empty)")
    if not isinstance(record.get("history"), list) or not record["history"]:
        return RecordCheck("damaged", reason="no training history")
    return RecordCheck("finished", record)


def set_aside(path: str | Path) -> Path:
    """Move a damaged file to ``<folder>/_damaged/<name>.<UTC timestamp>`` and return the new
    path. Never deletes: the file may be the only copy of hours of training."""
    path = Path(path)
    folder = path.parent / DAMAGED_FOLDER
    folder.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = folder / f"{path.name}.{stamp}"
    n = 0
    while target.exists():  # two set-asides within a microsecond
        n += 1
        target = folder / f"{path.name}.{stamp}.{n}"
    os.replace(path, target)
    return target


# --------------------------------------------------------------------------- temporary files
def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_temporary_files(folder: str | Path, max_age_s: float = TEMP_MAX_AGE_S) -> list[Path]:
    """Remove temporary files left by killed writes in ``folder``: those whose writer (pid in
    the name) is dead on this host, and those older than ``max_age_s`` (any host). A file a
    live writer on this host is still writing is kept. Returns the removed paths."""
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
        dead_here = writer_host == host and writer_pid.isdigit() and not _pid_alive(int(writer_pid))
        if dead_here or age > max_age_s:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


# --------------------------------------------------------------------------- claims
def claim_path(results_dir: str | Path, run_id: str) -> Path:
    return Path(results_dir) / f"{run_id}{CLAIM_SUFFIX}"


def _claim_payload() -> bytes:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}
    return json.dumps(info).encode()


def read_claim(path: str | Path) -> dict[str, Any] | None:
    try:
        info = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # half-written or garbage: judged by age alone
    return info if isinstance(info, dict) else {}


def claim_is_stale(path: str | Path, stale_after_s: float = STALE_CLAIM_S) -> bool:
    """Whether the claim at ``path`` belongs to nobody any more (see the module docstring)."""
    info = read_claim(path)
    if info is None:
        return True
    try:
        age = time.time() - Path(path).stat().st_mtime
    except FileNotFoundError:
        return True
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        if not _pid_alive(info["pid"]):
            return True
    return age > stale_after_s


def try_claim(results_dir: str | Path, run_id: str, stale_after_s: float = STALE_CLAIM_S) -> Path | None:
    """Claim ``run_id`` for this process: the claim file's path, or ``None`` when another live
    process holds it. A stale claim is removed under a short-lived recovery lock (itself an
    ``O_EXCL`` file), so two processes recovering the same stale claim cannot both win."""
    path = claim_path(results_dir, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not claim_is_stale(path, stale_after_s):
                return None
            if not _remove_stale_claim(path, stale_after_s):
                return None
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(_claim_payload())
        return path
    return None


def _remove_stale_claim(path: Path, stale_after_s: float) -> bool:
    lock = path.with_name(f".{path.name}.recovering")
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            if time.time() - lock.stat().st_mtime > 60:  # a recoverer died within milliseconds' work
                lock.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
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
    """Mark a held claim as alive (its age is measured from its modification time)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        pass


def release_claim(path: str | Path | None) -> None:
    """Give up a claim this process holds (only if it is still ours)."""
    if path is None:
        return
    info = read_claim(path)
    if info is not None and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
        Path(path).unlink(missing_ok=True)
