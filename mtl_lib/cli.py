"""``python -m mtl_lib``: list studies and methods, run a study's sweep (here, on local worker
processes, on Dask or on Slurm), show a results folder's status, render a notebook from
existing results.

The command writes records where the notebooks read them (``<results>/<study>/<profile>/``,
the layout of :func:`~mtl_lib.experiments.default_results_dir`), so a cluster sweep followed by
``make book`` (or ``render``) builds the book without retraining.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtl_lib.core.profiles import PROFILES
from mtl_lib.experiments import RunConfig, default_results_dir, store, sweep
from mtl_lib.experiments.executors import EXECUTORS, make_executor
from mtl_lib.experiments.runner import record_path


@dataclass(frozen=True)
class Study:
    """A study's sweep as the command line knows it: where its notebook keeps results (the
    folder name under the results root) and how to get its configs for a profile."""

    name: str
    notebook: str
    describe: str
    configs: Callable[[str, str | None, str], list[RunConfig]]


def _call(module: str, function: str, **kwargs: Any) -> list[RunConfig]:
    study = importlib.import_module(f"mtl_lib.studies.{module}")
    if not hasattr(study, function):
        raise RuntimeError(f"mtl_lib.studies.{module} has no {function}(); update mtl_lib/cli.py's STUDIES")
    return getattr(study, function)(**kwargs)


#: The studies whose sweeps the command line can run, by their results folder's name.
STUDIES: dict[str, Study] = {
    s.name: s
    for s in [
        Study(
            "adatask_synthetic", "synthetic_regression.ipynb",
            "AdaTask's synthetic regression, Tables 2 and 5 (read by this notebook and adatask_tables)",
            lambda p, d, dev: _call("adatask_tables", "synthetic_configs", profile=p, device=dev),
        ),
        Study(
            "adatask_tables", "adatask_tables.ipynb", "AdaTask Table 1 and Fig. 3: CityScapes",
            lambda p, d, dev: _call("adatask_tables", "cityscapes_configs", profile=p, data_dir=d, device=dev),
        ),
        Study(
            "adatask_rau", "adatask_rau.ipynb", "AdaTask Fig. 2: rAU buckets (the notebook adds its probe runs)",
            lambda p, d, dev: _call("adatask_rau", "bucket_configs", profile=p, device=dev),
        ),
        Study(
            "leaf_combinations", "leaf_combinations.ipynb", "Leaf study: PCGrad x Modulation x LaSS, approaches A-H",
            lambda p, d, dev: _call("leaf_combinations", "configs", profile=p, data_dir=d, device=dev),
        ),
        Study(
            "survey_benchmark", "survey_benchmark.ipynb", "Survey benchmark: every method on synthetic + leaf",
            lambda p, d, dev: _call("survey_benchmark", "configs", profile=p, device=dev, data_dir=d),
        ),
    ]
}  # fmt: skip


def _study(name: str) -> Study:
    if name not in STUDIES:
        raise SystemExit(f"unknown study {name!r}; studies: {', '.join(STUDIES)} (python -m mtl_lib studies)")
    return STUDIES[name]


def _results_root(value: str | None) -> Path:
    return Path(value) if value else default_results_dir()


# ----------------------------------------------------------------------------- sub-commands
def cmd_studies(args: argparse.Namespace) -> int:
    width = max(map(len, STUDIES))
    for study in STUDIES.values():
        print(f"{study.name:<{width}}  {study.describe}  [notebooks/{study.notebook}]")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from mtl_lib.aggregators import AGGREGATORS
    from mtl_lib.architectures import ARCHITECTURES
    from mtl_lib.optim import OPTIMIZERS
    from mtl_lib.problems import PROBLEMS
    from mtl_lib.weighting import WEIGHTINGS

    kinds = {
        "weighting": WEIGHTINGS, "aggregator": AGGREGATORS, "optimizer": OPTIMIZERS,
        "architecture": ARCHITECTURES, "problem": PROBLEMS,
    }  # fmt: skip
    for kind, registry in kinds.items():
        if args.kind in (None, kind):
            print(f"{kind}: {', '.join(registry.names())}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    study = _study(args.study)
    configs = study.configs(args.profile, args.data_dir, args.device)
    results = _results_root(args.results) / study.name / args.profile
    executor = make_executor(
        args.executor, workers=args.workers, address=args.address, partition=args.partition,
        gpus_per_run=args.gpus_per_run, folder=results / "_submitit",
    )  # fmt: skip
    print(f"[mtl_lib] {study.name} at profile {args.profile}: {len(configs)} runs -> {results}")
    try:
        records = sweep(
            configs, results, executor=executor, workers=args.workers, threads=args.threads,
            retry_failed=not args.keep_failed, progress=not args.no_progress,
        )  # fmt: skip
    finally:
        if executor is not None and hasattr(executor, "shutdown"):
            executor.shutdown()
    failed = [r for r in records if r.get("status") == "failed"]
    print(f"[mtl_lib] {len(records) - len(failed)} finished, {len(failed)} failed")
    for record in failed:
        error = record.get("error", {})
        print(f"  FAILED {record['run_id']}: {error.get('type')}: {error.get('message')}")
    return 1 if failed else 0


def study_status(study: Study, profile: str, root: Path, data_dir: str | None = None) -> dict[str, int]:
    """Counts of the study's runs at ``profile`` under ``root``: done, failed, running (a live
    claim), damaged, pending."""
    folder = root / study.name / profile
    counts = dict.fromkeys(("done", "failed", "running", "damaged", "pending"), 0)
    for config in study.configs(profile, data_dir, "auto"):
        check = store.inspect_record(record_path(config, folder), config.identity())
        claim = store.claim_path(folder, config.run_id())
        if check.status == "finished":
            counts["done"] += 1
        elif check.status == "failed":
            counts["failed"] += 1
        elif claim.exists() and not store.claim_is_stale(claim):
            counts["running"] += 1
        elif check.status == "damaged":
            counts["damaged"] += 1
        else:
            counts["pending"] += 1
    return counts


def cmd_status(args: argparse.Namespace) -> int:
    root = Path(args.results_dir)
    if not root.is_dir():
        raise SystemExit(f"no results folder at {root}")
    profiles = [args.profile] if args.profile else list(PROFILES)
    rows = []
    for study in STUDIES.values():
        for profile in profiles:
            if args.profile or (root / study.name / profile).is_dir():
                rows.append((study.name, profile, study_status(study, profile, root, args.data_dir)))
    if not rows:
        print(f"no study results under {root} (expected <study>/<profile>/ folders)")
        return 0
    header = f"{'study':<20} {'profile':<8} {'done':>5} {'failed':>6} {'running':>7} {'damaged':>7} {'pending':>7}"
    print(header)
    for name, profile, c in rows:
        print(
            f"{name:<20} {profile:<8} {c['done']:>5} {c['failed']:>6} {c['running']:>7} {c['damaged']:>7} {c['pending']:>7}"
        )
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    try:
        import papermill
    except ImportError:
        raise SystemExit("render needs papermill: pip install -e '.[book]'") from None
    notebook = Path(args.notebook)
    if not notebook.exists() and (Path("notebooks") / notebook).exists():
        notebook = Path("notebooks") / notebook
    if not notebook.exists():
        raise SystemExit(f"no notebook at {args.notebook} (nor notebooks/{args.notebook})")
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
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mtl_lib",
        description="Run the book's studies and inspect their results.",
        epilog="Records go to <results>/<study>/<profile>/ (results: --results, else "
        "$MTL_RESULTS_DIR, else _build/results), where the notebooks read them.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("studies", help="list the studies whose sweeps can be run")
    p.set_defaults(func=cmd_studies)

    p = sub.add_parser("methods", help="list registered methods (weightings, aggregators, ...)")
    p.add_argument("--kind", choices=["weighting", "aggregator", "optimizer", "architecture", "problem"])
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("run", help="run (or resume) a study's sweep at a profile")
    p.add_argument("study", help="a study name (see: studies)")
    p.add_argument("--profile", choices=list(PROFILES), default="quick")
    p.add_argument("--executor", choices=list(EXECUTORS), default="local",
                   help="local worker processes (default), a Dask cluster, or submitit (Slurm)")  # fmt: skip
    p.add_argument("--workers", type=int, default=None,
                   help="local: worker processes (default: $MTL_SWEEP_WORKERS, else cores); dask: LocalCluster size")  # fmt: skip
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per run (default 1)")
    p.add_argument("--address", help="dask: scheduler address (tcp://host:8786); none starts a LocalCluster")
    p.add_argument("--partition", help="submitit: Slurm partition ('local' runs the jobs on this machine)")
    p.add_argument("--gpus-per-run", type=int, default=0, help="submitit: GPUs per Slurm job")
    p.add_argument("--results", help="results root (default $MTL_RESULTS_DIR, else _build/results)")
    p.add_argument("--data-dir", help="real data folder for studies that take one (default: stand-in)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (auto: one GPU per worker if several)")
    p.add_argument("--keep-failed", action="store_true", help="do not retry runs that failed before")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="done / failed / running / pending runs per study in a results folder")
    p.add_argument("results_dir", metavar="DIR", help="a results root (holding <study>/<profile>/)")
    p.add_argument("--profile", choices=list(PROFILES), help="only this profile (default: those present)")
    p.add_argument("--data-dir", help="the data folder the runs used, if not the stand-in")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("render", help="execute one notebook with papermill, reusing existing results")
    p.add_argument("notebook", help="path, or a name in notebooks/")
    p.add_argument("--profile", choices=list(PROFILES), default="quick")
    p.add_argument("--results", help="results root (default $MTL_RESULTS_DIR, else _build/results)")
    p.add_argument("--output", help="executed copy (default _build/stage/notebooks/<name>)")
    p.set_defaults(func=cmd_render)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
