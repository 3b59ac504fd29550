"""The MultiDigits chapter: every method of the book on REAL handwritten digits.

The notebook ``notebooks/multidigits.md`` is a thin layer over this package. Data: the
"multidigits" problem (:mod:`mtl_lib.problems.multidigits`): two overlapping 8×8 digits from
scikit-learn's bundled UCI digits on a 12×12 canvas, tasks "left digit" and "right digit"; the
composition is ours, the digits are real. Network: a LeNet-style shared encoder with one head
per task (:func:`mtl_lib.architectures.lenet.lenet`).

One shared protocol: every method trains the same network from the same initial weights
(per seed) with the same batch size, epochs and data order, and the learning rate of its base
optimizer, chosen once for EW on the validation split (:func:`choose_base_lrs`) and frozen; the
methods come from the registries, so a newly registered method joins automatically:

* every loss weighting (``WEIGHTINGS``) with Adam;
* every gradient aggregator (``AGGREGATORS``) with equal loss weights and Adam, except those in
  :data:`SKIPPED` (each with its reason);
* RotoGrad (the problem's ``rotograd`` option) with equal weights and Adam;
* every AdaTask optimizer (``OPTIMIZERS`` names starting ``adatask_``/``ladatask_``) with equal
  weights. Their reference is equal weighting with the *same base optimizer* (so the
  comparison isolates the task-wise accumulators), which adds "EW · RMSProp" and
  "EW · AdaGrad" rows.

Reported: per-task test accuracy, Δm against the reference (the mean over tasks of the relative
accuracy change, in %, paired by seed) with a 95 % t-interval over seeds, a plain verdict, the
mean rank, and the training cost per step relative to EW measured in the same runs.

Tuned EW: a small learning-rate × weight-decay grid for EW + Adam, scored on the *validation*
split; the best setting is re-run on the test split with every seed. Careful comparisons
(Kurin et al. 2022; Xin et al. 2022) found that such a tuned EW matches most specialised
methods; :func:`tuned_ew_verdict` says whether this benchmark agrees.

rAU diagnostics: AdaTask's bucket shares of the shared parameters (Fig. 2 of Yang et al. 2023)
for EW, GradNorm, UW, CAGrad and AdaTask-Adam, with balanced losses and with the right digit's
loss ×10.

Equal tuning budget (:mod:`.equal_tuning`): every method searched on a grid of the same size as
tuned EW's (learning rate × its one most important hyperparameter), chosen on validation, and
compared with tuned EW on test.

Modules: :mod:`.config` (settings, methods, run configs), :mod:`.tuning` (learning rates and tuned
EW chosen on validation), :mod:`.equal_tuning`, :mod:`.tables` (Δm, verdicts, ranks, the claim), :mod:`.rau`, :mod:`.pages`
(data facts, samples, Δm figure, cost estimate), :mod:`.saved` (the sweep plan and the saved
``paper`` summary). The package re-exports every public name, so the notebook reads ``md.<name>``.
"""

from mtl_lib.studies.multidigits import config, equal_tuning, pages, rau, saved, tables, tuning
from mtl_lib.studies.multidigits.config import *  # noqa: F403
from mtl_lib.studies.multidigits.config import _config  # noqa: F401  (the problem tests build single runs)
from mtl_lib.studies.multidigits.equal_tuning import *  # noqa: F403
from mtl_lib.studies.multidigits.pages import *  # noqa: F403
from mtl_lib.studies.multidigits.rau import *  # noqa: F403
from mtl_lib.studies.multidigits.saved import *  # noqa: F403
from mtl_lib.studies.multidigits.tables import *  # noqa: F403
from mtl_lib.studies.multidigits.tuning import *  # noqa: F403
from mtl_lib.studies.registry import Study

STUDY = Study(
    "multidigits", "multidigits", "Every registered method on real handwritten digits, two per image",
    settings=config.settings, estimated_s=380, sweep=saved.sweep_plan, claims=(tables.CLAIM_ID, equal_tuning.EQUAL_CLAIM_ID),
    saved_summary=saved.SAVED_NAME, write_summary=saved.write_cli_summary,
)  # fmt: skip

__all__ = [
    *config.__all__, *equal_tuning.__all__, *pages.__all__, *rau.__all__, *saved.__all__, *tables.__all__, *tuning.__all__, "STUDY",
]  # fmt: skip
