"""The "When a method misbehaves" page's reproductions from the command line (issue 24).

The page itself (``notebooks/misbehaving.md``) computes everything it shows through
:mod:`mtl_lib.studies.misbehaving`; this script prints the same tables, and is how the one slow
result the page reads is made: ``cagrad --official`` runs CAGrad's toy at the authors' settings
(100,000 Adam steps, ~10 min on one core) and saves it to
``benchmarks/saved/misbehaving_cagrad.paper.json``.

    PYTHONPATH=. python benchmarks/misbehaving.py [SECTION ...] [--official] [--profile quick]

Sections: excess pcd dualcone imtl_g sdmgrad cagrad torchjd_properties gradnorm multidigits
properties audit. Default: the sections that need no training.
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from mtl_lib.studies import misbehaving as mb

FAST = {
    "excess": mb.excess_weights,
    "pcd": mb.pcd_rescaling,
    "dualcone": mb.dual_cone_conflict,
    "imtl_g": mb.imtl_g_projections,
    "sdmgrad": lambda: mb.sdmgrad_pair()[0],
    "cagrad": mb.cagrad_toy,
    "torchjd_properties": mb.torchjd_properties,
}


def _print(value) -> None:
    print(value.to_markdown() if hasattr(value, "to_markdown") else value, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*")
    parser.add_argument("--official", action="store_true", help="cagrad: run the authors' settings and save them")
    parser.add_argument("--profile", default="smoke", help="profile of the training sections and the audit")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results_dir = tempfile.mkdtemp(prefix="misbehaving-")
    for name in args.sections or list(FAST):
        print(f"\n## {name}\n")
        if name == "cagrad" and args.official:
            print("saved:", mb.save_cagrad_official())
        elif name in FAST:
            _print(FAST[name]())
        elif name == "gradnorm":
            _print(mb.gradnorm_buckets(mb.settings(args.profile)["gradnorm"], results_dir, "cpu"))
        elif name == "multidigits":
            size = mb.settings(args.profile)
            _print(mb.run_digits(size["digits"], size["digit_seeds"], results_dir, "cpu"))
        elif name == "properties":
            from mtl_lib.studies.method_properties import claims_summary, method_properties

            table = method_properties(toy_steps=mb.settings(args.profile)["toy_steps"])
            _print(table)
            _print(claims_summary(table).drop(columns="source"))
        elif name == "audit":
            _print(mb.audit_table(mb.compute(args.profile, results_dir, "cpu")))
        else:
            parser.error(
                f"unknown section {name!r}; sections: {', '.join([*FAST, 'gradnorm', 'multidigits', 'properties', 'audit'])}"
            )


if __name__ == "__main__":
    main()
