"""Step cost of every method against the peer libraries, as ratios to a plain step measured in
one run: the leaf CNN (64×64, batch 32, K = 2) and AdaTask's synthetic MLP (batch 100) with
K = 2 and K = 3.

For each method every library that has it trains the same model (``_peers.py`` says how). A
round times ``--steps`` steps of every variant in a fresh random order; a variant's ratio in a
round is its CPU time (one torch thread) over the plain step's in the same round; the table
gives the median and the range (min–max) over ``--rounds``. ``ours`` is the engine at its
defaults; ``ours-gramian`` is ``jacobian_of="gramian"``. A method counts as *at or below the
fastest peer* when our median is ≤ the fastest peer's median or the two ranges overlap (a tie).
Every peer here is exact (full task Jacobian or its Gramian), except that LibMTL's IMTL is the
hybrid IMTL-G + IMTL-L.

    PYTHONPATH=. .venv/bin/python benchmarks/peer_table.py [--rounds 7] [--steps 2]
        [--cases cnn,mlp2,mlp3] [--methods pcgrad,...] [--libmtl-head DIR]
        [--out _build/benchmarks/peer_table.json]      # also writes .csv and .md

The JSON file carries its provenance (UTC time, host, commit, versions, the exact command),
stamped before measuring.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _peers as P  # noqa: E402

CASES = {"cnn": lambda: P.cnn_case(2), "mlp2": lambda: P.mlp_case(2), "mlp3": lambda: P.mlp_case(3)}
LIBRARIES = ["ours", "ours-gramian", "torchjd", "torchjd-autogram", "libmtl", "libmtl-head"]
PEERS = ["torchjd", "torchjd-autogram", "libmtl", "libmtl-head"]


def verdict(ours: dict[str, float], peer: dict[str, float] | None) -> str:
    """``"faster"``, ``"tie"`` (ranges overlap) or ``"slower"`` against the fastest peer."""
    if peer is None:
        return "no peer"
    if ours["median"] <= peer["median"]:
        return "faster"
    return "tie" if ours["min"] <= peer["max"] else "slower"


def summarise(case: str, methods: list[str], ratio: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    rows = []
    for method in methods:
        ours = ratio.get(f"ours/{method}")
        if ours is None:
            continue
        peers = {lib: ratio[f"{lib}/{method}"] for lib in PEERS if f"{lib}/{method}" in ratio}
        fastest = min(peers, key=lambda lib: peers[lib]["median"]) if peers else None
        row = {"case": case, "method": method, "ours": ours, "ours-gramian": ratio.get(f"ours-gramian/{method}")}
        row.update({lib: peers.get(lib) for lib in PEERS})
        row["fastest_peer"] = fastest
        row["verdict"] = verdict(ours, peers[fastest] if fastest else None)
        rows.append(row)
    return rows


def _cell(entry: dict[str, float] | None) -> str:
    return "—" if entry is None else f"{entry['median']:.2f} ({entry['min']:.2f}–{entry['max']:.2f})"


def markdown(results: list[dict[str, Any]], header: str) -> str:
    lines = [header, ""]
    for res in results:
        lines += [
            f"**{res['case']}**: plain step {res['plain_ms']:.2f} ms CPU (median)",
            "",
            "| method | ours | ours-gramian | TorchJD | TorchJD autogram | LibMTL 1.1.5 | LibMTL HEAD | vs fastest peer |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in res["rows"]:
            cells = [_cell(row[k]) for k in ("ours", "ours-gramian", *PEERS)]
            lines.append(f"| {row['method']} | " + " | ".join(cells) + f" | {row['verdict']} ({row['fastest_peer']}) |")
        counted = [r for r in res["rows"] if r["verdict"] != "no peer"]
        at_or_below = sum(r["verdict"] in ("faster", "tie") for r in counted)
        lines += ["", f"at or below the fastest peer: {at_or_below} of {len(counted)}", ""]
        if res["failed"]:
            lines += ["could not run: " + "; ".join(f"{k}: {v}" for k, v in sorted(res["failed"].items())), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--cases", default="cnn,mlp2,mlp3")
    parser.add_argument("--methods", default=",".join(P.OURS))
    parser.add_argument("--libmtl-head", type=Path, default=None, help="folder holding LibMTL/weighting (GitHub HEAD)")
    parser.add_argument("--libraries", default=",".join(LIBRARIES), help="subset of " + ",".join(LIBRARIES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("_build/benchmarks/peer_table.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(P.OURS))
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; choose from {sorted(P.OURS)}")
    libmtl, versions = {}, {}
    for key, root in (("libmtl", None), ("libmtl-head", args.libmtl_head)):
        module, where = P.load_libmtl(root) if key == "libmtl" or root else (None, "no --libmtl-head given")
        versions[key] = where
        if module is not None:
            libmtl[key] = module
    # stamped before measuring, so that it names the code that was measured
    from mtl_lib.experiments.saved_summaries import provenance

    stamp = {**provenance(), "command": P.command_line(), "libmtl": versions}
    results = []
    for key in args.cases.split(","):
        if key not in CASES:
            raise SystemExit(f"unknown case {key!r}; choose from {sorted(CASES)}")
        case = CASES[key]()
        chosen = [lib for lib in args.libraries.split(",") if lib in LIBRARIES[:4] or lib in libmtl]
        variants, missing = P.build_variants(case, methods, chosen, libmtl)
        seconds, failed = P.time_interleaved(variants, args.rounds, args.steps, args.seed)
        ratio = P.ratios(seconds)
        failed.update({k: v for k, v in missing.items() if v != "not in this library"})
        results.append(
            {
                "case": case.label,
                "plain_ms": ratio["plain"]["ms_median"],
                "rows": summarise(case.label, methods, ratio),
                "ratios": ratio,
                "failed": failed,
            }
        )
        print(markdown(results[-1:], ""), flush=True)
    import torchjd

    header = (
        f"torch {torch.__version__}, TorchJD {getattr(torchjd, '__version__', '?')}, LibMTL {versions}, "
        f"1 thread, CPU time; ratio = step / plain step, median (min–max) over {args.rounds} rounds of "
        f"{args.steps} steps"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"header": header, "provenance": stamp, "results": results}, indent=1))
    args.out.with_suffix(".md").write_text(markdown(results, header) + "\n")
    with args.out.with_suffix(".csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "variant", "ratio_median", "ratio_min", "ratio_max", "ms_median"])
        for res in results:
            for name, r in sorted(res["ratios"].items()):
                writer.writerow([res["case"], name, f"{r['median']:.4f}", f"{r['min']:.4f}", f"{r['max']:.4f}", f"{r['ms_median']:.4f}"])  # fmt: skip
    print(markdown(results, header))
    print(f"written {args.out} (+ .md, .csv)")


if __name__ == "__main__":
    main()
