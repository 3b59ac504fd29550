"""CAGrad's solver share of a training step on AdaTask's synthetic MLP (batch 100, K tasks).

Times, in CPU time with one torch thread, whole engine steps with ``aggregator="cagrad"`` and,
inside them, the calls of ``CAGrad.weights_from_gram`` (the dual solver on the K×K Gramian);
plain steps (``sum(losses).backward()`` + Adam) are interleaved in rounds for the step ratio.
Reports the solver's share of the step, the time per solve, and the step / plain-step ratio
(medians over rounds). Works on any version of the library (it only wraps the public method).

    PYTHONPATH=. python benchmarks/cagrad_solver_share.py [--tasks 3] [--rounds 10] [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torchjd_side_by_side import mlp_case, plain_step  # noqa: E402

from mtl_lib.engine import Trainer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    case = mlp_case(args.tasks)
    trainer = Trainer(case.make(), case.tasks, aggregator="cagrad", device="cpu", progress=False)
    solver = trainer.aggregator
    solve = solver.weights_from_gram
    spent = [0.0]

    def timed(gram: torch.Tensor) -> torch.Tensor:
        start = time.process_time()
        out = solve(gram)
        spent[0] += time.process_time() - start
        return out

    solver.weights_from_gram = timed
    plain = plain_step(case)
    for _ in range(5):
        trainer.train_step(case.batch)
        plain()
    shares, per_solve, ratios = [], [], []
    for _ in range(args.rounds):
        start = time.process_time()
        for _ in range(args.steps):
            plain()
        plain_s = (time.process_time() - start) / args.steps
        spent[0] = 0.0
        start = time.process_time()
        for _ in range(args.steps):
            trainer.train_step(case.batch)
        step_s = (time.process_time() - start) / args.steps
        shares.append(spent[0] / args.steps / step_s)
        per_solve.append(1e3 * spent[0] / args.steps)
        ratios.append(step_s / plain_s)
    print(
        f"CAGrad K={args.tasks}, synthetic MLP b100, 1 thread, CPU time, medians (min-max) of {args.rounds} rounds "
        f"x {args.steps} steps: solver share {statistics.median(shares):.1%} "
        f"({min(shares):.1%}-{max(shares):.1%}), {statistics.median(per_solve):.3f} ms per solve, "
        f"step / plain {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}); "
        f"last solver: {getattr(solver, 'last_solver', 'root_finding (only solver)')}"
    )


if __name__ == "__main__":
    main()
