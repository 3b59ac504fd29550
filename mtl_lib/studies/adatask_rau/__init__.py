"""AdaTask's task-dominance analysis on the synthetic regression (Yang et al., AAAI 2023,
Figs. 1 and 2 and the "learning-rate dominance" paragraph of RQ3).

The notebook ``notebooks/adatask_rau.ipynb`` is a thin layer over this package. Three questions:

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
:mod:`.buckets`, :mod:`.noise`, :mod:`.lr_probe`, :mod:`.probes`, :mod:`.plots`, :mod:`.claims`.
"""

from mtl_lib.diagnostics.rau import RAUTracker
from mtl_lib.studies.adatask_rau.buckets import (
    bucket_frame,
    bucket_history,
    bucket_labels,
    bucket_table,
    gamma_table,
    layer_of,
    pretty_bucket,
    shared_tensor_sizes,
)
from mtl_lib.studies.adatask_rau.claims import check_claims
from mtl_lib.studies.adatask_rau.config import (
    METHODS,
    NOISE_FRACTIONS,
    NOISE_VARIANCES,
    PROBLEM,
    PUBLISHED_FIG1,
    RANDOM,
    RAU_GAMMAS,
    SETTINGS,
    TOP,
    bucket_configs,
    limit_cpu_threads,
    run_config,
    settings,
)
from mtl_lib.studies.adatask_rau.lr_probe import LearningRateProbe
from mtl_lib.studies.adatask_rau.noise import (
    NoiseProbe,
    add_noise_,
    noise_experiment,
    noise_summary,
    noise_table,
    top_fraction_indices,
)
from mtl_lib.studies.adatask_rau.plots import (
    BUCKET_COLORS,
    plot_bucket_history,
    plot_buckets,
    plot_learning_rates,
    plot_noise,
)
from mtl_lib.studies.adatask_rau.probes import GammaSweep, probe_identity, probe_path, probe_run

__all__ = [
    "BUCKET_COLORS",
    "METHODS",
    "NOISE_FRACTIONS",
    "NOISE_VARIANCES",
    "PROBLEM",
    "PUBLISHED_FIG1",
    "RANDOM",
    "RAU_GAMMAS",
    "SETTINGS",
    "TOP",
    "GammaSweep",
    "LearningRateProbe",
    "NoiseProbe",
    "RAUTracker",
    "add_noise_",
    "bucket_configs",
    "bucket_frame",
    "bucket_history",
    "bucket_labels",
    "bucket_table",
    "check_claims",
    "gamma_table",
    "layer_of",
    "limit_cpu_threads",
    "noise_experiment",
    "noise_summary",
    "noise_table",
    "plot_bucket_history",
    "plot_buckets",
    "plot_learning_rates",
    "plot_noise",
    "pretty_bucket",
    "probe_identity",
    "probe_path",
    "probe_run",
    "run_config",
    "settings",
    "shared_tensor_sizes",
    "top_fraction_indices",
]
