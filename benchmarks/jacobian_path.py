"""Which Jacobian path is faster, and how much memory each takes: the evidence behind the
engine's ``batched_jacobian="auto"`` rule (:func:`mtl_lib.engine.trainer.choose_jacobian_path`).

For each model (leaf CNN 64×64 batch 32 K = 2; synthetic MLP batch 100, K = 2 and 3) it times, in
one process, interleaved in random order per round, with CPU time and one torch thread:
a plain step, an engine step with ``aggregator="mgda"`` on the batched path, on the sequential
path, and on the default (``"auto"``) path; it reports the median and range over rounds of each
step's ratio to the plain step. Peak memory: each path runs alone in a fresh subprocess, and
the growth of its peak resident set size (``resource.getrusage``'s ``ru_maxrss``) over five steps
after setup is measured, and the table gives each path's growth minus a plain step's (the
memory the Jacobian adds).

    PYTHONPATH=. python benchmarks/jacobian_path.py [--rounds 10] [--steps 3] [--no-memory]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torchjd_side_by_side import CASES, plain_step  # noqa: E402

from mtl_lib.engine import Trainer  # noqa: E402

PATHS = {"batched": True, "sequential": False, "auto": "auto"}


def _engine(case, batched) -> Trainer:
    return Trainer(
        case.make(), case.tasks, aggregator="mgda", optimizer="adam", lr=1e-4, device="cpu", progress=False,
        batched_jacobian=batched,
    )  # fmt: skip


def timings(key: str, rounds: int, steps: int) -> dict:
    case = CASES[key]()
    variants = {"plain": plain_step(case)}
    trainers = {name: _engine(case, flag) for name, flag in PATHS.items()}
    for name, trainer in trainers.items():
        variants[name] = lambda t=trainer: t.train_step(case.batch)
    for fn in variants.values():
        for _ in range(2):
            fn()
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            start = time.process_time()
            for _ in range(steps):
                variants[name]()
            seconds[name].append((time.process_time() - start) / steps)
    out = {"case": case.label, "auto_choice": trainers["auto"].jacobian_path}
    for name in PATHS:
        ratios = [t / p for t, p in zip(seconds[name], seconds["plain"])]
        out[name] = {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
    return out


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def memory_child(key: str, path: str) -> None:
    torch.set_num_threads(1)
    case = CASES[key]()
    if path == "plain":
        step = plain_step(case)
    else:
        trainer = _engine(case, PATHS[path])

        def step() -> None:
            trainer.train_step(case.batch)

    base = _peak_mb()  # after imports and building the model: what every path shares
    for _ in range(5):
        step()
    print(json.dumps({"baseline_mb": base, "peak_mb": _peak_mb(), "step_mb": _peak_mb() - base}))


def memory(key: str) -> dict:
    out = {}
    for path in ["plain", *PATHS]:
        result = subprocess.run(
            [sys.executable, __file__, "--memory-child", key, path],
            capture_output=True,
            text=True,
            check=True,
        )
        out[path] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cases", default="cnn,mlp2,mlp3")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-child", nargs=2, metavar=("CASE", "PATH"))
    parser.add_argument("--out", default="_build/benchmarks/jacobian_path.json")
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    torch.set_num_threads(1)
    results = []
    for key in args.cases.split(","):
        row = timings(key, args.rounds, args.steps)
        if not args.no_memory:
            row["memory"] = memory(key)
        results.append(row)
        print(json.dumps(row), flush=True)
    lines = [
        f"MGDA step / plain step, CPU time, 1 thread, median (min–max) of {args.rounds} interleaved rounds; "
        "extra peak RSS over a plain step in a fresh process",
        "",
        "| model | batched | sequential | auto (choice) | extra peak MB batched / sequential / auto |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        cells = [f"{r[p]['median']:.2f} ({r[p]['min']:.2f}–{r[p]['max']:.2f})" for p in PATHS]
        cells[2] += f" ({r['auto_choice']['path']})"
        mem = "–"
        if "memory" in r:
            plain = r["memory"]["plain"]["step_mb"]
            mem = " / ".join(f"{r['memory'][p]['step_mb'] - plain:.0f}" for p in PATHS)
        lines.append(f"| {r['case']} | {' | '.join(cells)} | {mem} |")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    out.with_suffix(".md").write_text(text + "\n")


if __name__ == "__main__":
    main()
