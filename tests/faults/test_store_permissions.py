"""Results folders this user may not write, and records this user may not read.

A read-only folder of finished runs is read, not changed: damaged records are reported and
left where they are, and a sweep that still has runs to train says so before training (before:
``PermissionError`` from creating ``_damaged/``). A record another user wrote with mode 0600 is
*unreadable*, reported with its owner, mode and the fix, never moved to ``_damaged/`` (before:
14 of 14 moved); the readable records beside it are used.

Permission bits do not bind root, so each case runs twice: with real ``chmod`` (skipped as
root) and with the file system's refusals simulated (always runs).
"""

from __future__ import annotations

import os
import pathlib
import socket
import stat
import tempfile
import warnings

import pytest

from mtl_lib.experiments import RunConfig, load_records, store, sweep

AS_ROOT = os.geteuid() == 0


def _tiny(seed: int) -> RunConfig:
    return RunConfig(
        problem="synthetic_regression", optimizer="rmsprop", epochs=1, batch_size=16, seed=seed,
        problem_kwargs={"n_train": 32, "n_test": 16, "hidden": (4,)}, device="cpu",
    )  # fmt: skip


@pytest.fixture
def finished(tmp_path):
    """A folder with three finished runs; returns (folder, configs, records)."""
    configs = [_tiny(seed) for seed in range(3)]
    return tmp_path, configs, sweep(configs, tmp_path, progress=False, workers=1)


def _refuse_writes_in(monkeypatch, folder: pathlib.Path) -> None:
    """What a read-only folder does to a process that is not root: every change refused."""

    def inside(path) -> bool:
        return (
            pathlib.Path(path).resolve().parent == folder.resolve()
            or pathlib.Path(path).resolve() == folder / "_damaged"
        )

    def refuse(name, real, path_of):
        def guarded(*args, **kwargs):
            if inside(path_of(*args, **kwargs)):
                raise PermissionError(13, "Permission denied", str(path_of(*args, **kwargs)))
            return real(*args, **kwargs)

        monkeypatch.setattr(*name, guarded)

    refuse((os, "replace"), os.replace, lambda src, dst, **kw: dst)
    refuse((os, "link"), os.link, lambda src, dst, **kw: dst)
    refuse((pathlib.Path, "mkdir"), pathlib.Path.mkdir, lambda self, *a, **kw: self)
    refuse((pathlib.Path, "unlink"), pathlib.Path.unlink, lambda self, *a, **kw: self)
    real_mkstemp = tempfile.mkstemp
    refuse((tempfile, "mkstemp"), real_mkstemp, lambda *a, dir=None, **kw: pathlib.Path(dir or ".") / "tmp")
    real_open = os.open
    refuse(
        (os, "open"),
        real_open,
        lambda path, flags, *a, **kw: path if flags & os.O_CREAT else pathlib.Path("/nowhere/x"),
    )


def _refuse_reading(monkeypatch, paths: set[pathlib.Path]) -> None:
    """What another user's mode-0600 files do to this process: reading refused."""
    real = pathlib.Path.read_bytes

    def read_bytes(self):
        if self in paths:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)


def _read_only_folder_case(folder, configs, records) -> None:
    damaged = folder / f"{configs[2].run_id()}.json"
    # the finished runs are read, and nothing is changed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sweep(configs[:2], folder, progress=False, workers=1) == records[:2]
    assert [r["run_id"] for r in load_records(folder)] == [r["run_id"] for r in records]
    damaged.write_text('{"truncated')
    with pytest.warns(UserWarning, match="damaged record"):
        assert len(load_records(folder)) == 2  # readable ones used, the damaged one reported
    with pytest.warns(UserWarning, match="cannot be moved aside"):
        with pytest.raises(PermissionError, match="is not writable, and 1 of 3 run"):
            sweep(configs, folder, progress=False, workers=1)
    assert damaged.read_text() == '{"truncated' and not (folder / "_damaged").exists()  # reported, not moved


@pytest.mark.skipif(AS_ROOT, reason="permission bits do not bind root; the simulated variant runs instead")
def test_read_only_folder_with_chmod(finished):
    folder, configs, records = finished
    (folder / f"{configs[2].run_id()}.json").write_text("{}")
    folder.chmod(0o555)
    try:
        _read_only_folder_case(folder, configs, records)
    finally:
        folder.chmod(0o755)


def test_read_only_folder_simulated(finished, monkeypatch):
    folder, configs, records = finished
    leftover = folder / f".{configs[0].run_id()}.json.elsewhere.1.x.tmp"
    leftover.write_text("{")
    os.utime(leftover, (0, 0))  # old: would be removed if it could be
    _refuse_writes_in(monkeypatch, folder)
    assert not store.writable(folder)
    _read_only_folder_case(folder, configs, records)
    assert leftover.exists()


def _unreadable_case(folder, configs, records, victim) -> None:
    with pytest.warns(UserWarning, match="unreadable record .*may not read it"):
        readable = load_records(folder)
    assert [r["run_id"] for r in readable] == [records[0]["run_id"], records[2]["run_id"]]  # readable ones used
    with pytest.raises(PermissionError, match=r"cannot be read, so nothing was trained.*first: .*chmod a\+r") as caught:
        sweep(configs, folder, progress=False, workers=1)
    assert str(victim) in str(caught.value)
    assert victim.exists() and not (folder / "_damaged").exists()  # not moved, not overwritten


@pytest.mark.skipif(AS_ROOT, reason="permission bits do not bind root; the simulated variant runs instead")
def test_other_users_private_record_with_chmod(finished):
    folder, configs, records = finished
    victim = folder / f"{configs[1].run_id()}.json"
    victim.chmod(0o600 & ~stat.S_IRUSR)  # unreadable for us as it would be for another user
    try:
        _unreadable_case(folder, configs, records, victim)
    finally:
        victim.chmod(0o644)


def test_other_users_private_record_simulated(finished, monkeypatch):
    folder, configs, records = finished
    victim = folder / f"{configs[1].run_id()}.json"
    victim.chmod(0o600)
    _refuse_reading(monkeypatch, {victim})
    check = store.inspect_record(victim)
    assert check.status == "unreadable" and "mode -rw-------" in check.reason and f"uid {os.geteuid()}" in check.reason
    _unreadable_case(folder, configs, records, victim)


def test_writable_is_tried_not_guessed(tmp_path):
    assert store.writable(tmp_path)
    assert not list(tmp_path.iterdir())  # the probe file is gone
    assert socket.gethostname()  # the probe's name carries host and pid, like every temporary file
