"""Do N worker processes × 1 torch thread beat 1 process × N threads for a study's runs?

Runs the same small sweep (quick-profile sizes, fewer epochs) both ways, alternating the
variants so that load from other processes on the machine hits both alike, and prints the
wall time of every repetition and the ratio of medians. Each variant starts from an empty
results folder; the worker variant's time includes spawning its workers (a real cost).

    PYTHONPATH=. .venv/bin/python benchmarks/sweep_parallelism.py [--cores 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from dataclasses import replace

from mtl_lib.experiments import sweep
from mtl_lib.studies import adatask_synthetic, leaf_combinations

#: Epochs per run (of the quick profile's 30 and 12): enough steps to dwarf start-up costs.
EPOCHS = {"synthetic": 2, "leaf": 1}


def study_configs(name: str) -> list:
    if name == "synthetic":  # quick sizes (10k samples, batch 100), 4 runs
        return [replace(c, epochs=EPOCHS["synthetic"], device="cpu") for c in adatask_synthetic.configs("quick")[:4]]
    # leaf quick sizes (20 % stand-in, 32x32): approaches A and H on 2 folds
    chosen = [c for c in leaf_combinations.configs("quick", approaches=("A", "H")) if c.seed in (0, 1)]
    return [replace(c, epochs=EPOCHS["leaf"], device="cpu") for c in chosen]


def timed(configs: list, workers: int, threads: int) -> float:
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        sweep(configs, folder, progress=False, workers=workers, threads=threads)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--studies", nargs="+", default=["synthetic", "leaf"])
    parser.add_argument(
        "--against",
        choices=["threads", "sequential"],
        default="threads",
        help="compare N workers x 1 thread with 1 worker x N threads, or with 1 worker x 1 thread",
    )
    parser.add_argument("--epochs", type=int, help="epochs per run (default: synthetic 2, leaf 1)")
    args = parser.parse_args()
    if args.epochs:
        EPOCHS.update(synthetic=args.epochs, leaf=args.epochs)
    n = args.cores
    other = (1, n) if args.against == "threads" else (1, 1)
    variants = {f"{n} workers x 1 thread": (n, 1), f"1 worker x {other[1]} thread(s)": other}
    for name in args.studies:
        configs = study_configs(name)
        timed(configs[:1], 1, 1)  # warm caches (generated data, imports) for both variants alike
        times: dict[str, list[float]] = {v: [] for v in variants}
        for repeat in range(args.repeats):
            order = list(variants)[::-1] if repeat % 2 == 0 else list(variants)
            for variant in order:
                seconds = timed(configs, *variants[variant])
                times[variant].append(seconds)
                print(f"{name}: {variant}: {seconds:.1f} s ({len(configs)} runs)", flush=True)
        medians = {v: statistics.median(t) for v, t in times.items()}
        workers_v, threads_v = list(variants)
        print(
            f"{name}: median {workers_v} {medians[workers_v]:.1f} s, {threads_v} {medians[threads_v]:.1f} s; "
            f"speed-up of {workers_v} over {threads_v} = {medians[threads_v] / medians[workers_v]:.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
