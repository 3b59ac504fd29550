"""The command line: listings, a smoke sweep, status of a results folder, and every refused input
(issue 25): one line naming the problem and the fix, no traceback unless ``--debug``."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtl_lib import cli
from mtl_lib.experiments import store
from mtl_lib.studies import registry

ROOT = Path(__file__).resolve().parents[1]


def _error(capsys, argv: list[str]) -> str:
    """Run the command, expect exit 2 and return its one stderr line (no traceback)."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_lists_studies_and_methods(capsys):
    assert cli.main(["studies"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in registry.studies()) and "multidigits" in out
    assert cli.main(["methods", "--kind", "aggregator"]) == 0
    lines = capsys.readouterr().out.splitlines()
    pcgrad = next(i for i, line in enumerate(lines) if line.split()[:1] == ["pcgrad"])
    assert len(lines[pcgrad].split()) > 2, "each name has a one-line description"
    assert lines[pcgrad + 1].strip().startswith("options:")
    cagrad = next(i for i, line in enumerate(lines) if line.split()[:1] == ["cagrad"])
    assert "c=" in lines[cagrad + 1]


def test_every_chapter_with_a_sweep_runs_from_the_command_line():
    assert {"multidigits", "adatask_rau", "adatask_synthetic", "adatask_tables", "leaf_combinations",
            "survey_benchmark", "calibration"} <= set(cli.STUDIES)  # fmt: skip


def test_run_then_status(tmp_path, capsys):
    assert cli.main(["run", "adatask_synthetic", "--profile", "smoke", "--results", str(tmp_path),
                     "--workers", "1", "--no-progress"]) == 0  # fmt: skip
    folder = tmp_path / "adatask_synthetic" / "smoke"
    records = sorted(folder.glob("*.json"))
    assert len(records) == len(cli.STUDIES["adatask_synthetic"].first_stage("smoke", None, "auto").configs)
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
    assert line.split()[1:7] == ["smoke", str(len(records) - 4), "1", "1", "1", "1"]


def test_status_defaults_to_the_folder_run_uses(tmp_path, capsys, monkeypatch):
    """Before: ``status`` needed DIR although ``run`` defaults it. After: the same default."""
    monkeypatch.setenv("MTL_RESULTS_DIR", str(tmp_path))
    (tmp_path / "survey_benchmark" / "smoke").mkdir(parents=True)
    assert cli.main(["status"]) == 0
    assert "survey_benchmark" in capsys.readouterr().out


def test_status_of_a_multi_stage_sweep_counts_its_first_stage(tmp_path, capsys):
    (tmp_path / "multidigits" / "smoke").mkdir(parents=True)
    assert cli.main(["status", str(tmp_path), "--profile", "smoke"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("multidigits"))
    grid = len(registry.get("multidigits").first_stage("smoke").configs)
    assert line.split()[2:7] == ["0", "0", "0", "0", str(grid)] and "later stages" in line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "nope"], "unknown study 'nope'"),
        (["run", "multidigit"], "did you mean 'multidigits'"),
        (["run", "survey_pareto"], "has no sweep to run"),
        (["run", "adatask_synthetic", "--executor", "dask", "--address", "tcp://x:1", "--workers", "2"],
         "--workers sizes a Dask LocalCluster"),
        (["run", "adatask_synthetic", "--address", "tcp://x:1"], "add --executor dask"),
        (["run", "adatask_synthetic", "--partition", "gpu"], "add --executor submitit"),
        (["run", "adatask_synthetic", "--data-dir", "/nonexistent/leaves"], "no such file or folder"),
        (["run", "multidigits", "--save-summary", "--device", "cpu", "--data-dir", "/nonexistent"], "no such file"),
        (["run", "survey_benchmark", "--save-summary"], "keeps no saved summary"),
        (["run", "adatask_synthetic", "--device", "tpu"], "use auto, cpu, cuda"),
        (["render", "README.md"], "not a notebook of the book"),
        (["render", "absent.ipynb"], "not a notebook of the book"),
        (["render", "data.csv"], "render takes a notebook"),
    ],
)  # fmt: skip
def test_refused_input_is_one_line(capsys, tmp_path, argv, expected):
    assert expected in _error(capsys, [*argv, "--results", str(tmp_path)] if argv[0] == "run" else argv)


def test_cuda_on_a_machine_without_it_is_one_line(capsys, monkeypatch, tmp_path):
    """Before: an 8-frame traceback before the message. After: one line, nothing trained."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = _error(capsys, ["run", "adatask_synthetic", "--device", "cuda", "--results", str(tmp_path)])
    assert "CUDA is not available" in err and "--device cpu" in err
    assert not any(tmp_path.iterdir())


def test_submitit_without_slurm_is_refused_unless_local_is_explicit(capsys, monkeypatch, tmp_path):
    """Before: silently ran local subprocesses. After: refused, naming --partition local."""
    monkeypatch.setattr(cli.shutil, "which", lambda name: None)
    err = _error(capsys, ["run", "adatask_synthetic", "--executor", "submitit", "--results", str(tmp_path)])
    assert "needs Slurm" in err and "--partition local" in err


def test_data_dir_on_a_study_that_reads_none_is_said_to_be_ignored(capsys, tmp_path):
    study = registry.get("adatask_synthetic")
    assert cli.check_data_dir(study, str(tmp_path)) is None
    assert "reads no data set; --data-dir is ignored" in capsys.readouterr().err
    assert cli.check_data_dir(registry.get("leaf_combinations"), str(tmp_path)) == str(tmp_path)


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_workers_below_one_are_refused_before_anything_runs(capsys, workers, tmp_path):
    """Before: ``--workers -1`` hung and ``--executor dask --workers 0`` ran on another size."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "adatask_synthetic", "--executor", "dask", "--workers", workers, "--results", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "argument --workers" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(capsys, monkeypatch):
    def broken(args):
        raise RuntimeError("the sweep broke\nsecond line")

    monkeypatch.setattr(cli, "cmd_studies", broken)
    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), broken))
    err = _error(capsys, ["studies"])
    assert err.endswith("RuntimeError: the sweep broke (--debug shows the traceback)")
    with pytest.raises(RuntimeError):
        cli.main(["--debug", "studies"])
    with pytest.raises(RuntimeError):
        cli.main(["studies", "--debug"])


def _with_func(parser, func):
    parser._subparsers._group_actions[0].choices["studies"].set_defaults(func=func)
    return parser


def test_the_command_prints_no_traceback_in_a_real_process(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "mtl_lib", "render", "README.md"], capture_output=True,
                            text=True, env=env, cwd=ROOT, timeout=120)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("python -m mtl_lib render: error:")


# ----------------------------------------------------------------------------- a stopped or broken sweep
STUDY_ARGS = ["run", "adatask_synthetic", "--profile", "smoke", "--no-progress"]


#: ``python -m mtl_lib`` with Ctrl-C handled as in a terminal's foreground job: a test run started
#: in the background (``make test &``) hands its children SIGINT *ignored*, and the CLI rightly keeps
#: an inherited ignore, so without this the Ctrl-C cases would test nothing (found by a fresh-clone run).
AS_A_TERMINAL_JOB = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'mtl_lib'; runpy.run_module('mtl_lib', run_name='__main__', alter_sys=True)"
)


def _cli(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, Path, list[str]]:
    """``python -m mtl_lib run`` of a 14-run smoke sweep in its own session (a terminal's job)."""
    argv = [*STUDY_ARGS, "--results", str(tmp_path), *extra]
    # Dask's own worker logging prints tracebacks of its heartbeats to stderr when a worker dies;
    # silenced so that "no Traceback" checks what this CLI prints.
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               DASK_LOGGING__DISTRIBUTED="critical")  # fmt: skip
    process = subprocess.Popen([sys.executable, "-c", AS_A_TERMINAL_JOB, *argv], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    return process, tmp_path / "adatask_synthetic" / "smoke", argv


def _wait_for(process: subprocess.Popen, folder: Path, pattern: str) -> None:
    deadline = time.monotonic() + 180
    while not list(folder.glob(pattern)):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)


@pytest.mark.parametrize(("how", "workers"), [("Ctrl-C", "1"), ("Ctrl-C", "2"), ("SIGTERM", "1")])
def test_a_stopped_sweep_says_what_is_saved_and_the_command_that_resumes(tmp_path, how, workers):
    """Before: a generic "interrupted" line (and "leaked semaphore objects" from the workers).
    After: the sweep's own line with the real N of M, and the exact command; exit 130."""
    process, folder, argv = _cli(tmp_path, "--workers", workers)
    _wait_for(process, folder, "*.json")  # training, one run saved
    if how == "Ctrl-C":
        os.killpg(process.pid, signal.SIGINT)  # a terminal sends it to the whole process group
    else:
        os.kill(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    total = len(registry.get("adatask_synthetic").first_stage("smoke").configs)
    saved = len(list(folder.glob("*.json")))
    assert process.returncode == 130, err
    assert err.strip() == (
        f"python -m mtl_lib run: sweep stopped by {how}: {saved} of {total} records saved in {folder}; "
        f"rerun to resume: {cli.rerun_command(argv)}"
    ), err
    assert 1 <= saved < total and not list(folder.glob("*.claim"))
    if how == "Ctrl-C" and workers == "1":  # the printed command resumes: the saved runs are kept, the rest trained
        python, *command = shlex.split(err.strip().rsplit("rerun to resume: ", 1)[1])
        assert python == "python"
        rerun = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=300,
                               env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"))  # fmt: skip
        assert rerun.returncode == 0, rerun.stderr
        assert f"{total} finished, 0 failed" in rerun.stdout


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                    reason="Dask distributed is not installed: pip install -e '.[cluster]'")  # fmt: skip
def test_a_dask_cluster_that_loses_its_workers_is_one_line_naming_the_fix(tmp_path):
    """Before: a Dask LocalCluster whose workers keep dying hung the sweep past 300 s. After:
    past ``--max-worker-losses`` deaths, one line (the reason, where to look, what is saved, the
    command to rerun), no traceback, exit 1."""
    process, folder, argv = _cli(tmp_path, "--executor", "dask", "--workers", "1", "--max-worker-losses", "0")
    _wait_for(process, folder, "*.claim")  # the runs are on the cluster
    for pid in _children(process.pid):  # the LocalCluster's worker process (not multiprocessing's tracker)
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    _, err = process.communicate(timeout=120)
    took = time.monotonic() - killed
    print(f"dying Dask worker: the command stopped {took:.1f} s later")
    ours = [line for line in err.splitlines() if line.startswith("python -m mtl_lib")]
    assert process.returncode == 1 and "Traceback" not in err, err
    assert len(ours) == 1 and took < 60, err
    assert re.fullmatch(
        r"python -m mtl_lib run: error: the Dask cluster lost 1 worker\(s\) \(more than max_worker_losses=0\); "
        r"see the workers' logs: .*; \d+ of \d+ records saved in .*; rerun to resume: "
        + re.escape(cli.rerun_command(argv)) + r" \(--debug shows the traceback\)",
        ours[0],
    ), ours[0]  # fmt: skip
    assert not list(folder.glob("*.claim"))


def test_max_worker_losses_belongs_to_dask(capsys, tmp_path):
    err = _error(capsys, ["run", "adatask_synthetic", "--max-worker-losses", "2", "--results", str(tmp_path)])
    assert "add --executor dask" in err


def test_render_writes_under_build_not_into_the_working_tree(tmp_path, monkeypatch, capsys):
    """Issue 25: papermill's output landed untracked in the repository root. ``render`` writes its
    executed copy under ``_build/stage/notebooks/`` (git-ignored) unless ``--output`` says otherwise."""
    papermill = pytest.importorskip("papermill")
    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda source, output, **kw: calls.append((source, output)))
    shutil.copy(ROOT / "notebooks" / "survey_pareto.md", tmp_path / "survey_pareto.md")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["render", str(tmp_path / "survey_pareto.md")]) == 0
    ((source, output),) = calls
    assert Path(output) == Path("_build", "stage", "notebooks", "survey_pareto.ipynb")
    assert Path(source) == tmp_path / "survey_pareto.ipynb"  # the twin, next to its text notebook
    assert "rendered" in capsys.readouterr().out


def test_sigterm_outside_a_sweep_is_the_interrupted_line_not_a_silent_death(capsys, monkeypatch):
    """Before: a SIGTERM before the sweep had started (building configs, starting a cluster)
    killed the command with no word (exit -15). After: the stop line and exit 130; the
    handler the caller had is back afterwards."""

    def unhandled(signum, frame):  # what the old command did (die) would end pytest: fail instead
        raise RuntimeError("SIGTERM reached the caller's handler")

    before = signal.signal(signal.SIGTERM, unhandled)

    def terminated(args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal lands here
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(cli, "cmd_run", terminated)
    try:
        status = cli.main(["run", "adatask_synthetic", "--profile", "smoke"])
        after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, before)
    err = capsys.readouterr().err.strip()
    assert status == 130, err
    assert err == (
        "python -m mtl_lib run: interrupted (finished runs are saved; rerun to resume: "
        "python -m mtl_lib run adatask_synthetic --profile smoke)"
    )
    assert after is unhandled  # the caller's handler is back
