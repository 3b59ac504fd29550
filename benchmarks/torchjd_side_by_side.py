"""mtl_lib and TorchJD side by side: per-method step cost relative to a plain step, and the
cosine between both libraries' first-step directions.

Cases: the leaf CNN (64×64, batch 32, K = 2, ``LeafCNN()`` defaults: no add-ons) and AdaTask's
synthetic MLP (batch 100) with K = 2 and K = 3 tasks. For every method the two libraries train
the same model (same initial weights, batch and Adam optimizer):

* mtl_lib: ``Trainer(model, tasks, aggregator=name).train_step(batch)`` with the engine's
  default settings (its Jacobian path is whatever the engine chooses by default);
* TorchJD: forward → ``autojac.mtl_backward(losses, features)`` (its default, vmapped
  Jacobian) → ``autojac.jac_to_grad(shared, aggregator)`` → ``optimizer.step()``;
* plain: forward → ``sum(losses).backward()`` → ``optimizer.step()`` (no library).

Timing: CPU time (``time.process_time``) with one torch thread, so other processes on a shared
machine affect the figures less than wall time would (they still share caches and memory
bandwidth). One *round* times ``--steps`` steps of every variant, in a fresh random order each
round; a variant's ratio in a round is its time over the plain step's time in the same round,
and the table gives the median and the range (min–max) of those ratios over ``--rounds``.

Settings matched between the libraries (both defaults where they agree): CAGrad c = 0.4 (ours
also applies the authors' rescale 1/(1+c²), a scalar that changes neither cost nor cosine);
GradVac β = 0.5 on the whole model (TorchJD's only granularity; ours defaults to β = 0.01 per
layer); Nash-MTL, MGDA, IMTL-G, Aligned-MTL, GradDrop and PCGrad at both libraries' defaults.
PCGrad (K = 3) and GradDrop draw random numbers, so their first-step cosine need not be 1.

    PYTHONPATH=. python benchmarks/torchjd_side_by_side.py [--rounds 10] [--steps 3]
        [--cases cnn,mlp2,mlp3] [--methods pcgrad,...] [--out _build/benchmarks/torchjd.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mtl_lib.architectures import synthetic_mlp
from mtl_lib.architectures.leaf_cnn import LeafCNN
from mtl_lib.core import Task
from mtl_lib.engine import Trainer

# (our registry name, our kwargs, TorchJD factory(K)) per method.
METHODS: dict[str, tuple[str, dict[str, Any], Callable[[int], Any]]] = {}


def _torchjd_methods() -> None:
    from torchjd import aggregation as A

    METHODS.update(
        {
            "pcgrad": ("pcgrad", {}, lambda k: A.PCGrad()),
            "gradvac": (
                "gradvac",
                {"beta": 0.5, "granularity": "whole"},
                lambda k: A.GradVac(beta=0.5),
            ),
            "cagrad": ("cagrad", {"c": 0.4}, lambda k: A.CAGrad(c=0.4)),
            "mgda": ("mgda", {}, lambda k: A.MGDA()),
            "imtl_g": ("imtl_g", {}, lambda k: A.IMTLG()),
            "nash_mtl": ("nash_mtl", {}, lambda k: A.NashMTL(n_tasks=k)),
            "aligned_mtl": ("aligned_mtl", {}, lambda k: A.AlignedMTL()),
            "graddrop": ("graddrop", {}, lambda k: A.GradDrop()),
        }
    )


class _Case:
    """A model factory, a batch, tasks, and how to split the model into features and heads."""

    def __init__(self, label: str, make: Callable[[], nn.Module], batch: tuple, tasks: list[Task]) -> None:
        self.label, self.make, self.batch, self.tasks = label, make, batch, tasks

    @staticmethod
    def features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if hasattr(model, "encode"):
            return model.encode(x)
        return model.trunk(x, None)  # LeafCNN without add-ons (its code before encode existed)

    @staticmethod
    def heads(model: nn.Module, features: torch.Tensor) -> list[torch.Tensor]:
        if hasattr(model, "decode"):
            return model.decode(features)
        return [head(features) for head in model.heads]


def cnn_case() -> _Case:
    def make() -> nn.Module:
        torch.manual_seed(0)
        return LeafCNN(num_classes=(12, 2), task_names=("species", "health"), image_size=64)

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(32, 3, 64, 64, generator=gen)
    ys = (torch.randint(0, 12, (32,), generator=gen), torch.randint(0, 2, (32,), generator=gen))
    tasks = [
        Task("species", nn.functional.cross_entropy),
        Task("health", nn.functional.cross_entropy),
    ]
    return _Case("leaf CNN 64x64 b32 K=2", make, (x, *ys), tasks)


def mlp_case(num_tasks: int) -> _Case:
    names = tuple("ABCDE"[:num_tasks])

    def make() -> nn.Module:
        torch.manual_seed(0)
        return synthetic_mlp(task_names=names)

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(100, 250, generator=gen)
    ys = tuple(torch.randn(100, 100, generator=gen) * (1 + 3 * k) for k in range(num_tasks))
    tasks = [Task(n, nn.functional.mse_loss) for n in names]
    return _Case(f"synthetic MLP b100 K={num_tasks}", make, (x, *ys), tasks)


CASES = {"cnn": cnn_case, "mlp2": lambda: mlp_case(2), "mlp3": lambda: mlp_case(3)}


def _losses(case: _Case, model: nn.Module) -> tuple[torch.Tensor, list[torch.Tensor]]:
    x, *ys = case.batch
    features = case.features(model, x)
    preds = case.heads(model, features)
    return features, [task.loss(p, y) for task, p, y in zip(case.tasks, preds, ys)]


def plain_step(case: _Case) -> Callable[[], None]:
    model = case.make()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        _, losses = _losses(case, model)
        sum(losses).backward()
        opt.step()

    return step


def ours_step(case: _Case, method: str) -> tuple[Callable[[], None], Trainer]:
    name, kwargs, _ = METHODS[method]
    trainer = Trainer(
        case.make(), case.tasks, aggregator=name, aggregator_kwargs=kwargs, optimizer="adam", lr=1e-4,
        device="cpu", progress=False,
    )  # fmt: skip
    return (lambda: trainer.train_step(case.batch)), trainer


def torchjd_step(case: _Case, method: str) -> tuple[Callable[[], None], Callable[[], torch.Tensor]]:
    from torchjd.autojac import jac_to_grad, mtl_backward

    model = case.make()
    shared = list(model.shared_parameters())
    heads = [list(model.task_parameters(k)) for k in range(len(case.tasks))]
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    aggregator = METHODS[method][2](len(case.tasks))

    def backward() -> None:
        opt.zero_grad(set_to_none=True)
        features, losses = _losses(case, model)
        mtl_backward(losses, features, tasks_params=heads, shared_params=shared)
        jac_to_grad(shared, aggregator)

    def step() -> None:
        backward()
        opt.step()

    def first_direction() -> torch.Tensor:
        backward()
        return torch.cat([p.grad.reshape(-1) for p in shared])

    return step, first_direction


def first_step_cosine(case: _Case, method: str) -> float:
    _, trainer = ours_step(case, method)
    trainer.train_step(case.batch)
    ours = trainer.last_aggregation.direction.detach().double()
    torch.manual_seed(0)  # TorchJD's random methods draw from the global generator
    theirs = torchjd_step(case, method)[1]().detach().double()
    return float(ours @ theirs / (ours.norm() * theirs.norm()).clamp_min(1e-300))


def measure(case: _Case, methods: list[str], rounds: int, steps: int, seed: int) -> dict[str, Any]:
    variants: dict[str, Callable[[], None]] = {"plain": plain_step(case)}
    for method in methods:
        variants[f"ours/{method}"] = ours_step(case, method)[0]
        variants[f"torchjd/{method}"] = torchjd_step(case, method)[0]
    for fn in variants.values():  # warm-up (the engine's first steps may probe its Jacobian path)
        for _ in range(3):
            fn()
    order = list(variants)
    rng = random.Random(seed)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            fn = variants[name]
            start = time.process_time()
            for _ in range(steps):
                fn()
            seconds[name].append((time.process_time() - start) / steps)
    plain = seconds["plain"]
    rows = []
    for method in methods:
        row: dict[str, Any] = {"method": method}
        for lib in ("ours", "torchjd"):
            ratios = [t / p for t, p in zip(seconds[f"{lib}/{method}"], plain)]
            row[lib] = {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
        row["cosine_first_step"] = first_step_cosine(case, method)
        rows.append(row)
    return {"case": case.label, "plain_ms_median": 1e3 * statistics.median(plain), "rows": rows}


def markdown(results: list[dict[str, Any]], header: str) -> str:
    lines = [header, ""]
    for res in results:
        lines += [
            f"**{res['case']}** — plain step {res['plain_ms_median']:.1f} ms CPU (median)",
            "",
            "| method | mtl_lib ratio (range) | TorchJD ratio (range) | ours ≤ TorchJD | cos(first steps) |",
            "|---|---|---|---|---|",
        ]
        for row in res["rows"]:
            o, t = row["ours"], row["torchjd"]
            lines.append(
                f"| {row['method']} | {o['median']:.2f} ({o['min']:.2f}–{o['max']:.2f}) "
                f"| {t['median']:.2f} ({t['min']:.2f}–{t['max']:.2f}) "
                f"| {'yes' if o['median'] <= t['median'] else 'no'} | {row['cosine_first_step']:.6f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cases", default="cnn,mlp2,mlp3")
    parser.add_argument("--methods", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="_build/benchmarks/torchjd_side_by_side.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    _torchjd_methods()
    methods = [m for m in args.methods.split(",") if m] or list(METHODS)
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; choose from {sorted(METHODS)}")
    import torchjd.autojac  # noqa: F401  (fail early if TorchJD is missing)

    results = []
    for key in args.cases.split(","):
        if key not in CASES:
            raise SystemExit(f"unknown case {key!r}; choose from {sorted(CASES)}")
        results.append(measure(CASES[key](), methods, args.rounds, args.steps, args.seed))
        print(markdown(results[-1:], ""), flush=True)
    import torchjd

    header = (
        f"torch {torch.__version__}, TorchJD {getattr(torchjd, '__version__', '0.18')}, 1 thread, CPU time; "
        f"ratio = step / plain step, median (min–max) over {args.rounds} rounds of {args.steps} steps"
    )
    text = markdown(results, header)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"header": header, "results": results}, indent=1))
    out.with_suffix(".md").write_text(text + "\n")
    print(text)
    print(f"written {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
