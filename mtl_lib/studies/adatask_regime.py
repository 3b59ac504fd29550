"""The synthetic study's regime: one source for every AdaTask synthetic notebook's run settings.

The settings the paper leaves open are frozen by the EqualWeight-only calibration of
:mod:`mtl_lib.studies.adatask_calibration` (its winner is stored in
``adatask_frozen_setting.json`` beside this module). Every study of the synthetic problem
(Table 2 / Table 5, Fig. 1 / Fig. 2, the EW-vs-PCGrad chapter) builds its runs from here:

* ``paper``: the frozen setting in full (its sample size, epochs, width, learning rate, RMSProp
  decay, batch size, data conventions and metric definition), ten seeds;
* ``quick``: the same open choices (so the same regime) at a size that fits the quick build;
  the frozen budget, a smaller test set, five seeds;
* ``smoke``: the same open choices at a toy size; it only checks that the code runs.
"""

from __future__ import annotations

from typing import Any

from mtl_lib.data import NotebookParameterError
from mtl_lib.problems.synthetic import TASK_NORMALIZATION_LABELS, task_normalized_key
from mtl_lib.studies._profiles import per_profile
from mtl_lib.studies.adatask_calibration import METRICS, frozen_setting

PROBLEM = "synthetic_regression"

#: How each profile shrinks the frozen setting (None: keep the frozen value).
SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"n_train": 512, "n_test": 256, "epochs": 3, "seeds": (0, 1)},
    # the frozen budget in full (1,050 steps at width 200 are cheap: 47 runs + the probe run took
    # 556 CPU-s) with five seeds and a smaller test set; only the seeds and the test set differ from paper
    "quick": {"n_train": None, "n_test": 1_000, "epochs": None, "seeds": (0, 1, 2, 3, 4)},
    # issue 22: at least ten seeds at paper
    "paper": {"n_train": None, "n_test": 10_000, "epochs": None, "seeds": tuple(range(10))},
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
        # settings frozen before issue 22 had neither choice: the generator's defaults
        "noise_spread": frozen.get("noise_spread", "variance"),
        "sampling": frozen.get("sampling", "fixed"),
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
        "noise_spread": s["noise_spread"],
        "sampling": s["sampling"],
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


def definition() -> str:
    """The frozen definition of "task-normalized RMSE" (a key of
    :data:`mtl_lib.problems.synthetic.TASK_NORMALIZATIONS`, e.g. ``"loss_ratio"``)."""
    return str(frozen_setting()["metric"])


def metric_key(chosen: str | None = None) -> str:
    """The record key of definition ``chosen`` (None: the frozen one): the one parameter a
    synthetic table, figure or claim is switched with; an unknown name lists the valid ones."""
    return task_normalized_key(definition() if chosen is None else chosen)


def check_task_normalization(*, task_normalization: Any) -> None:
    """Refuse a bad notebook parameter ``task_normalization`` before anything trains: ``None`` (the
    frozen definition) or one of :data:`~mtl_lib.problems.synthetic.TASK_NORMALIZATION_LABELS`."""
    if task_normalization is not None and (
        not isinstance(task_normalization, str) or task_normalization not in TASK_NORMALIZATION_LABELS
    ):
        raise NotebookParameterError(
            "task_normalization",
            task_normalization,
            f"expected None (the frozen definition) or one of {', '.join(TASK_NORMALIZATION_LABELS)}",
        )


def metric_label(chosen: str | None = None) -> str:
    """How a page names definition ``chosen`` (None: the frozen one)."""
    name = definition() if chosen is None else chosen
    task_normalized_key(name)  # refuses an unknown name, listing the valid ones
    return TASK_NORMALIZATION_LABELS[name]
