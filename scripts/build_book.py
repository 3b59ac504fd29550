#!/usr/bin/env python3
"""Build the executable book: run the notebooks in parallel, then render them strictly.

    python scripts/build_book.py [smoke|quick|paper] [--jobs N] [--cores N] [--force] [--out DIR]

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
3. **Assemble.** The executed copies get their plumbing cells tagged
   (``scripts/tag_notebooks.py``) and the chapter's verdict table inserted under its title
   (from the JSON the notebook wrote through ``mtl_lib.experiments.build_status``); the front
   page gets the summary of every claim, and ``book/status.md`` the build status table.
4. **Render strictly.** ``jupyter-book build -W --keep-going`` (any warning fails the build),
   then ``scripts/check_links.py`` checks every internal link, anchor and image of the HTML.
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

import check_links  # noqa: E402
import tag_notebooks  # noqa: E402

PROFILES = ("smoke", "quick", "paper")
#: Saved summaries of sweeps run at ``paper`` (see ``mtl_lib.experiments.saved_summaries``).
SAVED_DIR = ROOT / "data" / "paper_verdicts"
SAVED_COLUMN = "at `paper` (saved sweep)"
#: Seconds of CPU per notebook at `quick` on this project's 2-core machine (the first fresh
#: quick build of 2026-12-01, scaled by the size cuts that followed), used only to order a
#: first build, longest first; later builds use the times they measured (<out>/timings.json).
#: synthetic_regression reads the runs adatask_tables trains (one store), so it goes last.
ESTIMATED_S = {
    "adatask_tables": 350,
    "leaf_combinations": 260,
    "survey_gradient_balancing": 250,
    "multidigits": 165,
    "adatask_rau": 160,
    "survey_benchmark": 150,
    "survey_loss_balancing": 55,
    "survey_pareto": 20,
    "synthetic_regression": 15,
    "calibration": 8,
}
SUMMARY_MARKER = "<!-- mtl-book:verdict-summary -->"
STATUS_MARKER = "<!-- mtl-book:build-status -->"
VERDICT_CELL = "mtl_book_verdicts"  # metadata key of the generated verdict cell


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


def markdown_table(header: list[str], rows: list[tuple[Any, ...]]) -> str:
    """A Markdown pipe table; ``|`` and newlines inside cells are escaped."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


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


def saved_verdicts(folder: Path | None = None) -> dict[str, dict[str, str]]:
    """Claim text → its verdict in a saved ``paper`` sweep, from every saved summary that lists
    claims. A chapter's claim is paired with it when the texts are the same."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(Path(folder or SAVED_DIR).glob("*.json")):
        summary = json.loads(path.read_text())
        for claim in summary.get("claims", []):
            out[claim["claim"]] = {"verdict": claim["verdict"], "file": path.name}
    return out


def _saved_cell(claim: dict[str, Any], saved: dict[str, dict[str, str]]) -> str:
    match = saved.get(claim["claim"])
    return f"**{match['verdict']}**" if match else ""


def verdict_cell(
    verdicts: dict[str, Any] | None, name: str, saved: dict[str, dict[str, str]] | None = None
) -> dict[str, Any]:
    saved = saved or {}
    if verdicts is None:
        text = (f"```{{warning}}\nThis execution of `{name}` recorded no verdicts "
                "(its `report_verdicts` call did not run).\n```")  # fmt: skip
    else:
        profile, data = verdicts["profile"], verdicts["data"]
        lines = []
        if verdicts.get("reproduces"):
            lines.append(f"**What this page reproduces.** {verdicts['reproduces']}\n")
        claims = verdicts["claims"]
        with_saved = False
        if claims:
            lines.append(f"**Verdicts** (profile `{profile}`, data: {data}; details at the end of the page):\n")
            # the paper/ours columns only where some claim fills them
            extra = [k for k in ("paper", "ours") if any(c[k] for c in claims)]
            with_saved = profile != "paper" and any(c["claim"] in saved for c in claims)
            lines.append(markdown_table(
                ["claim", "verdict", *extra, *([SAVED_COLUMN] if with_saved else [])],
                [(c["claim"], f"**{c['verdict']}**", *(c[k] for k in extra),
                  *([_saved_cell(c, saved)] if with_saved else [])) for c in claims],
            ))  # fmt: skip
        else:
            lines.append(f"This page tests no claim of the documents (profile `{profile}`, data: {data}).")
        if verdicts.get("stand_in"):
            lines.append("\n*Measured on generated **stand-in** data, not on the real data set.*")
        if profile != "paper":
            lines.append(f"\n*Profile `{profile}` is smaller than the documents' settings: "
                         "these verdicts are provisional.*")  # fmt: skip
            if with_saved:
                lines.append("*The last column is the verdict of a `paper` sweep run outside the "
                             "build and saved in `data/paper_verdicts/` (shown again, with its "
                             "provenance, at the end of the page).*")  # fmt: skip
        text = "\n".join(lines)
    return {"cell_type": "markdown", "id": "mtl-book-verdicts", "metadata": {VERDICT_CELL: True},
            "source": text}  # fmt: skip


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
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    out: dict[str, str] = {}

    def walk(entries: list[dict[str, Any]], caption: str) -> None:
        for entry in entries:
            if "file" in entry and entry["file"].startswith("notebooks/"):
                out[entry["file"].split("/", 1)[1]] = caption
            walk(entry.get("sections", []), caption)

    for part in toc.get("parts", []):
        walk(part.get("chapters", []), part.get("caption", ""))
    return out


def summary_markdown(runs: list[NotebookRun], saved: dict[str, dict[str, str]] | None = None) -> str:
    """The front page's table of every claim, grouped by source document and page, with the
    verdict of a saved ``paper`` sweep beside a claim that has one."""
    saved = saved or {}
    parts = toc_parts()
    blocks, counts, caption = [], {}, None
    paired = agreed = 0
    for run in sorted(runs, key=lambda r: list(parts).index(r.name) if r.name in parts else 99):
        if parts.get(run.name, "Other pages") != caption:
            caption = parts.get(run.name, "Other pages")
            blocks.append(f"### {caption}")
        v = run.verdicts
        if v is None:
            blocks.append(f"{{doc}}`/notebooks/{run.name}`: *no verdicts recorded by this build*")
            continue
        data = f"**stand-in**: {v['data']}" if v.get("stand_in") else v["data"]
        head = f"{{doc}}`/notebooks/{run.name}` (profile `{v['profile']}`; data: {data})"
        if not v["claims"]:
            blocks.append(head + ": tests no claim of the documents.")
            continue
        for c in v["claims"]:
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
        with_saved = v["profile"] != "paper" and any(c["claim"] in saved for c in v["claims"])
        if with_saved:
            matches = [saved[c["claim"]]["verdict"] == c["verdict"] for c in v["claims"] if c["claim"] in saved]
            paired, agreed = paired + len(matches), agreed + sum(matches)
        rows = [(c["claim"], f"**{c['verdict']}**", *([_saved_cell(c, saved)] if with_saved else []))
                for c in v["claims"]]  # fmt: skip
        header = ["claim", "verdict", *([SAVED_COLUMN] if with_saved else [])]
        blocks.append(head + "\n\n" + markdown_table(header, rows))
    total = sum(counts.values())
    intro = (f"Generated by the build from the notebooks' own verdicts: {total} claims, "
             + ", ".join(f"{n} {k.lower()}" for k, n in sorted(counts.items())) + ". "
             "A verdict at `smoke` or `quick` is provisional; {doc}`status` says when and how "
             "each page was computed.")  # fmt: skip
    if paired:
        intro += (f" {paired} of the claims also have a verdict from a `paper` sweep run outside the "
                  f"build and saved in `data/paper_verdicts/` (last column); {agreed} of those "
                  f"{paired} agree with this build's.")  # fmt: skip
    return "\n\n".join([intro, *blocks])


def status_markdown(runs: list[NotebookRun], build: dict[str, Any]) -> str:
    rows = []
    for run in runs:
        v = run.verdicts or {}
        cache = v.get("cache")
        if cache:
            show = lambda x: "?" if x is None else str(x)  # noqa: E731
            runs_cell = f"{show(cache.get('from_cache'))} / {show(cache.get('trained_now'))}"
        else:
            runs_cell = "none stored"
        rows.append((
            f"{{doc}}`{run.name.replace('_', ' ')} </notebooks/{run.name}>`",
            f"`{run.profile}`",
            f"{run.wall_s:.0f} s ({run.cpu_s:.0f} s)",
            run.finished.removesuffix(" UTC"),
            "executed" if run.executed else "reused",
            f"{run.version} @ `{run.commit}`",
            f"**stand-in** ({v.get('data', '?')})" if v.get("stand_in") else v.get("data", "?"),
            runs_cell,
        ))  # fmt: skip
    table = markdown_table(
        ["notebook", "profile", "wall (CPU)", "finished (UTC)", "this build", "mtl_lib @ commit",
         "data", "runs cached / trained"], rows,
    )  # fmt: skip
    return (
        f"Built {build['finished']} at profile `{build['profile']}` on {build['cores']} core(s): "
        f"{build['jobs']} notebook(s) at a time, {build['threads']} torch thread(s) and "
        f"{build['workers']} sweep worker(s) each; notebook execution took "
        f"{build['execute_s']:.0f} s of wall time. Library {build['version']}, commit "
        f"`{build['commit']}`.\n\n" + table
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", nargs="?", default="quick", choices=PROFILES)
    parser.add_argument("--cores", type=int, default=int(os.environ.get("MTL_BUILD_CORES", os.cpu_count() or 1)))
    parser.add_argument("--jobs", type=int, default=None, help="notebooks at once (default: cores)")
    parser.add_argument("--force", action="store_true", help="execute every notebook, even unchanged ones")
    parser.add_argument("--out", type=Path, default=ROOT / "_build", help="build folder (default _build)")
    parser.add_argument("--no-strict", action="store_true", help="render without -W (warnings do not fail)")
    args = parser.parse_args(argv)
    t_start = time.time()

    out = args.out.resolve()
    stage, logs, cache = out / "stage", out / "logs", out / "nbcache"
    results = Path(os.environ.get("MTL_RESULTS_DIR") or out / "results").resolve()
    verdicts_dir = out / "verdicts"
    for folder in (logs, cache, results, verdicts_dir):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(stage, ignore_errors=True)
    (stage / "notebooks").mkdir(parents=True)

    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not notebooks:
        log("no notebooks found in notebooks/")
        return 1
    timings_file = out / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    shared = inputs_digest()
    commit, version = git_commit(), library_version()

    runs: dict[str, NotebookRun] = {}
    todo: list[tuple[Path, NotebookRun]] = []
    for nb in notebooks:
        name = nb.stem
        run = NotebookRun(name, args.profile, notebook_key(nb, args.profile, shared))
        runs[name] = run
        meta_file = cache / f"{name}.{args.profile}.json"
        cached = cache / f"{name}.{args.profile}.ipynb"
        if not args.force and meta_file.exists() and cached.exists():
            meta = json.loads(meta_file.read_text())
            if meta.get("key") == run.key and meta.get("ok"):
                runs[name] = NotebookRun(**{**meta, "executed": False})
                shutil.copy2(cached, stage / "notebooks" / nb.name)
                log(f"reuse {name} (inputs unchanged since {meta['finished']})")
                continue
        todo.append((nb, run))

    def expected(item: tuple[Path, NotebookRun]) -> float:
        name = item[1].name
        return timings.get(args.profile, {}).get(name, ESTIMATED_S.get(name, 300))

    todo.sort(key=expected, reverse=True)  # longest first
    jobs = max(1, min(args.jobs or args.cores, len(todo) or 1))
    threads, workers = plan_threads(args.cores, jobs)
    log(f"profile={args.profile} results={results} cores={args.cores}: {len(todo)} notebook(s) to "
        f"execute, {jobs} at a time, {threads} thread(s) and {workers} sweep worker(s) each")  # fmt: skip
    env = dict(os.environ)
    env.update(
        MTL_RESULTS_DIR=str(results), MTL_VERDICTS_DIR=str(verdicts_dir),
        OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), MTL_TORCH_THREADS=str(threads),
        MTL_SWEEP_WORKERS=str(workers), PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PATH=os.pathsep.join([str(ROOT / ".venv" / "bin"), env.get("PATH", "")]),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )  # fmt: skip
    t_exec = time.time()
    for _, run in todo:
        run.threads, run.sweep_workers, run.commit, run.version = threads, workers, commit, version
        (verdicts_dir / f"{run.name}.json").unlink(missing_ok=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        done = list(pool.map(lambda item: execute(item[0], item[1], stage, env, out), todo))
    execute_s = time.time() - t_exec
    if done:
        log(f"notebooks took {execute_s:.0f} s of wall time; from their CPU times an idle machine "
            f"would take about {idle_projection([r.cpu_s for r in done], jobs):.0f} s")  # fmt: skip

    for run in done:
        if run.ok:  # CPU time orders the next build: a busy machine distorts wall times unevenly
            timings.setdefault(run.profile, {})[run.name] = round(run.cpu_s or run.wall_s, 1)
    timings_file.write_text(json.dumps(timings, indent=1, sort_keys=True))

    failed = [r.name for r in runs.values() if not r.ok]
    if failed:
        log(f"FAILED notebooks: {', '.join(failed)}; logs in {logs}")
        return 1

    # assemble the staged book
    for f in (ROOT / "notebooks").iterdir():
        if f.is_file() and f.suffix not in (".ipynb", ".md"):  # text notebooks reach the book as executed .ipynb
            shutil.copy2(f, stage / "notebooks" / f.name)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, stage / name)
    shutil.copytree(ROOT / "book", stage / "book")
    ordered = sorted(runs.values(), key=lambda r: r.name)
    saved = saved_verdicts()
    for run in ordered:
        assemble_notebook(stage / "notebooks" / f"{run.name}.ipynb", run.verdicts, run.name, saved)
    intro, status = stage / "book" / "intro.md", stage / "book" / "status.md"
    for page, marker in ((intro, SUMMARY_MARKER), (status, STATUS_MARKER)):
        if marker not in page.read_text():
            log(f"book/{page.name} lacks the line {marker}: the build writes its table there")
            return 1
    intro.write_text(intro.read_text().replace(SUMMARY_MARKER, summary_markdown(ordered, saved)))
    build = {
        "profile": args.profile, "cores": args.cores, "jobs": jobs, "threads": threads, "workers": workers,
        "execute_s": execute_s, "finished": utc(time.time()), "commit": commit, "version": version,
    }  # fmt: skip
    status.write_text(status.read_text().replace(STATUS_MARKER, status_markdown(ordered, build)))
    (out / "status.json").write_text(json.dumps({"build": build, "notebooks": [asdict(r) for r in ordered]}, indent=1))

    # render strictly, then check the links offline
    t_render = time.time()
    jb = ROOT / ".venv" / "bin" / "jupyter-book"
    # jupyter-book writes to <path-output>/_build/html: _build/html for the default out folder
    path_output = out.parent if out.name == "_build" else out
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(stage)]
    cmd += ["--path-output", str(path_output)]
    if not args.no_strict:
        cmd += ["-W", "--keep-going"]
    rc = subprocess.run(cmd, env=env).returncode
    html = path_output / "_build" / "html"
    log(f"jupyter-book build took {time.time() - t_render:.0f} s (exit {rc})")
    if rc != 0:
        log("jupyter-book failed (warnings count as errors): fix the messages above, "
            "or pass --no-strict to look at the book anyway")  # fmt: skip
        return rc
    problems = check_links.check_site(html)
    for problem in problems:
        log(f"broken link: {problem}")
    if problems:
        return 1
    log("per-notebook wall time: " + ", ".join(
        f"{r.name} {r.wall_s:.0f} s (CPU {r.cpu_s:.0f} s){'' if r.executed else ' (reused)'}"
        for r in sorted(runs.values(), key=lambda r: -r.wall_s)
    ))  # fmt: skip
    log(f"book written to: {html / 'index.html'}")
    log(f"total wall time {time.time() - t_start:.0f} s (notebooks {execute_s:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
