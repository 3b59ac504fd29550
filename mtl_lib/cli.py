"""``python -m mtl_lib``: list studies and methods, run a study's sweep (here, on local worker
processes, on Dask or on Slurm), show a results folder's status, render a notebook from
existing results.

The studies are the book's chapters as :mod:`mtl_lib.studies.registry` declares them; the
command writes records where the notebooks read them (``<results>/<study>/<profile>/``, the
layout of :func:`~mtl_lib.experiments.default_results_dir`), so a cluster sweep followed by
``make book`` (or ``render``) builds the book without retraining. ``run --save-summary`` also
writes the study's saved summary (``data/paper_verdicts/``): the one way a ``paper`` sweep is run.

Errors print one line naming the problem and the fix (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import inspect
import os
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mtl_lib.core.profiles import PROFILES
from mtl_lib.experiments import ExecutorFailed, SweepInterrupted, default_results_dir, store, sweep
from mtl_lib.experiments.executors import EXECUTORS, make_executor
from mtl_lib.studies import registry
from mtl_lib.studies.registry import Stage, Study

#: The studies whose sweeps the command line can run, by name (kept for callers of the old table).
STUDIES: dict[str, Study] = {name: s for name, s in registry.studies().items() if s.sweep is not None}

KINDS = ("weighting", "aggregator", "optimizer", "architecture", "problem")


class CliError(Exception):
    """A command-line mistake: printed as one line (no traceback) and exit status 2."""


def _study(name: str) -> Study:
    try:
        study = registry.get(name)
    except KeyError as error:
        raise CliError(str(error.args[0])) from None
    if study.sweep is None:
        runnable = ", ".join(STUDIES)
        raise CliError(
            f"study {study.name!r} has no sweep to run: its notebook computes everything it shows "
            f"(render it instead: python -m mtl_lib render {study.notebook}); studies with a sweep: {runnable}"
        )
    return study


def _results_root(value: str | None) -> Path:
    return Path(value) if value else default_results_dir()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0, got {value}")
    return value


# ----------------------------------------------------------------------------- checks before a sweep
def check_device(device: str) -> None:
    """Refuse a device this machine does not have, before anything is built."""
    if device in ("auto", "cpu"):
        return
    import torch

    kind = device.split(":", 1)[0]
    if kind != "cuda":
        raise CliError(f"--device {device!r}: use auto, cpu, cuda or cuda:<index>")
    if not torch.cuda.is_available():
        raise CliError(f"--device {device}: CUDA is not available on this machine; use --device cpu (or auto)")
    index = device.split(":", 1)[1] if ":" in device else "0"
    if not index.isdigit() or int(index) >= torch.cuda.device_count():
        raise CliError(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s), cuda:0 upwards")


def check_data_dir(study: Study, data_dir: str | None) -> str | None:
    """The data folder to pass on: refused when it does not exist, dropped (with a note) for a
    study that reads no data."""
    if data_dir is None:
        return None
    if not Path(data_dir).exists():
        raise CliError(f"--data-dir {data_dir}: no such file or folder (omit it to use the generated stand-in)")
    if not study.reads_data:
        print(f"[mtl_lib] note: study {study.name!r} reads no data set; --data-dir is ignored", file=sys.stderr)
        return None
    return data_dir


def check_executor(args: argparse.Namespace) -> None:
    """Options that belong to another executor, and submitit without Slurm, are refused."""
    if args.address and args.executor != "dask":
        raise CliError("--address is the Dask scheduler's address: add --executor dask (or drop --address)")
    if args.executor == "dask" and args.address and args.workers is not None:
        raise CliError("--workers sizes a Dask LocalCluster; with --address the scheduler's workers are used: drop one")
    if args.executor != "submitit" and (args.partition or args.gpus_per_run):
        raise CliError("--partition and --gpus-per-run are submitit options: add --executor submitit")
    if args.executor != "dask" and args.max_worker_losses is not None:
        raise CliError("--max-worker-losses bounds a Dask cluster's dead workers: add --executor dask")
    if args.executor == "submitit" and args.partition != "local" and shutil.which("sbatch") is None:
        raise CliError(
            "--executor submitit needs Slurm, and there is no sbatch on this machine; to run the jobs as "
            "subprocesses here instead, pass --partition local explicitly (or use --executor local)"
        )


# ----------------------------------------------------------------------------- sub-commands
def cmd_studies(args: argparse.Namespace) -> int:
    known = registry.studies()
    width = max(map(len, known))
    for study in known.values():
        runs = "" if study.sweep is not None else " (no sweep: notebook only)"
        print(f"{study.name:<{width}}  {study.describe}{runs}  [notebooks/{study.notebook}.md]")
    return 0


def describe_factory(factory: Any) -> tuple[str, list[str]]:
    """A registered factory's one-line description (its docstring's first sentence) and its
    options (keyword parameters with their defaults)."""
    doc = inspect.getdoc(factory) or ""
    first = " ".join(doc.split("\n\n", 1)[0].split())
    line = first.split(". ", 1)[0].rstrip(".") if first else "(no description)"
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return line, []
    options = [
        p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
        for p in parameters
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ("self", "num_tasks")
    ]
    return line, options


def _registries() -> dict[str, Any]:
    from mtl_lib.aggregators import AGGREGATORS
    from mtl_lib.architectures import ARCHITECTURES
    from mtl_lib.optim import OPTIMIZERS
    from mtl_lib.problems import PROBLEMS
    from mtl_lib.weighting import WEIGHTINGS

    return dict(zip(KINDS, (WEIGHTINGS, AGGREGATORS, OPTIMIZERS, ARCHITECTURES, PROBLEMS)))


def cmd_methods(args: argparse.Namespace) -> int:
    for kind, names in _registries().items():
        if args.kind not in (None, kind):
            continue
        print(f"{kind}s:")
        for name in names.names():
            line, options = describe_factory(names.get(name))
            print(f"  {name:<16} {line}")
            print(f"  {'':<16} options: {', '.join(options) if options else '(none)'}")
    return 0


def _make_executor(args: argparse.Namespace, folder: Path) -> Any:
    return make_executor(
        args.executor, workers=args.workers, address=args.address, partition=args.partition,
        gpus_per_run=args.gpus_per_run, folder=folder / "_submitit", max_worker_losses=args.max_worker_losses,
    )  # fmt: skip


def cmd_run(args: argparse.Namespace) -> int:
    study = _study(args.study)
    check_executor(args)
    check_device(args.device)
    data_dir = check_data_dir(study, args.data_dir)
    if args.save_summary and study.write_summary is None:
        owners = [s.name for s in registry.studies().values() if s.write_summary is not None]
        raise CliError(f"study {study.name!r} keeps no saved summary; studies that do: {', '.join(owners)}")
    root = _results_root(args.results)
    failed: list[dict[str, Any]] = []

    def run_stage(stage: Stage, folder_name: str) -> list[dict[str, Any]] | None:
        folder = stage.path(root, folder_name, args.profile)
        print(
            f"[mtl_lib] {study.name} / {stage.label} at profile {args.profile}: {len(stage.configs)} runs -> {folder}"
        )
        executor = _make_executor(args, folder)
        try:
            records = sweep(
                stage.configs, folder, executor=executor, workers=args.workers, threads=args.threads,
                retry_failed=not args.keep_failed, progress=not args.no_progress,
            )  # fmt: skip
        finally:
            if executor is not None and hasattr(executor, "shutdown"):
                executor.shutdown()
        failed.extend(r for r in records if r.get("status") == "failed")
        return None if failed else records  # a later stage needs every earlier run

    records = registry.drive(study, args.profile, run_stage, data_dir, args.device)
    total = sum(len(r) for r in records.values())
    print(f"[mtl_lib] {total} finished, {len(failed)} failed")
    for record in failed:
        error = record.get("error", {})
        print(f"  FAILED {record['run_id']}: {error.get('type')}: {error.get('message')}")
    if failed:
        return 1
    if args.save_summary:
        path = study.write_summary(args.profile, records, root, args.device)  # type: ignore[misc]
        print(f"[mtl_lib] saved summary written: {path} (and {path.with_suffix('.md').name})")
    return 0


def _count_stage(stage: Stage, folder: Path, counts: dict[str, int]) -> list[dict[str, Any]] | None:
    """Add the stage's runs to ``counts``; its records when every run finished, else None."""
    records = []
    for config in stage.configs:
        check = store.inspect_record(store.record_path(config, folder), config.identity())
        claim = store.claim_path(folder, config.run_id())
        if check.status == "finished":
            counts["done"] += 1
            records.append(check.record)
        elif check.status == "failed":
            counts["failed"] += 1
        elif claim.exists() and not store.claim_is_stale(claim):
            counts["running"] += 1
        elif check.status in ("damaged", "unreadable"):
            counts["damaged"] += 1
        else:
            counts["pending"] += 1
    return records if len(records) == len(stage.configs) else None


def study_status(study: Study, profile: str, root: Path, data_dir: str | None = None) -> dict[str, int]:
    """Counts of the study's runs at ``profile`` under ``root``: done, failed, running (a live
    claim), damaged (or unreadable), pending. A stage that depends on an unfinished earlier one is
    not counted (its runs are not known yet); ``waiting`` is 1 when counting stopped there."""
    counts = dict.fromkeys(("done", "failed", "running", "damaged", "pending", "waiting"), 0)

    def count(stage: Stage, name: str) -> list[dict[str, Any]] | None:
        records = _count_stage(stage, stage.path(root, name, profile), counts)
        counts["waiting"] = int(records is None)
        return records

    registry.drive(study, profile, count, data_dir, "auto")
    return counts


def cmd_status(args: argparse.Namespace) -> int:
    root = _results_root(args.results_dir or args.results)
    if not root.is_dir():
        raise CliError(f"no results folder at {root} (run a sweep first: python -m mtl_lib run <study>)")
    profiles = [args.profile] if args.profile else list(PROFILES)
    rows = []
    for study in STUDIES.values():
        for profile in profiles:
            first = study.first_stage(profile, None, "auto")
            folders = {root / study.name / profile, first.path(root, study.folder(first), profile)}
            if args.profile or any(f.is_dir() for f in folders):
                rows.append((study.name, profile, study_status(study, profile, root, args.data_dir)))
    if not rows:
        print(f"no study results under {root} (expected <study>/<profile>/ folders)")
        return 0
    print(f"{'study':<20} {'profile':<8} {'done':>5} {'failed':>6} {'running':>7} {'damaged':>7} {'pending':>7}")
    for name, profile, c in rows:
        later = "  (later stages, if any, are counted once these finish)" if c["waiting"] else ""
        print(
            f"{name:<20} {profile:<8} {c['done']:>5} {c['failed']:>6} {c['running']:>7} {c['damaged']:>7} "
            f"{c['pending']:>7}{later}"
        )
    return 0


def _notebook_for(name: str) -> Path:
    """The executable ``.ipynb`` of a study's notebook (written from its MyST text when needed)."""
    path = Path(name)
    if path.suffix not in ("", ".md", ".ipynb"):
        raise CliError(
            f"render takes a notebook of the book, not {name!r}: notebooks: {', '.join(registry.by_notebook())}"
        )
    try:
        study = registry.get(path.stem)
    except KeyError:
        raise CliError(
            f"{name!r} is not a notebook of the book; notebooks: {', '.join(registry.by_notebook())}"
        ) from None
    folder = path.parent if path.parent != Path(".") and path.parent.is_dir() else Path("notebooks")
    text, twin = folder / f"{study.notebook}.md", folder / f"{study.notebook}.ipynb"
    if text.exists() and (not twin.exists() or text.stat().st_mtime > twin.stat().st_mtime):
        import jupytext
        import nbformat

        nbformat.write(jupytext.read(text, fmt="md:myst"), twin)
    if not twin.exists():
        raise CliError(f"no notebook at {text} (run from the repository root)")
    return twin


def cmd_render(args: argparse.Namespace) -> int:
    try:
        import papermill
    except ImportError:
        raise CliError("render needs papermill: pip install -e '.[book]'") from None
    notebook = _notebook_for(args.notebook)
    output = Path(args.output) if args.output else Path("_build", "stage", "notebooks", notebook.name)
    output.parent.mkdir(parents=True, exist_ok=True)
    if args.results:
        os.environ["MTL_RESULTS_DIR"] = str(Path(args.results).resolve())
    papermill.execute_notebook(
        str(notebook), str(output), parameters={"profile": args.profile}, cwd=str(notebook.parent),
        progress_bar=False,
    )  # fmt: skip
    print(f"[mtl_lib] rendered {notebook} at profile {args.profile} -> {output}")
    return 0


# ----------------------------------------------------------------------------- parser
def _add_run(sub: Any) -> None:
    p = sub.add_parser("run", help="run (or resume) a study's sweep at a profile")
    p.add_argument("study", help="a study name (see: studies)")
    p.add_argument("--profile", choices=list(PROFILES), default="quick")
    p.add_argument("--executor", choices=list(EXECUTORS), default="local",
                   help="local worker processes (default), a Dask cluster, or submitit (Slurm)")  # fmt: skip
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="local: worker processes (default: $MTL_SWEEP_WORKERS, else cores); dask: LocalCluster size")  # fmt: skip
    p.add_argument("--threads", type=_positive_int, default=1, help="torch CPU threads per run (default 1)")
    p.add_argument("--address", help="dask: scheduler address (tcp://host:8786); none starts a LocalCluster")
    p.add_argument("--partition", help="submitit: Slurm partition ('local' runs the jobs on this machine)")
    p.add_argument("--max-worker-losses", type=_non_negative_int, default=None,
                   help="dask: dead workers tolerated before the sweep stops with the reason (default 6)")  # fmt: skip
    p.add_argument("--gpus-per-run", type=_non_negative_int, default=0, help="submitit: GPUs per Slurm job")
    p.add_argument("--results", help="results root (default $MTL_RESULTS_DIR, else _build/results)")
    p.add_argument("--data-dir", help="real data folder for studies that take one (default: stand-in)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (auto: one GPU per worker if several)")
    p.add_argument("--keep-failed", action="store_true", help="do not retry runs that failed before")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--save-summary", action="store_true",
                   help="then write the study's saved summary (data/paper_verdicts/<key>.<profile>.json)")  # fmt: skip
    p.set_defaults(func=cmd_run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mtl_lib",
        description="Run the book's studies and inspect their results.",
        epilog="Records go to <results>/<study>/<profile>/ (results: --results, else "
        "$MTL_RESULTS_DIR, else _build/results), where the notebooks read them.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("studies", help="list the book's studies (and which have a sweep to run)")
    p.set_defaults(func=cmd_studies)

    p = sub.add_parser("methods", help="list registered methods with a description and their options")
    p.add_argument("--kind", choices=list(KINDS))
    p.set_defaults(func=cmd_methods)

    _add_run(sub)

    p = sub.add_parser("status", help="done / failed / running / pending runs per study in a results folder")
    p.add_argument("results_dir", nargs="?", metavar="DIR", help="a results root (default: the one run uses)")
    p.add_argument("--results", help="the same as DIR")
    p.add_argument("--profile", choices=list(PROFILES), help="only this profile (default: those present)")
    p.add_argument("--data-dir", help="the data folder the runs used, if not the stand-in")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("render", help="execute one notebook with papermill, reusing existing results")
    p.add_argument("notebook", help="a notebook's name, or its path (notebooks/<name>.md or .ipynb)")
    p.add_argument("--profile", choices=list(PROFILES), default="quick")
    p.add_argument("--results", help="results root (default $MTL_RESULTS_DIR, else _build/results)")
    p.add_argument("--output", help="executed copy (default _build/stage/notebooks/<name>.ipynb)")
    p.set_defaults(func=cmd_render)
    return parser


def rerun_command(argv: Sequence[str]) -> str:
    """The command line that was run, as a shell would take it back (to resume a sweep)."""
    return shlex.join(["python", "-m", "mtl_lib", *argv])


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _sigterm_interrupts(signum: int, frame: Any) -> None:
    """SIGTERM outside a sweep stops the command as Ctrl-C does (a sweep handles it itself)."""
    raise KeyboardInterrupt("SIGTERM")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit status 0, 1 (runs failed, or the executor broke), 2 (an error
    before or outside training), 130 (stopped by Ctrl-C or SIGTERM: rerun to resume)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, not only before the command
    args = build_parser().parse_args([a for a in argv if a != "--debug"])
    args.debug = debug
    where = f"python -m mtl_lib {args.command}"
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _sigterm_interrupts) if main_thread else None
    try:
        return int(args.func(args) or 0)
    except SweepInterrupted as stop:  # its line says how many records are saved, and where
        print(f"{where}: {_one_line(stop)}: {rerun_command(argv)}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # outside a sweep: nothing was being trained
        resume = f"; rerun to resume: {rerun_command(argv)}" if args.command == "run" else ""
        print(f"{where}: interrupted (finished runs are saved{resume})", file=sys.stderr)
        return 130
    except ExecutorFailed as error:  # the cluster broke, not the command line: what and how to go on
        if args.debug:
            raise
        print(
            f"{where}: error: {_one_line(error)}: {rerun_command(argv)} (--debug shows the traceback)", file=sys.stderr
        )
        return 1
    except Exception as error:  # one line for the user; --debug shows where
        if args.debug:
            raise
        kind = "" if isinstance(error, CliError) else f"{type(error).__name__}: "
        print(f"{where}: error: {kind}{_one_line(error)} (--debug shows the traceback)", file=sys.stderr)
        return 2
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


if __name__ == "__main__":
    sys.exit(main())
