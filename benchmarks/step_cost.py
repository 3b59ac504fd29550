"""Per-step cost of the engine, as ratios measured in one run.

1. engine EW step / plain training step (``sum(losses).backward()`` + Adam, no library):
   the engine must add nothing when no ingredient needs per-task gradients (target ≤ 1.05).
2. batched task Jacobian (one ``is_grads_batched`` backward) / K sequential ``autograd.grad``
   calls, forward pass included in both.

Measured on a 64×64, batch-32 two-task CNN (~1.3 M parameters) and on AdaTask's synthetic
MLP (batch 100). Timings alternate between the variants in short blocks so that drift in the
machine's load hits both alike; the reported figure is the median over blocks.

    python benchmarks/step_cost.py [--blocks 15] [--steps 10] [--device auto] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from mtl_lib.architectures import small_cnn, synthetic_mlp
from mtl_lib.core import Task
from mtl_lib.core.jacobian import task_jacobians
from mtl_lib.core.runtime import resolve_device
from mtl_lib.engine import Trainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cnn_case(device: torch.device):
    def make():
        torch.manual_seed(0)
        return small_cnn(num_classes=(12, 2)).to(device)

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, 64, 64, generator=gen).to(device)
    ys = (torch.randint(0, 12, (32,), generator=gen).to(device), torch.randint(0, 2, (32,), generator=gen).to(device))
    tasks = [Task("species", nn.functional.cross_entropy), Task("health", nn.functional.cross_entropy)]
    return "CNN 64x64, batch 32", make, (x, *ys), tasks


def _mlp_case(device: torch.device):
    def make():
        torch.manual_seed(0)
        return synthetic_mlp().to(device)

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(100, 250, generator=gen).to(device)
    ys = (torch.randn(100, 100, generator=gen).to(device), torch.randn(100, 100, generator=gen).to(device))
    tasks = [Task("A", nn.functional.mse_loss), Task("B", nn.functional.mse_loss)]
    return "synthetic MLP, batch 100", make, (x, *ys), tasks


def _time_block(fn: Callable[[], None], steps: int, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / steps


def _interleaved(variants: dict[str, Callable[[], None]], blocks: int, steps: int, device) -> dict[str, float]:
    for fn in variants.values():  # warm-up
        _time_block(fn, 3, device)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(blocks):
        for name, fn in variants.items():
            samples[name].append(_time_block(fn, steps, device))
    return {name: statistics.median(values) for name, values in samples.items()}


def measure(case, blocks: int, steps: int, device: torch.device) -> dict[str, float]:
    label, make, batch, tasks = case
    x, *ys = batch

    plain_model = make()
    plain_opt = torch.optim.Adam(plain_model.parameters(), lr=1e-4)

    def plain_step():
        plain_opt.zero_grad()
        preds = plain_model(x)
        loss = sum(task.loss(p, y) for task, p, y in zip(tasks, preds, ys))
        loss.backward()
        plain_opt.step()

    trainer = Trainer(make(), tasks, weighting="ew", optimizer="adam", lr=1e-4, device=device, progress=False)

    def engine_step():
        trainer.train_step(batch)

    jac_model = make()
    shared = jac_model.shared_parameters()

    def losses():
        preds = jac_model(x)
        return torch.stack([task.loss(p, y) for task, p, y in zip(tasks, preds, ys)])

    def batched_jacobian():
        task_jacobians(losses(), shared, batched=True)

    def sequential_jacobian():
        task_jacobians(losses(), shared, batched=False)

    times = _interleaved(
        {
            "plain": plain_step,
            "engine_ew": engine_step,
            "jac_batched": batched_jacobian,
            "jac_sequential": sequential_jacobian,
        },
        blocks,
        steps,
        device,
    )
    return {
        "case": label,
        "parameters": sum(p.numel() for p in jac_model.parameters()),
        "shared_parameters": sum(p.numel() for p in shared),
        **{f"{k}_ms": 1e3 * v for k, v in times.items()},
        "ratio_engine_ew_over_plain": times["engine_ew"] / times["plain"],
        "ratio_batched_over_sequential_jacobian": times["jac_batched"] / times["jac_sequential"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="_build/benchmarks/step_cost.json")
    args = parser.parse_args()
    device = resolve_device(args.device)
    results = [measure(case(device), args.blocks, args.steps, device) for case in (_cnn_case, _mlp_case)]
    print(f"device: {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    for r in results:
        print(
            f"{r['case']:<26} params {r['parameters']:>9,}  "
            f"plain {r['plain_ms']:.2f} ms  engine-EW {r['engine_ew_ms']:.2f} ms  "
            f"ratio {r['ratio_engine_ew_over_plain']:.3f} | "
            f"Jacobian batched {r['jac_batched_ms']:.2f} ms  sequential {r['jac_sequential_ms']:.2f} ms  "
            f"ratio {r['ratio_batched_over_sequential_jacobian']:.3f}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": str(device), "torch": torch.__version__, "results": results}, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
