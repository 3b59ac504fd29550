"""The audit's reproductions that train: MultiDigits variants of MoCo, DB-MTL and PCD, GradNorm's
rAU buckets at two α, and the result file of CAGrad's own (slow) toy settings."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mtl_lib.experiments import sweep
from mtl_lib.experiments.saved_summaries import read_summary, write_summary
from mtl_lib.metrics.stats import mean_ci95
from mtl_lib.studies.misbehaving.reproductions import CAGRAD_OFFICIAL, cagrad_toy, torchjd

#: MultiDigits variants: label → RunConfig ingredients (EW first: the reference of Δm).
DIGIT_VARIANTS: dict[str, dict[str, Any]] = {
    "EW": {"weighting": "ew"},
    "MoCo (defaults)": {"aggregator": "moco"},
    "MoCo, no tracking (β = 1, β_σ = 0)": {"aggregator": "moco", "aggregator_kwargs": {"beta": 1.0, "beta_sigma": 0.0}},
    "MoCo, constant tracking rate (β_σ = 0)": {"aggregator": "moco", "aggregator_kwargs": {"beta_sigma": 0.0}},
    "MoCo, LibMTL's loss normalisation": {"aggregator": "moco", "aggregator_kwargs": {"normalization": "loss"}},
    "MoCo, γ = 1": {"aggregator": "moco", "aggregator_kwargs": {"gamma": 1.0}},
    "DB-MTL (defaults)": {"aggregator": "db_mtl"},
    "DB-MTL, β = 0 (no gradient EMA)": {"aggregator": "db_mtl", "aggregator_kwargs": {"beta": 0.0}},
    "PCD (defaults, τ = 0.02; left digit primary)": {"aggregator": "pcd"},
    "PCD, τ = 0.2": {"aggregator": "pcd", "aggregator_kwargs": {"tau": 0.2}},
    "PCD, τ = 0.5": {"aggregator": "pcd", "aggregator_kwargs": {"tau": 0.5}},
}  # fmt: skip


def digit_configs(profile: str, seeds: Sequence[int], device: str = "auto") -> list:
    """One RunConfig per variant and seed, at the MultiDigits chapter's ``profile`` sizes and lr."""
    from mtl_lib.studies.multidigits.config import Method, _config

    return [
        _config(profile, Method(label, label, "aggregator", ingredients), seed, device)
        for label, ingredients in DIGIT_VARIANTS.items()
        for seed in seeds
    ]


def digit_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Per variant: mean test accuracy per digit over seeds (with the range), and Δm vs EW (%,
    per seed, mean ± 95 % CI)."""
    by = {(r["method"], r["seed"]): r["final"] for r in records}
    seeds = sorted({r["seed"] for r in records})
    rows = []
    for label in DIGIT_VARIANTS:
        finals = [by[(label, s)] for s in seeds if (label, s) in by]
        row: dict[str, Any] = {"variant": label, "seeds": len(finals)}
        for task in ("left", "right"):
            values = [f[f"{task}/acc"] for f in finals]
            row[f"{task} acc"] = float(np.mean(values))
            row[f"{task} min-max"] = f"{min(values):.3f}-{max(values):.3f}"
        deltas = [100 * np.mean([(by[(label, s)][f"{t}/acc"] - by[("EW", s)][f"{t}/acc"]) / by[("EW", s)][f"{t}/acc"]
                                 for t in ("left", "right")]) for s in seeds if (label, s) in by]  # fmt: skip
        mean, half = mean_ci95(deltas)
        row["Δm % vs EW"] = f"{mean:+.1f}" if math.isnan(half) else f"{mean:+.1f} ± {half:.1f}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def run_digits(profile: str, seeds: Sequence[int], results_dir: str | Path, device: str = "auto") -> pd.DataFrame:
    """Train (or reuse from ``results_dir``) the variants and return :func:`digit_table`."""
    return digit_table(sweep(digit_configs(profile, seeds, device), results_dir, workers=1, progress=False))


def gradnorm_configs(profile: str, device: str = "auto") -> list:
    """AdaTask's synthetic problem with rAU diagnostics: GradNorm at α = 1.5 (default), at the rAU
    chapter's ablation values (0.12, the GradNorm paper's value for its synthetic example, and 0,
    equal gradient norms), and EW, seed 0."""
    from mtl_lib.studies.adatask_rau.config import ABLATION_METHODS, run_config

    base = run_config(profile, "GradNorm", 0, device, ("rau",))
    return [
        dataclasses.replace(base, weighting_kwargs={}, label="GradNorm α = 1.5 (default)"),
        *(run_config(profile, label, 0, device, ("rau",)) for label in ABLATION_METHODS),
        run_config(profile, "EqualWeight", 0, device, ("rau",)),
    ]


def gradnorm_buckets(profile: str, results_dir: str | Path, device: str = "auto") -> pd.DataFrame:
    """rAU(B) bucket shares (% of the shared parameters) per run of :func:`gradnorm_configs`."""
    from mtl_lib.studies.adatask_rau.buckets import bucket_frame, bucket_table

    records = sweep(gradnorm_configs(profile, device), results_dir, workers=1, progress=False)
    return bucket_table(bucket_frame(records)).round(1)


def pcd_vs_torchjd(calls: int = 5) -> float | None:
    """Largest relative difference between our PCD's and TorchJD 0.18's directions over the
    properties table's Jacobians, ``calls`` successive calls each (their EMA state included);
    None without TorchJD."""
    from mtl_lib.aggregators import PCD
    from mtl_lib.studies.method_properties import conflicting_jacobians

    tj = torchjd()
    if tj is None:
        return None
    worst = 0.0
    for jac in conflicting_jacobians(10):
        ours, theirs = PCD(), tj.PCD()
        for _ in range(calls):
            a, b = ours(jac).direction, theirs(jac)
            worst = max(worst, float((a - b).norm() / b.norm()))
    return worst


# ----------------------------------------------------------------------------- CAGrad's own settings
#: The saved result of CAGrad's own toy settings (``benchmarks/saved/misbehaving_cagrad.paper.json``):
#: a benchmark command writes it, not a study's sweep, so it lives with the other benchmark results
#: a page shows rather than among the studies' saved summaries in ``data/paper_verdicts/``.
CAGRAD_SAVED = "misbehaving_cagrad"
CAGRAD_FOLDER = Path(__file__).resolve().parents[3] / "benchmarks" / "saved"
CAGRAD_COMMAND = "PYTHONPATH=. python benchmarks/misbehaving.py cagrad --official"


def _cagrad_folder(folder: str | Path | None) -> str | Path:
    # MTL_SUMMARIES_DIR still redirects it (tests, a reader's own copy), as for every saved summary
    return folder if folder is not None else os.environ.get("MTL_SUMMARIES_DIR") or CAGRAD_FOLDER


def save_cagrad_official(folder: str | Path | None = None) -> Path:
    """Run CAGrad's toy at the authors' settings (:data:`CAGRAD_OFFICIAL`, ~10 min on one core)
    from the start the book's budget does not bring to the Pareto set, and save the result."""
    torch.set_num_threads(1)
    table = cagrad_toy([CAGRAD_OFFICIAL], starts=[(-8.5, 7.5)])
    payload = {"settings": list(CAGRAD_OFFICIAL), "rows": table.astype({"start": str}).to_dict(orient="records")}
    text = "# CAGrad, the authors' toy settings\n\n" + table.to_markdown(index=False) + "\n"
    return write_summary(CAGRAD_SAVED, "paper", payload, text, _cagrad_folder(folder))


def read_cagrad_official(folder: str | Path | None = None) -> dict[str, Any] | None:
    """The saved result, or None; one whose settings differ from :data:`CAGRAD_OFFICIAL` is stale."""
    saved = read_summary(
        CAGRAD_SAVED, "paper", _cagrad_folder(folder), command=CAGRAD_COMMAND, required={"settings": list, "rows": list}
    )
    if saved is not None and tuple(saved["settings"]) != CAGRAD_OFFICIAL:
        raise ValueError(f"{CAGRAD_SAVED}: saved for settings {saved['settings']}, the code's are "
                         f"{list(CAGRAD_OFFICIAL)}; re-run: {CAGRAD_COMMAND}")  # fmt: skip
    return saved


__all__ = [
    "CAGRAD_COMMAND", "CAGRAD_SAVED", "DIGIT_VARIANTS", "digit_configs", "digit_table", "gradnorm_buckets",
    "gradnorm_configs", "pcd_vs_torchjd", "read_cagrad_official", "run_digits", "save_cagrad_official",
]  # fmt: skip
