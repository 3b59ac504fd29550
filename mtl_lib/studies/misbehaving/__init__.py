"""The survey chapter's "When a method misbehaves" page (``notebooks/misbehaving.md``).

Each anomaly a chapter showed is cut down to a minimal reproduction, run on this library and,
where it has the method, on TorchJD 0.18 on the same input (:mod:`.reproductions`: seconds; and
:mod:`.training`: short trainings at the page's profile). :func:`compute` runs them all and
:func:`.audit.audit_table` turns the results into the audit table, so every number on the page is
computed in its execution. The one exception is CAGrad's own toy settings (100,000 Adam steps,
~10 min on one core): a result file the library writes (``benchmarks/misbehaving.py cagrad
--official``) and the page reads, refusing one made for other settings.

The page also shows the properties table of every registered aggregator and weighting
(:func:`mtl_lib.studies.method_properties.method_properties`, one call, so a new method gets its
row without code of its own) with the paper claims beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtl_lib.studies._common import per_profile
from mtl_lib.studies.misbehaving import audit, reproductions, training
from mtl_lib.studies.misbehaving.audit import *  # noqa: F403
from mtl_lib.studies.misbehaving.reproductions import *  # noqa: F403
from mtl_lib.studies.misbehaving.training import *  # noqa: F403
from mtl_lib.studies.registry import Study

#: Per profile: the MultiDigits profile and seeds of the digit variants, the AdaTask-rAU profile
#: of the GradNorm runs, how many of CAGrad's toy settings to run, and the properties table's toy
#: steps (0: no toy column).
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {"digits": "smoke", "digit_seeds": (0, 1), "gradnorm": "smoke", "cagrad_settings": 2, "toy_steps": 0},
    "quick": {"digits": "quick", "digit_seeds": (0, 1, 2), "gradnorm": "quick", "cagrad_settings": 4, "toy_steps": 800},
    "paper": {"digits": "paper", "digit_seeds": (0, 1, 2), "gradnorm": "paper", "cagrad_settings": 4, "toy_steps": 800},
}  # fmt: skip

settings = per_profile(SETTINGS)


def compute(profile: str, results_dir: str | Path, device: str = "auto") -> dict[str, Any]:
    """Every reproduction of the audit at ``profile`` (trainings go to ``results_dir`` and are
    reused from there), keyed as :func:`.audit.audit_table` reads them."""
    from mtl_lib.studies import multidigits as md

    size = settings(profile)
    results_dir = Path(results_dir)
    return {
        "profile": profile,
        "excess": reproductions.excess_weights(),
        "pcd": reproductions.pcd_rescaling(),
        "dualcone": reproductions.dual_cone_conflict(),
        "imtl_g": reproductions.imtl_g_projections(),
        "sdmgrad": reproductions.sdmgrad_pair(),
        "cagrad": reproductions.cagrad_toy(reproductions.CAGRAD_SETTINGS[: size["cagrad_settings"]]),
        "cagrad_official": training.read_cagrad_official(),
        "torchjd": reproductions.torchjd_properties(),
        "gradnorm": training.gradnorm_buckets(size["gradnorm"], results_dir / "gradnorm", device),
        "digits": training.run_digits(size["digits"], size["digit_seeds"], results_dir / "digits", device),
        "pcd_torchjd": training.pcd_vs_torchjd(),
        "saved_paper": md.read_saved("paper"),
    }


STUDY = Study(
    "misbehaving", "misbehaving", "When a method misbehaves: minimal reproductions, causes and classes",
    settings=settings, estimated_s=600,
)  # fmt: skip

__all__ = [*audit.__all__, *reproductions.__all__, *training.__all__, "SETTINGS", "settings", "compute", "STUDY"]
