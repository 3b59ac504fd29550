"""AdaTask's task-dominance analysis on the synthetic regression (Yang et al., AAAI 2023,
Figs. 1 and 2 and the "learning-rate dominance" paragraph of RQ3).

The notebook ``notebooks/adatask_rau.md`` is a thin layer over this package. Three questions:

1. Is rAU a meaningful measure of dominance (Fig. 1)? Train EqualWeight with RMSProp, rank the
   shared parameters by rAU(i, T, B), add Gaussian noise N(0, σ²) to the top x % and measure how
   much each task's test RMSE grows; as a control (ours, not the paper's), add the same noise to
   as many *randomly chosen* shared parameters (:mod:`.noise`).
2. How dominated are the shared parameters under EqualWeight, PCGrad, UW, CAGrad, GradNorm and
   AdaTask-RMSProp (Fig. 2)? Runs go through :func:`mtl_lib.experiments.sweep` with
   ``diagnostics=("rau",)``, which records the rAU bucket shares into each result file
   (:mod:`.buckets`).
3. Is the joint learning rate of RMSProp set by the dominant task? :class:`LearningRateProbe`
   (:mod:`.lr_probe`) follows a seeded sample of shared parameters and compares η/(√G + ε), with
   G RMSProp's own accumulator of the summed gradient, to η/(√G^k + ε), with G^k an accumulator
   fed with task k's gradient only along the same trajectory (the learning rate task k would get
   from an accumulator of its own).

Experiments 1 and 3 run as diagnostics of the runner's own run of the config
(:func:`probe_run` in :mod:`.probes`). rAU's decay γ is not given in the paper; the library's
default is 0.9; the probe runs track several γ at once so the notebook can show how much the
bucket shares depend on it.

Modules: :mod:`.config` (settings per profile, methods, run configs, published values),
:mod:`.buckets`, :mod:`.noise`, :mod:`.lr_probe`, :mod:`.probes`, :mod:`.plots`, :mod:`.claims`,
:mod:`.saved` (the sweep and its saved summary), :mod:`.ablations` (what explains the claims that
fail here).
"""

# Each module lists its public names in ``__all__``; the package re-exports all of them, so a
# notebook reads ``study.plot_buckets`` whichever module it lives in.
from mtl_lib.diagnostics.rau import RAUTracker
from mtl_lib.studies.adatask_rau import ablations, buckets, claims, config, lr_probe, noise, plots, probes, saved
from mtl_lib.studies.adatask_rau.ablations import *  # noqa: F403
from mtl_lib.studies.adatask_rau.buckets import *  # noqa: F403
from mtl_lib.studies.adatask_rau.claims import *  # noqa: F403
from mtl_lib.studies.adatask_rau.config import *  # noqa: F403
from mtl_lib.studies.adatask_rau.lr_probe import *  # noqa: F403
from mtl_lib.studies.adatask_rau.noise import *  # noqa: F403
from mtl_lib.studies.adatask_rau.plots import *  # noqa: F403
from mtl_lib.studies.adatask_rau.probes import *  # noqa: F403
from mtl_lib.studies.adatask_rau.saved import *  # noqa: F403
from mtl_lib.studies.registry import Study

__all__ = [
    "RAUTracker",
    *ablations.__all__,
    *buckets.__all__,
    *claims.__all__,
    *config.__all__,
    *lr_probe.__all__,
    *noise.__all__,
    *plots.__all__,
    *probes.__all__,
    *saved.__all__,
    "STUDY",
]

STUDY = Study(
    "adatask_rau", "adatask_rau",
    "AdaTask Figs. 1-2: rAU buckets (and the Tables 2/5 runs its saved summary carries; the notebook adds probe runs)",
    settings=config.settings, estimated_s=160, sweep=saved.sweep_plan, claims=claims.CLAIM_IDS,
    saved_summary=saved.SUMMARY_KEY, write_summary=saved.write_synthetic_summary,
    captions=(
        ("study.plot_noise(", "Increase of each task's test RMSE when Gaussian noise hits the shared parameters with "
         "the highest rAU(B), against the same noise on as many random parameters (the control); mean over noise draws."),
        ("study.plot_buckets(", "Share of shared parameters in each rAU(B) bucket at the end of training, per method, "
         "for all shared parameters and for each layer; mean over seeds."),
        ("study.plot_bucket_history(", "Share of shared parameters in each rAU(B) bucket over training (first seed), "
         "per method: the form of the paper's Fig. 2."),
        ("study.plot_learning_rates(", "EqualWeight with RMSProp: median (line) and interquartile range (band) over the "
         "sampled shared parameters of the joint effective learning rate and of each task's own, per layer."),
    ),
)  # fmt: skip
