#!/usr/bin/env python3
"""Build the executable book: run the notebooks in parallel, then render them strictly.

    python scripts/build_book.py [smoke|quick|paper] [--jobs N] [--cores N] [--force] [--out DIR]
                                 [--render-only]

(``make book`` calls this through ``scripts/build_book.sh``, which first makes sure ``.venv``
exists.) Steps:

1. **Execute.** Every ``notebooks/*.ipynb`` runs under papermill with ``-p profile PROFILE``
   (cwd ``notebooks/``), several at once: ``jobs`` notebooks in parallel (default: as many as
   cores), the longest first (times of the previous build, else the estimates below). Each
   notebook gets one torch thread per process and ``MTL_SWEEP_WORKERS = cores // jobs`` sweep
   worker processes, so notebooks × workers × threads ≤ cores: never more busy threads than
   cores.
2. **Reuse.** A notebook whose inputs did not change (its file, the profile, every file of
   ``mtl_lib/`` and ``pyproject.toml``) is not executed again: its executed copy from the last
   build is reused and the status page says so, with the time it really ran. ``--force``
   re-executes every notebook; their sweeps still resume from the results store
   (``$MTL_RESULTS_DIR``, default ``<out>/results``), so only missing runs train.
   ``--render-only`` executes nothing: every notebook's last executed copy is staged even if its
   inputs changed since (the status page says "reused, inputs changed"), for iterating on the
   pages, the configuration or the docstrings in seconds; a book to publish is built without it.
3. **Assemble.** The executed copies get their plumbing cells tagged
   (``scripts/tag_notebooks.py``) and the chapter's verdict table inserted under its title
   (from the JSON the notebook wrote through ``mtl_lib.experiments.build_status``); the front
   page gets the summary of every claim, and ``book/status.md`` the build status table.
4. **Render strictly.** ``jupyter-book build -n -W --keep-going``: nitpicky, so a reference to
   a name that does not exist is a warning (``book/_ext/mtl_refs.py``), and any warning fails the
   build; then ``scripts/check_links.py`` checks every internal link, anchor and image of the HTML.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import book_pages  # noqa: E402
import check_links  # noqa: E402
import tag_notebooks  # noqa: E402
from book_pages import SAVED_COLUMN, VERDICT_CELL, markdown_table, status_markdown, verdict_cell  # noqa: E402, F401

PROFILES = ("smoke", "quick", "paper")
#: Saved summaries of sweeps run at ``paper`` (see ``mtl_lib.experiments.saved_summaries``).
SAVED_DIR = ROOT / "data" / "paper_verdicts"
#: A notebook never timed by a build and without a study: ordered as if it took this long.
UNKNOWN_ESTIMATE_S = 300
SUMMARY_MARKER = "<!-- mtl-book:verdict-summary -->"
STATUS_MARKER = "<!-- mtl-book:build-status -->"


@dataclass
class NotebookRun:
    name: str
    profile: str
    key: str
    executed: bool = False  # False: reused from the notebook cache
    ok: bool = True
    wall_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of papermill + kernel (+ sweep workers): robust to a busy machine
    started: str = ""
    finished: str = ""
    threads: int = 1
    sweep_workers: int = 1
    commit: str = ""
    version: str = ""
    verdicts: dict[str, Any] | None = field(default=None)
    log: str = ""
    stale: bool = False  # reused by --render-only although its inputs changed


def log(message: str) -> None:
    print(f"[book] {message}", flush=True)


def utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def git_commit() -> str:
    """Short commit of the tree, with '+changes' when tracked or new files differ from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "mtl_lib", "notebooks", "book", "pyproject.toml"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        return commit + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def library_version() -> str:
    match = re.search(r'__version__\s*=\s*"([^"]+)"', (ROOT / "mtl_lib" / "__init__.py").read_text())
    return match.group(1) if match else "unknown"


def inputs_digest() -> str:
    """Hash of everything a notebook's result depends on besides its own file and profile."""
    digest = hashlib.sha256()
    # the library's code and its data files (the frozen settings are JSON), the committed
    # calibration records and saved paper summaries that chapters read
    folders = (ROOT / "mtl_lib", ROOT / "data" / "calibration", SAVED_DIR)
    files = sorted(
        p for folder in folders for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ) + [ROOT / "pyproject.toml"]  # fmt: skip
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def notebook_key(path: Path, profile: str, shared: str) -> str:
    digest = hashlib.sha256()
    for part in (path.read_bytes(), profile.encode(), shared.encode()):
        digest.update(part)
    return digest.hexdigest()[:16]


def plan_threads(cores: int, jobs: int) -> tuple[int, int]:
    """(torch threads per process, sweep workers per notebook), jobs × workers × threads ≤ cores.

    Spare cores go to sweep worker processes, not to torch threads: the book's models are
    small, and on this project's 2-core CPU two 1-thread workers ran a sweep 2.1× (leaf) to
    4.6× (synthetic) faster than one 2-thread process (measured for issue 15)."""
    return 1, max(1, cores // jobs)


def idle_projection(cpu_s: list[float], slots: int) -> float:
    """Wall time the notebooks would take on an idle machine with ``slots`` notebooks at once,
    scheduled longest first, if each took its CPU time (an estimate for a busy machine, where
    wall times are inflated by other work)."""
    loads = [0.0] * max(1, slots)
    for t in sorted(cpu_s, reverse=True):
        loads[loads.index(min(loads))] += t
    return max(loads)


def execute(nb: Path, run: NotebookRun, stage: Path, env: dict[str, str], out_dir: Path) -> NotebookRun:
    """Run one notebook; once it succeeded, store its executed copy in the notebook cache at
    once, so that an interrupted build keeps every notebook that finished."""
    out = stage / "notebooks" / nb.name
    logs, cache, verdicts = out_dir / "logs", out_dir / "nbcache", out_dir / "verdicts"
    logfile = logs / f"{run.name}.log"
    started = time.time()
    env = dict(env, MTL_NOTEBOOK_STARTED=f"{started:.3f}")
    cmd = [
        str(ROOT / ".venv" / "bin" / "papermill"), str(nb), str(out), "-k", "python3",
        "-p", "profile", run.profile, "--cwd", str(ROOT / "notebooks"), "--no-progress-bar",
    ]  # fmt: skip
    if not Path(cmd[0]).exists():
        cmd[0] = shutil.which("papermill") or "papermill"
    log(f"start {run.name} ({run.threads} thread(s), {run.sweep_workers} sweep worker(s))")
    with open(logfile, "w") as handle:
        proc = subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT)
        # wait4 reports the CPU time of papermill and of the processes it reaped (the kernel)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finished = time.time()
    run.cpu_s = usage.ru_utime + usage.ru_stime
    run.executed = True
    run.ok = proc.returncode == 0
    run.wall_s = finished - started
    run.started, run.finished = utc(started), utc(finished)
    run.log = str(logfile)
    log(f"{'executed' if run.ok else 'FAILED'} {run.name} in {run.wall_s:.0f} s (CPU {run.cpu_s:.0f} s)"
        + ("" if run.ok else f"; see {logfile} and the partial copy {out}"))  # fmt: skip
    vfile = verdicts / f"{run.name}.json"
    run.verdicts = json.loads(vfile.read_text()) if vfile.exists() else None
    if run.ok:
        shutil.copy2(out, cache / f"{run.name}.{run.profile}.ipynb")
        (cache / f"{run.name}.{run.profile}.json").write_text(json.dumps(asdict(run), indent=1))
    return run


def estimated_seconds() -> dict[str, float]:
    """Notebook stem → its study's build estimate (``Study.estimated_s``: CPU seconds at `quick`
    on this project's 2-core machine), used only to order a first build, longest first; later
    builds use the times they measured (<out>/timings.json)."""
    from mtl_lib.studies import registry

    return {notebook: study.estimated_s for notebook, study in registry.by_notebook().items()}


def saved_verdicts(folder: Path | None = None) -> dict[str, dict[str, str]]:
    """Claim id → its verdict in a saved ``paper`` sweep (see :func:`book_pages.saved_verdicts`)."""
    return book_pages.saved_verdicts(Path(folder or SAVED_DIR))


def assemble_notebook(
    path: Path, verdicts: dict[str, Any] | None, name: str, saved: dict[str, dict[str, str]] | None = None
) -> None:
    nb = json.loads(path.read_text())
    tag_notebooks.tag_notebook(nb, name)
    cells = [c for c in nb["cells"] if not c.get("metadata", {}).get(VERDICT_CELL)]
    # under the first Markdown cell (the title and the question)
    first_md = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"), -1)
    cells.insert(first_md + 1, verdict_cell(verdicts, name, saved))
    nb["cells"] = cells
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def toc_parts() -> dict[str, str]:
    """notebook name → the caption of its part in _toc.yml (the source document)."""
    return book_pages.toc_parts(ROOT / "_toc.yml")


def summary_markdown(runs: list[NotebookRun], saved: dict[str, dict[str, str]] | None = None) -> str:
    """The front page's table of every claim (see :func:`book_pages.summary_markdown`)."""
    return book_pages.summary_markdown(runs, saved, toc_parts())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", nargs="?", default="quick", choices=PROFILES)
    parser.add_argument("--cores", type=int, default=int(os.environ.get("MTL_BUILD_CORES", os.cpu_count() or 1)))
    parser.add_argument("--jobs", type=int, default=None, help="notebooks at once (default: cores)")
    parser.add_argument("--force", action="store_true", help="execute every notebook, even unchanged ones")
    parser.add_argument("--out", type=Path, default=ROOT / "_build", help="build folder (default _build)")
    parser.add_argument("--no-strict", action="store_true", help="render without -W (warnings do not fail)")
    parser.add_argument("--render-only", action="store_true",
                        help="execute nothing: stage every notebook's last executed copy, even if its inputs "
                             "changed (marked on the status page), and render")  # fmt: skip
    return parser.parse_args(argv)


@dataclass
class Build:
    """One build's folders and settings."""

    profile: str
    out: Path
    results: Path
    force: bool = False
    render_only: bool = False

    @property
    def stage(self) -> Path:
        return self.out / "stage"

    @property
    def cache(self) -> Path:
        return self.out / "nbcache"

    @property
    def verdicts(self) -> Path:
        return self.out / "verdicts"

    def prepare(self) -> None:
        for folder in (self.out / "logs", self.cache, self.results, self.verdicts):
            folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.stage, ignore_errors=True)
        (self.stage / "notebooks").mkdir(parents=True)


def reuse_or_plan(build: Build, notebooks: list[Path], shared: str) -> tuple[dict[str, NotebookRun], list]:
    """Every notebook's run: reused from the notebook cache when its inputs did not change (its
    executed copy staged at once), else to execute (returned as (path, run) pairs)."""
    runs: dict[str, NotebookRun] = {}
    todo: list[tuple[Path, NotebookRun]] = []
    for nb in notebooks:
        run = NotebookRun(nb.stem, build.profile, notebook_key(nb, build.profile, shared))
        runs[nb.stem] = run
        meta_file = build.cache / f"{nb.stem}.{build.profile}.json"
        cached = build.cache / f"{nb.stem}.{build.profile}.ipynb"
        meta = json.loads(meta_file.read_text()) if not build.force and meta_file.exists() and cached.exists() else {}
        stale = build.render_only and meta.get("ok") and meta.get("key") != run.key
        if meta.get("ok") and (meta.get("key") == run.key or stale):
            runs[nb.stem] = NotebookRun(**{**meta, "executed": False, "stale": bool(stale)})
            shutil.copy2(cached, build.stage / "notebooks" / nb.name)
            log(f"reuse {nb.stem} ({'inputs CHANGED' if stale else 'inputs unchanged'} since {meta['finished']})")
        else:
            todo.append((nb, run))
    return runs, todo


def notebook_env(build: Build, threads: int, workers: int) -> dict[str, str]:
    """The environment of every notebook's papermill process."""
    env = dict(os.environ)
    env.update(
        MTL_RESULTS_DIR=str(build.results), MTL_VERDICTS_DIR=str(build.verdicts),
        OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), MTL_TORCH_THREADS=str(threads),
        MTL_SWEEP_WORKERS=str(workers), PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PATH=os.pathsep.join([str(ROOT / ".venv" / "bin"), env.get("PATH", "")]),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )  # fmt: skip
    return env


def execute_all(build: Build, todo: list, jobs: int, env: dict[str, str], plan: dict[str, Any]) -> list[NotebookRun]:
    """Execute the notebooks ``jobs`` at a time (the caller sorted them longest first)."""
    for _, run in todo:
        run.threads, run.sweep_workers, run.commit, run.version = (
            plan["threads"], plan["workers"], plan["commit"], plan["version"],
        )  # fmt: skip
        (build.verdicts / f"{run.name}.json").unlink(missing_ok=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda item: execute(item[0], item[1], build.stage, env, build.out), todo))


def assemble(build: Build, runs: list[NotebookRun], summary: dict[str, Any]) -> bool:
    """Stage the book: the executed notebooks with their verdict cells, the front page's claim
    table and the status page's table. False when a page lacks its marker line."""
    for f in (ROOT / "notebooks").iterdir():
        if f.is_file() and f.suffix not in (".ipynb", ".md"):  # text notebooks reach the book as executed .ipynb
            shutil.copy2(f, build.stage / "notebooks" / f.name)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, build.stage / name)
    shutil.copytree(ROOT / "book", build.stage / "book")
    saved = saved_verdicts()
    for run in runs:
        assemble_notebook(build.stage / "notebooks" / f"{run.name}.ipynb", run.verdicts, run.name, saved)
    intro, status = build.stage / "book" / "intro.md", build.stage / "book" / "status.md"
    for page, marker in ((intro, SUMMARY_MARKER), (status, STATUS_MARKER)):
        if marker not in page.read_text():
            log(f"book/{page.name} lacks the line {marker}: the build writes its table there")
            return False
    intro.write_text(intro.read_text().replace(SUMMARY_MARKER, summary_markdown(runs, saved)))
    status.write_text(status.read_text().replace(STATUS_MARKER, status_markdown(runs, summary)))
    (build.out / "status.json").write_text(
        json.dumps({"build": summary, "notebooks": [asdict(r) for r in runs]}, indent=1)
    )
    return True


def render(build: Build, env: dict[str, str], strict: bool) -> int:
    """``jupyter-book build`` (strict: any warning fails), then the offline link check."""
    t_render = time.time()
    jb = ROOT / ".venv" / "bin" / "jupyter-book"
    # jupyter-book writes to <path-output>/_build/html: _build/html for the default out folder
    path_output = build.out.parent if build.out.name == "_build" else build.out
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(build.stage), "--path-output", str(path_output)]
    cmd.append("-n")  # nitpicky: a reference to nothing is a warning
    if strict:
        cmd += ["-W", "--keep-going"]
    rc = subprocess.run(cmd, env=env).returncode
    log(f"jupyter-book build took {time.time() - t_render:.0f} s (exit {rc})")
    if rc != 0:
        log("jupyter-book failed (warnings count as errors): fix the messages above, "
            "or pass --no-strict to look at the book anyway")  # fmt: skip
        return rc
    problems = check_links.check_site(path_output / "_build" / "html")
    for problem in problems:
        log(f"broken link: {problem}")
    return 1 if problems else 0


def record_timings(build: Build, done: list[NotebookRun], timings: dict[str, Any]) -> None:
    for run in done:
        if run.ok:  # CPU time orders the next build: a busy machine distorts wall times unevenly
            timings.setdefault(run.profile, {})[run.name] = round(run.cpu_s or run.wall_s, 1)
    (build.out / "timings.json").write_text(json.dumps(timings, indent=1, sort_keys=True))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.time()
    out = args.out.resolve()
    results = Path(os.environ.get("MTL_RESULTS_DIR") or out / "results").resolve()
    build = Build(args.profile, out, results, args.force, args.render_only)
    build.prepare()
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not notebooks:
        log("no notebooks found in notebooks/ (run scripts/sync_notebooks.py to write them from the .md files)")
        return 1
    timings_file = out / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    runs, todo = reuse_or_plan(build, notebooks, inputs_digest())
    if build.render_only and todo:
        log(f"--render-only, but no executed copy at {build.cache} for: {', '.join(r.name for _, r in todo)}; "
            f"build once without --render-only")  # fmt: skip
        return 1
    estimates = estimated_seconds()
    measured = timings.get(args.profile, {})
    todo.sort(
        key=lambda item: measured.get(item[1].name, estimates.get(item[1].name, UNKNOWN_ESTIMATE_S)), reverse=True
    )
    jobs = max(1, min(args.jobs or args.cores, len(todo) or 1))
    threads, workers = plan_threads(args.cores, jobs)
    log(f"profile={args.profile} results={build.results} cores={args.cores}: {len(todo)} notebook(s) to "
        f"execute, {jobs} at a time, {threads} thread(s) and {workers} sweep worker(s) each")  # fmt: skip
    env = notebook_env(build, threads, workers)
    plan = {"threads": threads, "workers": workers, "commit": git_commit(), "version": library_version()}
    t_exec = time.time()
    done = execute_all(build, todo, jobs, env, plan)
    execute_s = time.time() - t_exec
    if done:
        log(f"notebooks took {execute_s:.0f} s of wall time; from their CPU times an idle machine "
            f"would take about {idle_projection([r.cpu_s for r in done], jobs):.0f} s")  # fmt: skip
    record_timings(build, done, timings)
    failed = [r.name for r in runs.values() if not r.ok]
    if failed:
        log(f"FAILED notebooks: {', '.join(failed)}; logs in {out / 'logs'}")
        return 1
    ordered = sorted(runs.values(), key=lambda r: r.name)
    summary = {"profile": args.profile, "cores": args.cores, "jobs": jobs, "execute_s": execute_s,
               "finished": utc(time.time()), **plan}  # fmt: skip
    if not assemble(build, ordered, summary):
        return 1
    rc = render(build, env, strict=not args.no_strict)
    if rc:
        return rc
    log("per-notebook wall time: " + ", ".join(
        f"{r.name} {r.wall_s:.0f} s (CPU {r.cpu_s:.0f} s){'' if r.executed else ' (reused)'}"
        for r in sorted(runs.values(), key=lambda r: -r.wall_s)
    ))  # fmt: skip
    path_output = out.parent if out.name == "_build" else out
    log(f"book written to: {path_output / '_build' / 'html' / 'index.html'}")
    log(f"total wall time {time.time() - t_start:.0f} s (notebooks {execute_s:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
