"""Print (and save) the method table: kind, per-task gradients, per-step cost relative to EW.

python benchmarks/method_table.py [--blocks 5] [--steps 10] [--device cpu] [--out FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mtl_lib.studies.method_table import method_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="_build/benchmarks/method_table.md")
    args = parser.parse_args()
    table = method_table(blocks=args.blocks, steps=args.steps, device=args.device)
    markdown = (
        f"Per-step cost on AdaTask's synthetic MLP (batch 100), device {args.device}, "
        f"torch {torch.__version__}; medians of {args.blocks} interleaved blocks of {args.steps} steps.\n\n"
        + table.to_markdown()
    )
    print(markdown)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown + "\n")
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
