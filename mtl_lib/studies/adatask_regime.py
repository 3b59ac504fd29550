"""The synthetic study's regime: one source for every AdaTask synthetic notebook's run settings.

The settings the paper leaves open are frozen by the EqualWeight-only calibration of
:mod:`mtl_lib.studies.adatask_calibration` (its winner is stored in
``adatask_frozen_setting.json`` beside this module). Every study of the synthetic problem
(Table 2 / Table 5, Fig. 1 / Fig. 2, the EW-vs-PCGrad chapter) builds its runs from here:

* ``paper``: the frozen setting in full (its sample size, epochs, width, learning rate, RMSProp
  decay, batch size, data reading and metric), five seeds;
* ``quick``: the same open choices (so the same regime) at a size that fits the quick build;
  fewer epochs and a smaller training set, five seeds;
* ``smoke``: the same open choices at a toy size; it only checks that the code runs.
"""

from __future__ import annotations

from typing import Any

from mtl_lib.studies._profiles import per_profile
from mtl_lib.studies.adatask_calibration import METRICS, frozen_setting

PROBLEM = "synthetic_regression"

#: How each profile shrinks the frozen setting (None: keep the frozen value).
SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"n_train": 512, "n_test": 256, "epochs": 3, "seeds": (0, 1)},
    # the frozen width (400) costs ~8x a width-100 step: quick trains on 2,000 samples for 15
    # epochs (300 steps) so the synthetic notebooks keep their budget
    "quick": {"n_train": 2_000, "n_test": 1_000, "epochs": 15, "seeds": (0, 1, 2, 3, 4)},
    "paper": {"n_train": None, "n_test": 10_000, "epochs": None, "seeds": (0, 1, 2, 3, 4)},
}


def _resized(profile: str, size: dict[str, Any]) -> dict[str, Any]:
    """The frozen open choices, resized as ``size`` (the profile's row of :data:`SIZES`) says."""
    frozen = frozen_setting()
    n_train = frozen["n_train"] if size["n_train"] is None else min(size["n_train"], frozen["n_train"])
    epochs = frozen["epochs"] if size["epochs"] is None else min(size["epochs"], frozen["epochs"])
    return {
        "n_train": int(n_train),
        "n_test": int(size["n_test"]),
        "epochs": int(epochs),
        "batch_size": int(frozen["batch_size"]),
        "lr": float(frozen["lr"]),
        "alpha": float(frozen["alpha"]),
        "width": int(frozen["width"]),
        "input_dist": frozen["input_dist"],
        "spread": frozen["spread"],
        "target_scaling": frozen["target_scaling"],
        "metric": METRICS[frozen["metric"]],
        "seeds": tuple(size["seeds"]),
    }


#: Run settings at a profile: the frozen open choices, resized as :data:`SIZES` says.
settings = per_profile(SIZES, derive=_resized)


def problem_kwargs(profile: str) -> dict[str, Any]:
    """The ``synthetic_regression`` options of a run at ``profile``."""
    return problem_kwargs_of(settings(profile))


def problem_kwargs_of(s: dict[str, Any]) -> dict[str, Any]:
    """The ``synthetic_regression`` options of a run with settings ``s`` (:func:`settings`)."""
    return {
        "n_train": s["n_train"],
        "n_test": s["n_test"],
        "input_dist": s["input_dist"],
        "spread": s["spread"],
        "target_scaling": s["target_scaling"],
        "hidden": [s["width"]] * 4,
    }


def optimizer_kwargs(profile: str, optimizer: str) -> dict[str, Any]:
    """RMSProp's decay (α) for RMSProp and the RMSProp-based AdaTask variants."""
    return optimizer_kwargs_of(settings(profile), optimizer)


def optimizer_kwargs_of(s: dict[str, Any], optimizer: str) -> dict[str, Any]:
    """:func:`optimizer_kwargs` for settings ``s`` (:func:`settings`)."""
    if "rmsprop" in optimizer:
        return {"alpha": s["alpha"]}
    return {}


def metric(profile: str = "paper") -> str:
    """The frozen reading of "task-normalized RMSE" (the metric key in the records)."""
    return settings(profile)["metric"]
