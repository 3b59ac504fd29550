"""AdaTask's result tables (Yang et al., AAAI 2023): Table 2 and Table 5 on the synthetic
regression, Table 1 and Fig. 3 on CityScapes.

The notebook ``notebooks/adatask_tables.md`` is a thin layer over this package (:mod:`.synthetic`,
:mod:`.cityscapes`; every public name is re-exported here). Every run goes
through :func:`mtl_lib.experiments.sweep`, so a re-executed notebook only trains what is missing.

Synthetic (Tables 2 and 5): RMSProp at the setting frozen by the EqualWeight-only calibration
(:mod:`mtl_lib.studies.adatask_regime`), five seeds at ``quick`` and ``paper``.

CityScapes (Table 1, Fig. 3): MTAN's protocol as CAGrad and AdaTask use it (Adam; AdaTask
variants use AdaTask-Adam), segmentation (7 classes) + depth with the SegNet-like
:func:`mtl_lib.architectures.dense.dense_segnet`. Without ``data_dir`` the problem is the
generated stand-in of :mod:`mtl_lib.data.cityscapes`, *not* CityScapes; its numbers are only
comparable between methods, never with the paper's. Learning rate: 1e-4 at ``paper`` (MTAN and
CAGrad's Adam learning rate; they also halve it after 100 of 200 epochs, which the runner does
not do), 1e-3 at ``smoke`` and ``quick``, whose runs are far too short for 1e-4 to move the
small model (our choice).

"AdaTask + CAGrad": CAGrad yields one direction d = Σ_k ω_k g_k; the engine feeds AdaTask the
rows ω_k g_k (see :mod:`mtl_lib.optim.adatask`). AdaTask normalises each row by its own history,
so a weight that stays constant over time cancels and only the weights' variation survives;
the paper's full version describes its own combination, which we have not seen.
"""

from mtl_lib.studies.adatask_tables import cityscapes, synthetic
from mtl_lib.studies.adatask_tables.cityscapes import *  # noqa: F403
from mtl_lib.studies.adatask_tables.synthetic import *  # noqa: F403
from mtl_lib.studies.registry import Study, one_stage

STUDY = Study(
    "adatask_tables", "adatask_tables",
    "AdaTask Table 1 and Fig. 3: CityScapes (and Tables 2 and 5 from adatask_synthetic)",
    settings=cityscapes.cityscapes_settings, estimated_s=350, sweep=one_stage(cityscapes.cityscapes_configs, data=True),
    reads_data=True, claims=synthetic.SYNTHETIC_CLAIM_IDS + cityscapes.CITYSCAPES_CLAIM_IDS,
    captions=(("study.plot_overall_buckets(", "Share of shared parameters in each rAU(B) bucket at the end of "
               "CityScapes training, per method (mean over seeds); cf. the paper's Fig. 3 (real CityScapes)."),),
)  # fmt: skip

__all__ = [*synthetic.__all__, *cityscapes.__all__, "STUDY"]
