"""The rAU study's settings per profile, its methods and its run configs; the published values
of Fig. 1 it is compared with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from mtl_lib.core.runtime import resolve_device
from mtl_lib.experiments import RunConfig
from mtl_lib.studies import adatask_regime as regime
from mtl_lib.studies._profiles import per_profile
from mtl_lib.studies.adatask_synthetic import synthetic_config

PROBLEM = "synthetic_regression"


#: The training sizes come from the frozen regime (:mod:`mtl_lib.studies.adatask_regime`). ``seeds``: the
#: bucket-share runs (Fig. 2); the probe runs (Fig. 1, LR, γ) use the first seed. ``noise_draws``:
#: noise samples per setting in Fig. 1 (the paper does not say how many it used).
#: ``probe_per_layer``: shared parameters sampled per layer for the learning-rate probe.
SETTINGS: dict[str, dict[str, Any]] = {
    # ablations: which GradNorm α of ABLATION_METHODS run (the build runs α = 0 only: the synthetic
    # chapters' notebooks must stay within 10 minutes at quick; paper runs both)
    "smoke": dict(seeds=(0,), noise_draws=2, probe_per_layer=8, ablations=(0.0,)),
    "quick": dict(seeds=(0, 1), noise_draws=10, probe_per_layer=64, ablations=(0.0,)),  # 2 seeds: the 12-minute build
    "paper": dict(seeds=tuple(range(10)), noise_draws=20, probe_per_layer=64, ablations=(0.12, 0.0)),  # >= 10 seeds
}


def _with_regime(profile: str, own: dict[str, Any]) -> dict[str, Any]:
    return {**regime.settings(profile), **own}


#: The frozen regime at a profile (:mod:`mtl_lib.studies.adatask_regime`: sizes, learning rate,
#: RMSProp decay, data reading) plus this study's own seeds, noise draws and probe size.
settings = per_profile(SETTINGS, derive=_with_regime)


#: Method label → ingredients (RMSProp unless the method is an optimizer).
METHODS: dict[str, dict[str, Any]] = {
    "EqualWeight": dict(weighting="ew", optimizer="rmsprop"),
    "PCGrad": dict(weighting="ew", aggregator="pcgrad", optimizer="rmsprop"),
    "UW": dict(weighting="uw", optimizer="rmsprop"),
    "CAGrad": dict(weighting="ew", aggregator="cagrad", optimizer="rmsprop"),
    "GradNorm": dict(weighting="gradnorm", optimizer="rmsprop"),
    "AdaTask": dict(weighting="ew", optimizer="adatask_rmsprop"),
}


#: Ablations (ours), run like the methods but not among them: GradNorm at smaller asymmetries α
#: than the methods' GradNorm (the library default 1.5, GradNorm's NYUv2 value; AdaTask does not
#: say which it used): 0.12, the value of GradNorm's own toy example (Chen et al. 2018, §4), and
#: 0, equal gradient norms, the balance AdaTask's text credits GradNorm with.
ABLATION_METHODS: dict[str, dict[str, Any]] = {
    f"GradNorm (α = {alpha:g})": dict(weighting="gradnorm", weighting_kwargs={"alpha": alpha}, optimizer="rmsprop")
    for alpha in (0.12, 0.0)
}


#: Fig. 1: noise variances on the top-1 % and fractions at variance 0.01 (the paper's grid).
NOISE_VARIANCES = (0.01, 0.02, 0.03, 0.04, 0.05)
NOISE_FRACTIONS = (0.01, 0.05, 0.10, 0.20)


#: rAU decays tracked by the probe runs (0.9 is the library's default, used by the sweep).
RAU_GAMMAS = (0.9, 0.99, 0.999)
TOP = "top rAU(B)"
RANDOM = "random"
#: The ablation of Fig. 1 (ours): the top parameters by task B's AU, how much B moves them.
TOP_AU = "top AU(B)"
#: ... and by how much B's predictions depend on them (the diagonal Fisher of B's outputs).
TOP_FISHER = "top Fisher(B)"


#: The values of Fig. 1 the paper states in its text (relative RMSE increase, %).
PUBLISHED_FIG1 = pd.DataFrame(
    [
        (0.05, 0.01, "A", 3.23),
        (0.05, 0.01, "B", 175.13),
        (0.01, 0.01, "B", 7.20),
        (0.01, 0.20, "B", 72.62),
    ],
    columns=["variance", "fraction", "task", "increase_pct"],
)


def limit_cpu_threads(device: str = "auto") -> None:
    """Use one CPU thread when training on the CPU.

    The models here are tiny (≈55 k shared parameters), so intra-op parallelism buys little;
    on the book's shared 2-core machine, with other processes running, two threads made a
    synthetic training step 10–100× slower than one (oversubscription), so the notebooks pin
    one thread. On a GPU nothing is changed."""
    if resolve_device(device).type == "cpu":
        torch.set_num_threads(1)


def run_config(profile: str, method: str, seed: int, device: str, diagnostics: tuple[str, ...]) -> RunConfig:
    """The run of ``method`` at ``profile``'s size (RMSProp family), recording ``diagnostics``."""
    known = {**METHODS, **ABLATION_METHODS}
    if method not in known:
        raise ValueError(f"unknown method {method!r}; this study knows {list(known)}")
    return synthetic_config(settings(profile), method, seed, device, diagnostics=diagnostics, **known[method])


def bucket_configs(profile: str, methods: Sequence[str] | None = None, device: str = "auto") -> list[RunConfig]:
    """Fig. 2: one run per method and seed, recording rAU bucket shares."""
    chosen = list(METHODS) if methods is None else list(methods)
    return [run_config(profile, m, seed, device, ("rau",)) for m in chosen for seed in settings(profile)["seeds"]]


def ablation_configs(profile: str, device: str = "auto") -> list[RunConfig]:
    """The ablation runs of :data:`ABLATION_METHODS` whose α the profile lists, one per seed,
    recording rAU bucket shares."""
    size = settings(profile)
    chosen = [m for m, fields in ABLATION_METHODS.items() if fields["weighting_kwargs"]["alpha"] in size["ablations"]]
    return [run_config(profile, m, seed, device, ("rau",)) for m in chosen for seed in size["seeds"]]


__all__ = [
    "ABLATION_METHODS",
    "METHODS",
    "NOISE_FRACTIONS",
    "NOISE_VARIANCES",
    "PROBLEM",
    "PUBLISHED_FIG1",
    "RANDOM",
    "RAU_GAMMAS",
    "SETTINGS",
    "TOP",
    "TOP_AU",
    "TOP_FISHER",
    "ablation_configs",
    "bucket_configs",
    "limit_cpu_threads",
    "run_config",
    "settings",
]
