"""What every chapter's study shares: run sizes per profile, claims with a verdict, and the
paired difference that most verdicts rest on.

Verdicts follow the book's reproduction protocol (``book/reproducing.md``):

* ``REPRODUCED`` — the claim holds; for a claimed difference, the 95 % interval of the paired
  difference lies entirely on the claimed side of zero;
* ``SAME DIRECTION`` — a claimed difference points the claimed way but its interval reaches zero
  (or there is only one pair, so no interval);
* ``NOT REPRODUCED`` — the claim does not hold / the difference points the other way;
* ``UNDECIDED`` — a claimed difference sits on the edge: its mean lies within one standard
  error (:data:`EDGE_SE`) of zero, or its interval's near end within one standard error of zero.
  A re-run on another machine, thread count or seed set could flip such a verdict between its
  neighbours, so the book does not pick one (measured for issue 16: on the leaf chapter at
  ``quick``, differences of +0.003 ± 0.072 and −0.002 ± 0.044 had been called SAME DIRECTION and
  NOT REPRODUCED).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from mtl_lib.core.profiles import PROFILES, select
from mtl_lib.experiments.saved_summaries import describe, missing_message, read_summary
from mtl_lib.metrics.stats import mean_ci95, t_quantile_975

REPRODUCED = "REPRODUCED"
SAME_DIRECTION = "SAME DIRECTION"
NOT_REPRODUCED = "NOT REPRODUCED"
UNDECIDED = "UNDECIDED"
VERDICTS: tuple[str, ...] = (REPRODUCED, SAME_DIRECTION, NOT_REPRODUCED, UNDECIDED)

#: Width of the "on the edge" band around each threshold of a paired difference's verdict, in
#: standard errors of the mean difference.
EDGE_SE = 1.0


# ----------------------------------------------------------------------------- settings per profile
def per_profile(table: Mapping[str, Mapping[str, Any]]) -> Callable[[str], dict[str, Any]]:
    """``settings = per_profile(SETTINGS)``: a function from a profile name to a fresh copy of
    that profile's row of ``table`` (a ``{profile: {setting: value}}`` mapping). The table is
    checked for every profile when the study module is imported, not when a notebook asks."""
    missing = [p for p in PROFILES if p not in table]
    if missing:
        raise ValueError(f"settings table lacks profiles {missing}; every study defines {list(PROFILES)}")

    def settings(profile: str) -> dict[str, Any]:
        """This study's run sizes at ``profile`` (``smoke``, ``quick`` or ``paper``)."""
        return dict(select(profile, table))

    return settings


# ----------------------------------------------------------------------------- paired differences
@dataclass(frozen=True)
class PairedDifference:
    """Mean of ``a − b`` over the pairs (seeds or folds) both have, and the half-width of its
    95 % t-interval (``nan`` with fewer than two pairs)."""

    mean: float
    half_width: float
    n: int

    def describe(self, digits: int = 4, unit: str = "seeds") -> str:
        """``"+0.0123 ± 0.0045 over 3 seeds"`` (no interval with a single pair)."""
        if math.isnan(self.half_width):
            return f"{self.mean:+.{digits}f} over {self.n} {unit} (no interval)"
        return f"{self.mean:+.{digits}f} ± {self.half_width:.{digits}f} over {self.n} {unit}"

    @property
    def standard_error(self) -> float:
        """The mean difference's standard error (the half-width over the t quantile)."""
        if self.n < 2 or math.isnan(self.half_width):
            return math.nan
        return self.half_width / t_quantile_975(self.n - 1)

    def verdict(self, expect: Literal["positive", "negative"] = "positive") -> str:
        """The verdict on the claim "a − b is ``expect``" (see the module docstring)."""
        if expect not in ("positive", "negative"):
            raise ValueError(f"expect must be 'positive' or 'negative', got {expect!r}")
        sign = 1.0 if expect == "positive" else -1.0
        mean = sign * self.mean
        if self.n == 0 or math.isnan(mean):
            return NOT_REPRODUCED
        edge = EDGE_SE * self.standard_error
        if edge > 0 and (abs(mean) <= edge or abs(mean - self.half_width) <= edge):
            return UNDECIDED
        if mean <= 0:
            return NOT_REPRODUCED
        if self.n >= 2 and not math.isnan(self.half_width) and mean - self.half_width > 0:
            return REPRODUCED
        return SAME_DIRECTION

    def verdict_no_effect(self, excluded: Literal["positive", "negative"] = "negative") -> str:
        """The verdict on a "no effect" claim, "a − b is not detectably ``excluded``": NOT
        REPRODUCED when the whole 95 % interval lies on the ``excluded`` side of zero, REPRODUCED
        otherwise, UNDECIDED when the interval's far end is within one standard error of zero
        (or, with a single pair, by the sign of the mean)."""
        if excluded not in ("positive", "negative"):
            raise ValueError(f"excluded must be 'positive' or 'negative', got {excluded!r}")
        sign = 1.0 if excluded == "positive" else -1.0
        mean = sign * self.mean
        if self.n == 0 or math.isnan(mean):
            return NOT_REPRODUCED
        if self.n < 2 or math.isnan(self.half_width):
            return NOT_REPRODUCED if mean > 0 else REPRODUCED
        near_end = mean - self.half_width  # > 0: the interval excludes zero on the excluded side
        if self.standard_error > 0 and abs(near_end) <= EDGE_SE * self.standard_error:
            return UNDECIDED
        return NOT_REPRODUCED if near_end > 0 else REPRODUCED


def paired_difference(
    frame: pd.DataFrame, a: str, b: str, value: str, *, label: str = "method", pair: str = "seed"
) -> PairedDifference:
    """``a − b`` of column ``value``, paired on column ``pair`` (seed, fold), where ``label``
    names the rows' method (or approach)."""
    left = frame[frame[label] == a].set_index(pair)[value]
    right = frame[frame[label] == b].set_index(pair)[value]
    common = left.index.intersection(right.index)
    diffs = (left.loc[common] - right.loc[common]).tolist()
    if not diffs:
        return PairedDifference(math.nan, math.nan, 0)
    mean, half = mean_ci95(diffs)
    return PairedDifference(mean, half, len(diffs))


# ----------------------------------------------------------------------------- claims
@dataclass(frozen=True)
class Claim:
    """One of a paper's claims, what the paper reports, what we measured, and the verdict.

    Build it with :meth:`check` (a yes/no criterion) or :meth:`difference` (a paired
    difference with a claimed sign)."""

    claim: str
    paper: str
    ours: str
    verdict: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @classmethod
    def check(cls, claim: str, paper: str, ours: str, holds: bool) -> Claim:
        """A claim with a yes/no criterion (stated in ``claim``): REPRODUCED or NOT REPRODUCED."""
        return cls(claim, paper, ours, REPRODUCED if bool(holds) else NOT_REPRODUCED)

    @classmethod
    def difference(
        cls,
        claim: str,
        paper: str,
        ours: str,
        difference: PairedDifference,
        expect: Literal["positive", "negative"] = "positive",
    ) -> Claim:
        """A claimed difference: the verdict of :meth:`PairedDifference.verdict`."""
        return cls(claim, paper, ours, difference.verdict(expect))

    @property
    def reproduced(self) -> bool:
        return self.verdict == REPRODUCED

    def sentence(self) -> str:
        return f"[{self.verdict}] {self.claim} Paper: {self.paper}. Ours: {self.ours}."


# ----------------------------------------------------------------------------- saved sweeps
def compare_claims(claims: Sequence[Claim], saved: Sequence[Mapping[str, str]], here: str, there: str) -> pd.DataFrame:
    """Each claim checked in this execution beside the same claim (same text) in a saved
    summary's ``claims`` (e.g. the ``paper`` sweep): verdict and measurement at both, and whether
    the verdicts agree (None when the saved summary lacks the claim)."""
    by_text = {row["claim"]: row for row in saved}
    rows = []
    for claim in claims:
        other = by_text.get(claim.claim)
        rows.append({
            "claim": claim.claim,
            f"verdict ({here})": claim.verdict,
            f"ours ({here})": claim.ours,
            f"verdict ({there})": other["verdict"] if other else None,
            f"ours ({there})": other["ours"] if other else None,
            "same verdict": None if other is None else other["verdict"] == claim.verdict,
        })  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.index = range(1, len(frame) + 1)
    return frame


def claims_agreement(comparison: pd.DataFrame, here: str, there: str) -> str:
    """One sentence: how many verdicts agree between the two, and the claims the saved summary lacks."""
    known = comparison[comparison["same verdict"].notna()]
    text = f"{int(known['same verdict'].astype(bool).sum())} of {len(known)} verdicts agree between '{here}' and '{there}'."
    changed = known[~known["same verdict"].astype(bool)]
    if len(changed):
        text += (
            " Changed: "
            + "; ".join(
                f"({i}) {row[f'verdict ({here})']} → {row[f'verdict ({there})']}" for i, row in changed.iterrows()
            )
            + "."
        )
    missing = [str(i) for i in comparison.index if i not in known.index]
    if missing:
        text += f" Not in the saved summary (re-run it to add them): claims {', '.join(missing)}."
    return text


def beside_saved(
    claims: Sequence[Claim],
    name: str,
    here: str,
    *,
    command: str,
    source: str | None = None,
    saved_profile: str = "paper",
) -> tuple[str, pd.DataFrame | None]:
    """This execution's ``claims`` beside the saved summary ``name`` at ``saved_profile`` (only its
    claims from ``source`` when given): a text (where the summary came from and how many verdicts
    agree) and the :func:`compare_claims` table; without a saved summary, the text says how to
    make one (``command``) and the table is None."""
    saved = read_summary(name, saved_profile)
    if saved is None:
        return missing_message(name, saved_profile, command), None
    rows = [c for c in saved["claims"] if source is None or c.get("source") == source]
    there = f"{saved_profile} (saved)"
    comparison = compare_claims(claims, rows, here, there)
    return f"{describe(saved)}\n{claims_agreement(comparison, here, there)}", comparison


__all__ = [
    "NOT_REPRODUCED",
    "REPRODUCED",
    "SAME_DIRECTION",
    "UNDECIDED",
    "VERDICTS",
    "EDGE_SE",
    "Claim",
    "PairedDifference",
    "beside_saved",
    "claims_agreement",
    "compare_claims",
    "paired_difference",
    "per_profile",
]
