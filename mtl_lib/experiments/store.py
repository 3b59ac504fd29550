"""Results records on disk: one JSON file per run, written atomically, read defensively.

A results folder holds, per run, ``<run_id>.json`` (its record), while some process trains it
``<run_id>.claim`` (see :mod:`mtl_lib.experiments.claims`), and while its training is under way
``<run_id>.ckpt`` (its last end-of-epoch checkpoint, removed once the record is written). None
of the things that go wrong with such a folder may stop a sweep or lose a finished record:

* a record is damaged (truncated, empty, not a JSON object, another config, or valid JSON that
  fails the record schema of :mod:`mtl_lib.experiments.schema`): :func:`inspect_record` says
  why, :func:`set_aside` moves it to ``<results>/_damaged/<name>.<UTC timestamp>`` (never
  deleted) and the run is redone;
* a record cannot be read (another user's file of mode 0600): it is *unreadable*, reported with
  its owner and mode, and neither moved nor overwritten;
* the folder is read-only: what can be read is used, damaged records are reported and left
  where they are, and a sweep with runs left to train says so before training anything;
* a write was killed half-way: the temporary file it left (``.<name>.<host>.<pid>.*.tmp``)
  is removed once its writer is dead or it is old.

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
import stat
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

# claims and temporary files live in their own module; their names stay importable from here
from mtl_lib.experiments.claims import (
    CLAIM_SUFFIX,
    STALE_CLAIM_S,
    TEMP_MAX_AGE_S,
    claim_is_stale,
    claim_path,
    clean_temporary_files,
    read_claim,
    refresh_claim,
    release_claim,
    try_claim,
)
from mtl_lib.experiments.schema import record_problem

if TYPE_CHECKING:
    from mtl_lib.experiments.config import RunConfig

NONFINITE_KEY = "_nonfinite"
DAMAGED_FOLDER = "_damaged"
CHECKPOINT_SUFFIX = ".ckpt"


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


# --------------------------------------------------------------------------- checking records
@dataclass(frozen=True)
class RecordCheck:
    """What is in a record file: ``status`` is ``missing``, ``finished``, ``failed``,
    ``damaged`` or ``unreadable`` (then ``reason`` says why)."""

    status: str
    record: dict[str, Any] | None = None
    reason: str = ""


def inspect_record(path: str | Path, identity: dict[str, Any] | None = None) -> RecordCheck:
    """Read ``path`` and classify it without raising.

    *Unreadable*: this process may not read it (permissions). *Damaged*: empty, not valid JSON
    (e.g. truncated), a config other than ``identity``, or failing the record schema
    (:func:`~mtl_lib.experiments.schema.record_problem`: types, required fields, finite
    metrics). Records written before statuses existed count as finished."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return RecordCheck("missing")
    except PermissionError as error:
        return RecordCheck("unreadable", reason=_permission_reason(path, error))
    except OSError as error:
        return RecordCheck("damaged", reason=f"unreadable ({type(error).__name__}: {error})")
    try:
        text = raw.decode()
    except UnicodeDecodeError as error:
        return RecordCheck("damaged", reason=f"not valid JSON (not text: {error})")
    if not text.strip():
        return RecordCheck("damaged", reason="empty file")
    try:
        record = from_json_safe(json.loads(text))
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as error:
        return RecordCheck("damaged", reason=f"not valid JSON (truncated?): {error}")
    if isinstance(record, dict) and isinstance(record.get("config"), dict):
        if identity is not None and record["config"] != identity:
            return RecordCheck("damaged", reason="it holds a different config than the run it is named after")
    problem = record_problem(record)
    if problem:
        return RecordCheck("damaged", reason=problem)
    return RecordCheck(record.get("status", "finished"), record)


def _permission_reason(path: Path, error: OSError) -> str:
    try:
        info = path.stat()
        owner = f"owned by uid {info.st_uid}, mode {stat.filemode(info.st_mode)}"
    except OSError:
        owner = "owner unknown"
    return (
        f"this user (uid {os.geteuid()}) may not read it ({owner}): ask its owner to run "
        f"'chmod a+r {path}', or use a results folder of your own"
    )


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


# --------------------------------------------------------------------------- a run's files
def record_path(config: RunConfig, results_dir: str | Path) -> Path:
    return Path(results_dir) / f"{config.run_id()}.json"


def checkpoint_path(config: RunConfig, results_dir: str | Path) -> Path:
    """Where a run's end-of-epoch checkpoint lives while it trains (beside its record)."""
    return Path(results_dir) / f"{config.run_id()}{CHECKPOINT_SUFFIX}"


def error_line(record: dict[str, Any] | None) -> str:
    """A failed record's error as one line: ``Type: message``."""
    error = (record or {}).get("error") or {}
    return f"{error.get('type', '?')}: {error.get('message', '')}".strip()


def load_finished(config: RunConfig, results_dir: str | Path) -> dict[str, Any] | None:
    """The saved record of ``config`` if that run finished; ``None`` if it has not run, failed
    (warned, with its error), or its record is damaged or unreadable (warned, with the path and
    why)."""
    path = record_path(config, results_dir)
    check = inspect_record(path, config.identity())
    if check.status == "damaged":
        warnings.warn(
            f"damaged record {path}: {check.reason}; the sweep will set it aside and re-run it",
            stacklevel=2,
        )
    elif check.status == "unreadable":
        warnings.warn(f"unreadable record {path}: {check.reason}", stacklevel=2)
    elif check.status == "failed":
        warnings.warn(f"run {config.run_id()} failed: {error_line(check.record)}", stacklevel=2)
    return check.record if check.status == "finished" else None


def load_records(results_dir: str | Path, *, include_failed: bool = False) -> list[dict[str, Any]]:
    """Every finished record in ``results_dir`` (for tables made from existing results).

    Failed runs are left out with a warning naming them (``include_failed=True`` keeps them);
    damaged and unreadable files are warned about by path and left where they are (a sweep sets
    damaged ones aside)."""
    records, failed = [], []
    for path in sorted(Path(results_dir).glob("*.json")):
        check = inspect_record(path)
        if check.status in ("damaged", "unreadable"):
            warnings.warn(f"{check.status} record {path}: {check.reason}", stacklevel=2)
        elif check.status == "finished":
            records.append(check.record)
        elif check.status == "failed":
            failed.append(check.record)
    if failed and not include_failed:
        ids = ", ".join(str(r.get("run_id", "?")) for r in failed)
        warnings.warn(f"{len(failed)} failed run(s) in {results_dir} left out: {ids}", stacklevel=2)
    return records + (failed if include_failed else [])


def settle_existing(config: RunConfig, results_dir: Path, retry_failed: bool, quiet: bool = False) -> RecordCheck:
    """What a sweep does with ``config``'s record: ``finished`` (or ``failed`` with
    ``retry_failed=False``) is reused, ``unreadable`` is reported and left alone, anything else
    (re-)runs (``missing``). A damaged record is moved aside (warned, with its old and new
    paths); when the folder forbids that, it is reported and left in place."""
    path = record_path(config, results_dir)
    check = inspect_record(path, config.identity())
    if check.status == "failed" and retry_failed:
        if not quiet:
            warnings.warn(f"retrying failed run {config.run_id()} ({error_line(check.record)})", stacklevel=3)
        return RecordCheck("missing")
    if check.status != "damaged":
        return check
    try:
        moved = set_aside(path)
    except FileNotFoundError:  # another sweep moved it first
        return RecordCheck("missing")
    except PermissionError as error:
        warnings.warn(
            f"damaged record {path} ({check.reason}) cannot be moved aside ({error}); left in place",
            stacklevel=3,
        )
        return RecordCheck("missing", reason="damaged, left in place")
    warnings.warn(f"damaged record {path} ({check.reason}) moved to {moved}; its run will be redone", stacklevel=3)
    return RecordCheck("missing")


def writable(folder: Path) -> bool:
    """Whether this process can create files in ``folder`` (tried, not guessed from the mode
    bits, which say nothing on read-only mounts or for root)."""
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".write-test.{socket.gethostname()}.{os.getpid()}.", suffix=".tmp", dir=folder
        )
    except OSError:
        return False
    os.close(fd)
    Path(name).unlink(missing_ok=True)
    return True


__all__ = [
    "CLAIM_SUFFIX",
    "STALE_CLAIM_S",
    "TEMP_MAX_AGE_S",
    "RecordCheck",
    "checkpoint_path",
    "claim_is_stale",
    "claim_path",
    "clean_temporary_files",
    "default_results_dir",
    "error_line",
    "from_json_safe",
    "inspect_record",
    "load_finished",
    "load_records",
    "read_claim",
    "read_json",
    "record_path",
    "refresh_claim",
    "release_claim",
    "set_aside",
    "settle_existing",
    "to_json_safe",
    "try_claim",
    "writable",
    "write_json_atomic",
]
