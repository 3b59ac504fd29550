"""Run-size profiles shared by every notebook.

- ``smoke``: seconds; what nbval runs in CI. Checks that the code path works, not the science.
- ``quick``: minutes on a laptop CPU; what the default book build executes.
- ``paper``: the source documents' own settings where they give them (GPU advised).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")

PROFILES: tuple[str, ...] = ("smoke", "quick", "paper")


class UnknownProfileError(ValueError):
    pass


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise UnknownProfileError(
            f"Unknown profile {profile!r}. Valid profiles: {', '.join(PROFILES)} "
            "(smoke: seconds, for CI; quick: minutes on a CPU; paper: the documents' settings)."
        )
    return profile


def select(profile: str, settings: Mapping[str, T]) -> T:
    """Pick the settings of ``profile`` from a ``{profile: settings}`` table."""
    check_profile(profile)
    missing = [p for p in PROFILES if p not in settings]
    if missing:
        raise ValueError(f"settings table lacks profiles {missing}")
    return settings[profile]
