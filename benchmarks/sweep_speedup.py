"""How much faster is a sweep with its default worker processes than the same sweep run
sequentially in this process (one torch thread per run either way)?

Runs a slice of each study's ``quick`` sweep both ways from empty results folders (the
parallel variant first for one study, the sequential first for the other) and prints both
wall times and their ratio. The parallel time includes spawning the workers (importing
torch in each), a real cost of the default.

    PYTHONPATH=. .venv/bin/python benchmarks/sweep_speedup.py
"""

from __future__ import annotations

import tempfile
import time
import warnings

from mtl_lib.experiments import default_workers, sweep
from mtl_lib.studies import adatask_tables, leaf_combinations


def timed(configs: list, workers: int | None) -> float:
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        sweep(configs, folder, progress=False, workers=workers, threads=1)
        return time.perf_counter() - started


def main() -> None:
    studies = {
        # Table 2's first 10 quick runs (EqualWeight and GradNorm, 5 seeds each)
        "synthetic": adatask_tables.synthetic_configs("quick", device="cpu")[:10],
        # approaches A and H on the 3 quick folds
        "leaf": leaf_combinations.configs("quick", device="cpu", approaches=("A", "H")),
    }
    for index, (name, configs) in enumerate(studies.items()):
        order = [None, 1] if index % 2 == 0 else [1, None]
        times = {workers: timed(configs, workers) for workers in order}
        parallel, sequential = times[None], times[1]
        print(f"{name}: {len(configs)} quick runs; sequential {sequential:.1f} s, default "
              f"{default_workers(len(configs))} workers {parallel:.1f} s: speed-up {sequential / parallel:.2f}x",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
