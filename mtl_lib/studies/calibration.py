"""The calibration chapter (``notebooks/calibration.md``): how the open settings of the two
source documents were chosen on their baselines only and frozen.

The searches themselves live in :mod:`.adatask_calibration` (AdaTask's synthetic problem) and
:mod:`.leaf_calibration` (the leaf stand-in's difficulty); this module declares the chapter.
Its records are committed under ``data/calibration/`` and re-used by the notebook. Each search is
staged (a stage's candidates depend on the previous stage's winner); the command line runs both
(``python -m mtl_lib run calibration --profile quick --results data``) through the same stage
generators the notebook's ``calibrate`` calls.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from mtl_lib.core.profiles import PROFILES
from mtl_lib.experiments import RunConfig
from mtl_lib.studies import adatask_calibration, leaf_calibration
from mtl_lib.studies._common import per_profile
from mtl_lib.studies.registry import Stage, Study

#: Both searches' sizes per profile.
SETTINGS = {
    profile: {
        "synthetic search": adatask_calibration.SEARCH_SIZE[profile],
        "leaf search": leaf_calibration.SEARCH_SIZE[profile],
    }
    for profile in PROFILES
}
settings = per_profile(SETTINGS)


def _forward(label: str, folder: str, search: Generator[list[RunConfig], Any, Any]) -> Generator[Stage, Any, Any]:
    """A search generator's stages as the registry's stages (records sent back to the search)."""
    configs, index = next(search), 1
    try:
        while True:
            records = yield Stage(f"{label}, stage {index}", configs, folder=folder, per_profile=False)
            configs, index = search.send(records), index + 1
    except StopIteration as done:
        return done.value


def sweep_plan(profile: str, data_dir: str | None, device: str) -> Generator[Stage, Any, None]:
    """Both staged searches, into ``<results>/calibration/{adatask_synthetic,leaf_standin}/``: with
    ``--results data`` the committed folders the chapter reads (``data/calibration/``)."""
    yield from _forward("synthetic search", "calibration/adatask_synthetic", adatask_calibration.search_stages(profile))
    yield from _forward("leaf search", "calibration/leaf_standin", leaf_calibration.search_stages(profile))


STUDY = Study(
    "calibration", "calibration",
    "About this book: the papers' open settings searched on the baselines only (--results data: the committed records)",
    settings=settings, estimated_s=8, sweep=sweep_plan,
    captions=(("# one figure: the search's every", "EqualWeight's task-A and task-B errors at every epoch of every "
               "searched setting (two readings of the task-normalized RMSE), the paper's EqualWeight row (star) "
               "and the frozen winner (cross); log scales."),),
)  # fmt: skip

__all__ = ["SETTINGS", "STUDY", "settings", "sweep_plan"]
