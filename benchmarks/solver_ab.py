"""Issue 26 item 3, A/B in one process: a training step of UPGrad and PCGrad on AdaTask's
synthetic MLP (batch 100) with the solver code of an earlier commit re-created (``--before``,
default ee28fc4: UPGrad's active-set QP in torch ops, PCGrad re-scaling its unit rows in
``gram_matrix``) against the current code, interleaved, CPU time with one thread, as ratios
to the plain step of the same round (``_peers.time_interleaved``).

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/solver_ab.py [--tasks 2,3,10,40]
        [--rounds 7] [--steps 5] [--before ee28fc4]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _peers as P  # noqa: E402

from mtl_lib.aggregators import Aggregation  # noqa: E402
from mtl_lib.aggregators.base import gram_matrix  # noqa: E402
from mtl_lib.aggregators.pcgrad import PCGrad, pcgrad_mixing  # noqa: E402
from mtl_lib.aggregators.upgrad import UPGrad  # noqa: E402
from mtl_lib.engine import Trainer  # noqa: E402


def old_module(commit: str, path: str) -> Any:
    """The file ``path`` as it was at ``commit``, imported under a private name."""
    source = subprocess.run(["git", "show", f"{commit}:{path}"], capture_output=True, text=True, check=True).stdout
    folder = Path(tempfile.mkdtemp())
    (folder / "old_dual_cone.py").write_text(source)
    spec = importlib.util.spec_from_file_location("old_dual_cone", folder / "old_dual_cone.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def before_classes(commit: str) -> dict[str, type]:
    old = old_module(commit, "mtl_lib/aggregators/_dual_cone.py")

    class UPGradBefore(UPGrad):
        def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
            g = self.regularized_gram(gram)
            pref = old.preference_weights(self.pref_vector, g.shape[0])
            weights = torch.zeros_like(pref)
            for k in range(g.shape[0]):
                unit = torch.zeros_like(pref)
                unit[k] = pref[k]
                weights += old.project_weights(unit, g)
            return weights.to(device=gram.device, dtype=gram.dtype)

    class PCGradBefore(PCGrad):
        def aggregate(self, jacobian: torch.Tensor) -> Aggregation:
            scales = jacobian.abs().amax(dim=1, keepdim=True)
            scales = torch.where(scales > 0, scales, torch.ones_like(scales))
            unit = jacobian / scales
            mixing64 = pcgrad_mixing(gram_matrix(unit), self.generator)
            projected = (mixing64.to(dtype=jacobian.dtype) @ unit) * scales
            s64 = scales[:, 0].to(torch.float64)
            weights = ((s64[:, None] * mixing64).sum(0) / s64).to(jacobian.dtype)
            weights = weights if bool(torch.isfinite(weights).all()) else None
            return Aggregation(direction=projected.sum(0), task_gradients=projected, weights=weights)

    return {"upgrad": UPGradBefore, "pcgrad": PCGradBefore}


def step_with(case: P.Case, aggregator: Any) -> P.Step:
    trainer = Trainer(case.make(), case.tasks, aggregator=aggregator, optimizer="adam", lr=1e-4, progress=False)
    return lambda: trainer.train_step(case.batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="2,3,10,40")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--before", default="ee28fc4")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    before = before_classes(args.before)
    now = {"upgrad": UPGrad, "pcgrad": PCGrad}
    print(
        f"step / plain step, median (min–max) over {args.rounds} rounds; before = {args.before}, after = working tree"
    )
    for num_tasks in [int(k) for k in args.tasks.split(",")]:
        case = P.mlp_case(num_tasks)
        variants: dict[str, P.Step] = {"plain": P.plain_step(case)}
        for method in ("upgrad", "pcgrad"):
            variants[f"{method} before"] = step_with(case, before[method]())
            variants[f"{method} after"] = step_with(case, now[method]())
        seconds, failed = P.time_interleaved(variants, args.rounds, args.steps)
        ratio = P.ratios(seconds)
        for method in ("upgrad", "pcgrad"):
            b, a = ratio[f"{method} before"], ratio[f"{method} after"]
            print(
                f"K={num_tasks:>2} {method:>6}: before {b['median']:.2f} ({b['min']:.2f}–{b['max']:.2f}) "
                f"{b['ms_median']:.2f} ms → after {a['median']:.2f} ({a['min']:.2f}–{a['max']:.2f}) "
                f"{a['ms_median']:.2f} ms; after/before {a['ms_median'] / b['ms_median']:.2f}",
                flush=True,
            )
        if failed:
            print("failed:", failed)


if __name__ == "__main__":
    main()
