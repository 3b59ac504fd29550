"""Run sizes per profile, the one convention every study follows: ``settings = per_profile(SETTINGS)``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from mtl_lib.core.profiles import PROFILES, select


def per_profile(
    table: Mapping[str, Mapping[str, Any]],
    derive: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
) -> Callable[[str], dict[str, Any]]:
    """``settings = per_profile(SETTINGS)``: a function from a profile name to a fresh copy of
    that profile's row of ``table`` (a ``{profile: {setting: value}}`` mapping). The table is
    checked for every profile when the study module is imported, not when a notebook asks.

    ``derive(profile, row)`` completes a row from elsewhere (a frozen calibration, another
    study's settings) when the table holds only what this study sets itself."""
    missing = [p for p in PROFILES if p not in table]
    if missing:
        raise ValueError(f"settings table lacks profiles {missing}; every study defines {list(PROFILES)}")

    def settings(profile: str) -> dict[str, Any]:
        """This study's run sizes at ``profile`` (``smoke``, ``quick`` or ``paper``)."""
        row = dict(select(profile, table))
        return dict(derive(profile, row)) if derive is not None else row

    return settings


def settings_by_profile(settings: Callable[[str], Mapping[str, Any]], current: str | None = None) -> pd.DataFrame:
    """Every profile's settings side by side (one column per profile, ``current`` marked), so that
    prose never has to quote a setting: it points at this table."""
    columns = {}
    for profile in PROFILES:
        label = f"{profile} (this page)" if profile == current else profile
        columns[label] = pd.Series(
            {k: v if isinstance(v, (int, float, str)) else str(v) for k, v in settings(profile).items()}
        )
    return pd.DataFrame(columns).fillna("")


__all__ = ["per_profile", "settings_by_profile"]
