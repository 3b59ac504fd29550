"""Issue 26's engine changes A/B in one process: the step as it was (full vmapped Jacobian with K
rows for every head, ``isfinite().all()`` over J, one clone per parameter tensor) against the
step as it is (head split, summed finite test, one clone then views), and the Gramian path.

The "before" variant re-creates the old behaviour inside the current library (the head split
switched off, the old finite test and gradient write patched back in), so both run interleaved
in one process on the same machine load; the ratios are to a plain step of the same round.

    PYTHONPATH=. .venv/bin/python benchmarks/jacobian_fast_paths.py [--rounds 15] [--steps 3]
        [--cases mlp2,mlp3,cnn2] [--methods pcgrad,mgda,upgrad,imtl_g]
        [--out _build/benchmarks/jacobian_fast_paths.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _peers as P  # noqa: E402

import mtl_lib.aggregators.base as aggregator_base  # noqa: E402
import mtl_lib.engine.backward as engine_backward  # noqa: E402
from mtl_lib.engine import Trainer  # noqa: E402

CASES = {
    "mlp2": lambda: P.mlp_case(2),
    "mlp3": lambda: P.mlp_case(3),
    "mlp10": lambda: P.mlp_case(10),
    "cnn2": lambda: P.cnn_case(2),
}


def _old_require_finite_rows(matrix: torch.Tensor, *args: Any, **kwargs: Any) -> None:
    if bool(torch.isfinite(matrix.detach()).all()):
        return
    _NEW_REQUIRE(matrix, *args, **kwargs)


def _old_unflatten(vector: torch.Tensor, params: list[torch.Tensor]) -> None:
    offset = 0
    for param in params:
        n = param.numel()
        param.grad = vector[offset : offset + n].view_as(param).clone()
        offset += n


_NEW_REQUIRE = aggregator_base.require_finite_rows
_NEW_UNFLATTEN = engine_backward.unflatten_into_grads


class _OldBehaviour:
    """Context: the aggregators' finite test and the gradient write as before issue 26."""

    def __enter__(self) -> None:
        aggregator_base.require_finite_rows = _old_require_finite_rows
        engine_backward.unflatten_into_grads = _old_unflatten

    def __exit__(self, *exc: Any) -> None:
        aggregator_base.require_finite_rows = _NEW_REQUIRE
        engine_backward.unflatten_into_grads = _NEW_UNFLATTEN


def trainer_step(case: P.Case, method: str, *, before: bool = False, jacobian_of: str = "parameters") -> P.Step:
    aggregator, kwargs, weighting = P.OURS[method]
    trainer = Trainer(
        case.make(), case.tasks, aggregator=aggregator, aggregator_kwargs=kwargs, weighting=weighting,
        optimizer="adam", lr=1e-4, device="cpu", progress=False, jacobian_of=jacobian_of,
    )  # fmt: skip
    if before:
        trainer._split = None
        old = _OldBehaviour()

        def step() -> None:
            with old:
                trainer.train_step(case.batch)

        return step
    return lambda: trainer.train_step(case.batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cases", default="mlp2,mlp3,cnn2")
    parser.add_argument("--methods", default="pcgrad,mgda,upgrad,imtl_g")
    parser.add_argument("--out", type=Path, default=Path("_build/benchmarks/jacobian_fast_paths.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    results = []
    for key in args.cases.split(","):
        case = CASES[key]()
        variants: dict[str, P.Step] = {"plain": P.plain_step(case)}
        for method in args.methods.split(","):
            variants[f"before/{method}"] = trainer_step(case, method, before=True)
            variants[f"after/{method}"] = trainer_step(case, method)
            if method in P.GRAMIAN_METHODS:
                variants[f"gramian/{method}"] = trainer_step(case, method, jacobian_of="gramian")
        seconds, failed = P.time_interleaved(variants, args.rounds, args.steps)
        ratio = P.ratios(seconds)
        results.append({"case": case.label, "ratios": ratio, "failed": failed})
        print(f"**{case.label}** (plain {ratio['plain']['ms_median']:.2f} ms)")
        for name, r in ratio.items():
            print(f"  {name:18s} {r['median']:.2f} ({r['min']:.2f}–{r['max']:.2f})")
        print(flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rounds": args.rounds, "steps": args.steps, "results": results}, indent=1))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
