"""The calibration chapter (``notebooks/calibration.md``): how the open settings of the two
source documents were chosen on their baselines only and frozen.

The searches themselves live in :mod:`.adatask_calibration` (AdaTask's synthetic problem) and
:mod:`.leaf_calibration` (the leaf stand-in's difficulty); this module declares the chapter.
Its records are committed under ``data/calibration/`` and re-used by the notebook, which runs
the staged searches itself (each stage's candidates depend on the previous stage's winner).
"""

from __future__ import annotations

from mtl_lib.core.profiles import PROFILES
from mtl_lib.studies import adatask_calibration, leaf_calibration
from mtl_lib.studies._common import per_profile
from mtl_lib.studies.registry import Study

#: Both searches' sizes per profile.
SETTINGS = {
    profile: {
        "synthetic search": adatask_calibration.SEARCH_SIZE[profile],
        "leaf search": leaf_calibration.SEARCH_SIZE[profile],
    }
    for profile in PROFILES
}
settings = per_profile(SETTINGS)

STUDY = Study(
    "calibration", "calibration",
    "About this book: the papers' open settings searched on the baselines only, then frozen",
    settings=settings, estimated_s=8,
)  # fmt: skip

__all__ = ["SETTINGS", "STUDY", "settings"]
