"""What every chapter's study shares: run sizes per profile, claims with a verdict, and the
interval estimates (paired differences, per-seed values against a threshold) that verdicts rest on.

One verdict rule for every claim measured over seeds or folds (``book/reproducing.md`` works an
example of each). A claim states an effect on a side of a reference (zero for a difference, the
claimed threshold for a share); the paper's own value of it is its *claimed effect*, when it states one.

* ``REPRODUCED`` — the 95 % interval excludes the reference on the claimed side;
* ``NOT REPRODUCED`` — the interval lies wholly on the wrong side of the reference, or it excludes
  the paper's claimed effect (the effect, if any, is smaller than the paper's, and the run could tell);
* ``INCONCLUSIVE`` — the interval contains both the reference and the paper's effect (or, when the
  paper states no size, the reference): the run is too small to tell. It is reported with the
  smallest effect this run could have detected (:attr:`PairedDifference.detectable`, 80 % power
  at the 5 % level).

Claims that are exact computations with no sampling (a toy problem's optimum, a formula) are
judged yes/no by :meth:`Claim.check`; orderings over seeds ("lowest of six", "X > Y > Z") are tested
pair by pair (:meth:`Claim.pairwise`), never on means alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import pandas as pd
from scipy.stats import t as student_t

from mtl_lib.core.profiles import PROFILES, select
from mtl_lib.experiments.saved_summaries import describe, missing_message, read_summary
from mtl_lib.metrics.stats import mean_ci95, t_quantile_975

REPRODUCED = "REPRODUCED"
NOT_REPRODUCED = "NOT REPRODUCED"
INCONCLUSIVE = "INCONCLUSIVE"
VERDICTS: tuple[str, ...] = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)

#: Power and level at which :attr:`PairedDifference.detectable` is the smallest detectable effect.
POWER, LEVEL = 0.80, 0.05


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


# ----------------------------------------------------------------------------- paired differences
@dataclass(frozen=True)
class PairedDifference:
    """An interval estimate: the mean of ``a − b`` over the pairs (seeds or folds) both have, or of
    one quantity over seeds, and the half-width of its 95 % t-interval (``nan`` with one pair)."""

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
        """The mean's standard error (the half-width over the t quantile)."""
        if self.n < 2 or math.isnan(self.half_width):
            return math.nan
        return self.half_width / t_quantile_975(self.n - 1)

    @property
    def detectable(self) -> float:
        """The smallest true effect this run detects with 80 % power at the 5 % level (two-sided):
        ``(t(0.975) + t(0.80)) × SE`` on ``n − 1`` degrees of freedom; ``inf`` without an interval."""
        if self.n < 2 or math.isnan(self.half_width):
            return math.inf
        dof = self.n - 1
        return float(student_t.ppf(1 - LEVEL / 2, dof) + student_t.ppf(POWER, dof)) * self.standard_error

    def verdict(
        self,
        expect: Literal["positive", "negative"] = "positive",
        *,
        paper_effect: float | None = None,
        reference: float = 0.0,
    ) -> str:
        """The verdict on "the mean lies on the ``expect`` side of ``reference``" (see the module
        docstring); ``paper_effect`` is the paper's value of the same quantity, when it states one."""
        if expect not in ("positive", "negative"):
            raise ValueError(f"expect must be 'positive' or 'negative', got {expect!r}")
        sign = 1.0 if expect == "positive" else -1.0
        if self.n < 2 or math.isnan(self.mean) or math.isnan(self.half_width):
            return INCONCLUSIVE
        low = sign * (self.mean - reference) - self.half_width  # interval ends, on the claimed side's axis
        high = sign * (self.mean - reference) + self.half_width
        if low > 0:
            return REPRODUCED
        if high < 0:
            return NOT_REPRODUCED
        claimed = None if paper_effect is None else sign * (paper_effect - reference)
        if claimed is not None and claimed > 0 and high < claimed:
            return NOT_REPRODUCED
        return INCONCLUSIVE

    def power_note(self, digits: int = 4) -> str:
        """``"could detect ≥ 0.0123"``: the size an INCONCLUSIVE verdict should be read against."""
        if math.isinf(self.detectable):
            return "one pair: no interval, so no effect size is detectable"
        return f"this run detects effects ≥ {self.detectable:.{digits}g} (80 % power)"

    def verdict_no_effect(self, excluded: Literal["positive", "negative"] = "negative", *, margin: float = 0.0) -> str:
        """The verdict on a "no effect" claim, "a − b is not ``excluded`` by more than ``margin``"
        (``margin`` ≥ 0, in the difference's units; an equivalence-style test): NOT REPRODUCED when
        the whole 95 % interval lies beyond zero on the ``excluded`` side, REPRODUCED when the whole
        interval stays within ``margin`` of zero on that side, INCONCLUSIVE otherwise."""
        if excluded not in ("positive", "negative"):
            raise ValueError(f"excluded must be 'positive' or 'negative', got {excluded!r}")
        if margin < 0 or math.isnan(margin):
            raise ValueError(f"margin must be ≥ 0, got {margin!r}")
        sign = 1.0 if excluded == "positive" else -1.0
        if self.n < 2 or math.isnan(self.mean) or math.isnan(self.half_width):
            return INCONCLUSIVE
        if sign * self.mean - self.half_width > 0:
            return NOT_REPRODUCED
        if sign * self.mean + self.half_width < margin:
            return REPRODUCED
        return INCONCLUSIVE


def estimate(values: Sequence[float]) -> PairedDifference:
    """The mean of ``values`` (one per seed or fold) with its 95 % interval."""
    values = [float(v) for v in values]
    if not values:
        return PairedDifference(math.nan, math.nan, 0)
    mean, half = mean_ci95(values)
    return PairedDifference(mean, half, len(values))


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

    ``test`` names how the verdict was reached and ``power`` (for INCONCLUSIVE verdicts) the
    smallest effect the run could have detected. Build it with :meth:`check` (an exact yes/no
    computation), :meth:`difference` (a paired difference with a claimed sign), :meth:`threshold`
    (per-seed values against a claimed bound) or :meth:`pairwise` (an ordering, pair by pair)."""

    claim: str
    paper: str
    ours: str
    verdict: str
    test: str = ""
    power: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @classmethod
    def check(cls, claim: str, paper: str, ours: str, holds: bool, *, test: str = "exact computation") -> Claim:
        """A claim decided by an exact computation with no sampling noise (a toy problem, a formula):
        REPRODUCED or NOT REPRODUCED. Claims measured over seeds use the interval constructors."""
        return cls(claim, paper, ours, REPRODUCED if bool(holds) else NOT_REPRODUCED, test)

    @classmethod
    def difference(
        cls,
        claim: str,
        paper: str,
        ours: str,
        difference: PairedDifference,
        expect: Literal["positive", "negative"] = "positive",
        *,
        paper_effect: float | None = None,
    ) -> Claim:
        """A claimed difference ``a − b`` of sign ``expect``; ``paper_effect`` is the paper's own
        ``a − b`` when it reports one (the verdict of :meth:`PairedDifference.verdict`)."""
        verdict = difference.verdict(expect, paper_effect=paper_effect)
        test = f"95 % t-interval of the paired difference over {difference.n} pairs vs 0"
        if paper_effect is not None:
            test += f" and vs the paper's {paper_effect:+.4g}"
        return cls(claim, paper, ours, verdict, test, difference.power_note() if verdict == INCONCLUSIVE else "")

    @classmethod
    def threshold(
        cls,
        claim: str,
        paper: str,
        values: Sequence[float],
        bound: float,
        expect: Literal["above", "below"] = "above",
        *,
        paper_value: float | None = None,
        scale: float = 1.0,
        unit: str = "",
        digits: int = 1,
    ) -> Claim:
        """A claim that a quantity measured once per seed lies ``expect`` ``bound`` (e.g. "≥ 90 % of
        the parameters"): the verdict of its 95 % interval against the bound, the paper's value
        (``paper_value``, same units as ``values``) as the claimed effect. ``scale``/``unit`` only
        format the numbers (e.g. 100 and " %" for shares)."""
        est = estimate(values)
        side = "positive" if expect == "above" else "negative"
        verdict = est.verdict(side, paper_effect=paper_value, reference=bound)
        if est.n < 2 or math.isnan(est.half_width):
            ours = f"{scale * est.mean:.{digits}f}{unit} over {est.n} seed (no interval)"
        else:
            ours = f"{scale * est.mean:.{digits}f} ± {scale * est.half_width:.{digits}f}{unit} over {est.n} seeds"
        test = f"95 % t-interval over seeds vs the bound {scale * bound:g}{unit}"
        if paper_value is not None:
            test += f" and the paper's {scale * paper_value:g}{unit}"
        note = ""
        if verdict == INCONCLUSIVE:
            note = (
                "one seed: no interval"
                if math.isinf(est.detectable)
                else f"this run detects a distance ≥ {scale * est.detectable:.{digits}f}{unit} from the bound (80 % power)"
            )
        return cls(claim, paper, ours, verdict, test, note)

    @classmethod
    def pairwise(
        cls,
        claim: str,
        paper: str,
        frame: pd.DataFrame,
        pairs: Sequence[tuple[str, str]],
        value: str,
        expect: Literal["positive", "negative"] = "positive",
        *,
        paper_effects: Mapping[tuple[str, str], float] | None = None,
        label: str = "method",
        pair: str = "seed",
        digits: int = 4,
    ) -> Claim:
        """An ordering tested pair by pair: for every ``(a, b)`` in ``pairs`` the paired difference
        ``a − b`` of ``value`` should be ``expect``. REPRODUCED when every pair is, NOT REPRODUCED when
        any pair is, INCONCLUSIVE otherwise (``paper_effects`` gives the paper's ``a − b`` per pair)."""
        effects = paper_effects or {}
        parts = []
        for a, b in pairs:
            diff = paired_difference(frame, a, b, value, label=label, pair=pair)
            ours = f"{a} − {b} = {diff.describe(digits)}"
            part = cls.difference(ours, "", ours, diff, expect, paper_effect=effects.get((a, b)))
            parts.append(replace(part, power=f"{a} − {b}: {part.power}") if part.power else part)
        combined = cls.all_of(claim, paper, parts)
        test = f"every pair's 95 % t-interval of the paired difference ({len(pairs)} pairs), never means alone"
        return replace(combined, test=test)

    @classmethod
    def within(
        cls,
        claim: str,
        paper: str,
        values: Sequence[float],
        centre: float,
        tolerance: float,
        *,
        scale: float = 1.0,
        unit: str = "",
        digits: int = 4,
    ) -> Claim:
        """A claim that a quantity measured once per seed lies within ``centre ± tolerance`` (an
        equivalence test): REPRODUCED when the whole 95 % interval does, NOT REPRODUCED when the
        whole interval lies outside, INCONCLUSIVE when it straddles an edge."""
        est = estimate(values)
        low, high = est.mean - est.half_width, est.mean + est.half_width
        if est.n < 2 or math.isnan(est.half_width):
            verdict = INCONCLUSIVE
        elif centre - tolerance < low and high < centre + tolerance:
            verdict = REPRODUCED
        elif high < centre - tolerance or low > centre + tolerance:
            verdict = NOT_REPRODUCED
        else:
            verdict = INCONCLUSIVE
        ours = f"{scale * est.mean:.{digits}f} ± {scale * est.half_width:.{digits}f}{unit} over {est.n} seeds"
        band = f"[{scale * (centre - tolerance):.{digits}g}, {scale * (centre + tolerance):.{digits}g}]{unit}"
        note = f"the interval is {scale * 2 * est.half_width:.{digits}g}{unit} wide; the band {band}"
        return cls(
            claim,
            paper,
            ours,
            verdict,
            f"95 % t-interval over seeds inside {band}",
            note if verdict == INCONCLUSIVE else "",
        )

    @classmethod
    def all_of(cls, claim: str, paper: str, parts: Sequence[Claim]) -> Claim:
        """A claim made of several (e.g. "both depth errors fall"): REPRODUCED when every part is,
        NOT REPRODUCED when any part is, INCONCLUSIVE otherwise."""
        verdicts = [part.verdict for part in parts]
        if any(v == NOT_REPRODUCED for v in verdicts):
            overall = NOT_REPRODUCED
        elif verdicts and all(v == REPRODUCED for v in verdicts):
            overall = REPRODUCED
        else:
            overall = INCONCLUSIVE
        ours = "; ".join(f"{part.ours} [{part.verdict}]" for part in parts)
        notes = "; ".join(part.power for part in parts if part.power)
        tests = "; ".join(dict.fromkeys(part.test for part in parts))
        return cls(claim, paper, ours, overall, f"every part: {tests}", notes if overall == INCONCLUSIVE else "")

    @property
    def reproduced(self) -> bool:
        return self.verdict == REPRODUCED

    def pick(self, *, reproduced: str, not_reproduced: str, inconclusive: str) -> str:
        """The sentence for this claim's verdict. Prose about a result is written through this, one
        sentence per verdict, so a page can never state a verdict its claim object does not."""
        sentences = {REPRODUCED: reproduced, NOT_REPRODUCED: not_reproduced, INCONCLUSIVE: inconclusive}
        text = sentences[self.verdict]
        return f"{text} ({self.power})" if self.verdict == INCONCLUSIVE and self.power else text

    def sentence(self) -> str:
        text = f"[{self.verdict}] {self.claim} Paper: {self.paper}. Ours: {self.ours}."
        return f"{text} ({self.power})" if self.power else text


def verdict_summary(claims: Sequence[Claim], profile: str) -> str:
    """One paragraph from the claim objects: how many reproduced, then the others by verdict,
    numbered as in the chapter's table, each INCONCLUSIVE one with the effect size it could see."""
    numbered = list(enumerate(claims, start=1))
    count = sum(c.verdict == REPRODUCED for c in claims)
    text = f"At profile `{profile}`, {count} of {len(claims)} claims reproduced."
    for verdict in (NOT_REPRODUCED, INCONCLUSIVE):
        group = [(i, c) for i, c in numbered if c.verdict == verdict]
        if not group:
            continue
        items = " ".join(f"({i}) {c.claim}" + (f" [{c.power}]" if c.power else "") for i, c in group)
        text += f" **{verdict.capitalize()}** ({len(group)}): {items}"
    return text


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
    "INCONCLUSIVE",
    "NOT_REPRODUCED",
    "REPRODUCED",
    "VERDICTS",
    "POWER",
    "LEVEL",
    "Claim",
    "PairedDifference",
    "beside_saved",
    "claims_agreement",
    "compare_claims",
    "estimate",
    "paired_difference",
    "per_profile",
    "settings_by_profile",
    "verdict_summary",
]
