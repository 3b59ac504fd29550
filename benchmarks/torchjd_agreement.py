"""Agreement of the library's aggregators with TorchJD 0.18 (``pip install mtl_lib[test]``):
the largest relative difference ‖ours/scale − TorchJD‖ / ‖TorchJD‖ over random conflicting
Jacobians, K = 2..5 (3..5 for Krum and TrimmedMean), 5 seeds, P = 40; stateful methods over
sequences of 5 Jacobians. ``scale`` is K where our direction is on the sum scale and TorchJD's on
the mean scale.

    python benchmarks/torchjd_agreement.py [--out FILE]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pandas as pd
import torch
import torchjd.aggregation as tj

from mtl_lib.aggregators import AGGREGATORS

TG = tj.GramianWeightedAggregator
#: ours (name, kwargs) → (TorchJD factory, our scale relative to TorchJD, steps, min K)
PAIRS = {
    "upgrad": ({}, tj.UPGrad, "K", 1, 2),
    "dualproj": ({}, tj.DualProj, "K", 1, 2),
    "config": ({}, tj.ConFIG, 1, 1, 2),
    "fairgrad": ({}, lambda: tj.FairGrad(alpha=1.0), 1, 1, 2),
    "excess_mtl": ({}, tj.ExcessMTL, "K", 5, 2),
    "modo": ({}, lambda: TG(tj.MoDoWeighting()), "K", 5, 2),
    "sdmgrad": ({}, lambda: TG(tj.SDMGradWeighting()), "K", 5, 2),
    "crmogm": ({"base": "upgrad"}, lambda: TG(tj.CRMOGMWeighting(tj.UPGradWeighting())), "K", 5, 2),
    "pcd": ({}, tj.PCD, 1, 5, 2),
    "krum": ({}, lambda: tj.Krum(0), "K", 1, 3),
    "trimmed_mean": ({}, lambda: tj.TrimmedMean(1), "K", 1, 3),
    "imtl_g": ({}, tj.IMTLG, "K", 1, 2),
    "mgda (TorchJD ε=1e-12)": ({}, lambda: tj.MGDA(epsilon=1e-12, max_iters=5000), "K", 1, 2),
}


def agreement(seeds: int = 5) -> pd.DataFrame:
    rows = []
    for label, (kwargs, theirs_factory, scale, steps, min_k) in PAIRS.items():
        name = label.split(" ")[0]
        worst = 0.0
        for k in range(min_k, 6):
            for seed in range(seeds):
                gen = torch.Generator().manual_seed(100 * k + seed)
                ours, theirs = AGGREGATORS.build(name, **kwargs), theirs_factory()
                for _ in range(steps):
                    jac = torch.randn(k, 40, generator=gen, dtype=torch.float64)
                    jac[1] = -0.7 * jac[0] + 0.5 * jac[1]
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        mine = ours(jac).direction / (k if scale == "K" else 1)
                        ref = theirs(jac)
                    worst = max(worst, float((mine - ref).norm() / ref.norm()))
        rows.append({"method": label, "max relative difference to TorchJD 0.18": f"{worst:.1e}"})
    return pd.DataFrame(rows).set_index("method")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="_build/benchmarks/torchjd_agreement.md")
    args = parser.parse_args()
    markdown = agreement().to_markdown()
    print(markdown)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown + "\n")


if __name__ == "__main__":
    main()
