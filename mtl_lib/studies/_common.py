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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import pandas as pd
from scipy.stats import t as student_t

from mtl_lib.experiments.build_status import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, VERDICTS
from mtl_lib.metrics.stats import mean_ci95, t_quantile_975
from mtl_lib.studies._profiles import per_profile, settings_by_profile
from mtl_lib.studies._saved import beside_saved, claims_agreement, compare_claims

#: Power and level at which :attr:`PairedDifference.detectable` is the smallest detectable effect.
POWER, LEVEL = 0.80, 0.05


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
        (``margin`` ≥ 0, in the difference's units; an equivalence-style test): REPRODUCED when the
        whole 95 % interval stays within ``margin`` of zero on the ``excluded`` side, NOT REPRODUCED
        when it lies wholly beyond ``margin`` on that side (an effect larger than the claim allows is
        shown), INCONCLUSIVE when it reaches across ``margin``.

        The claim tolerates any effect smaller than ``margin``, so an interval that excludes zero
        but stays inside the margin supports it: the bound that decides both verdicts is the
        margin, never zero (with ``margin = 0`` the two coincide)."""
        if excluded not in ("positive", "negative"):
            raise ValueError(f"excluded must be 'positive' or 'negative', got {excluded!r}")
        if margin < 0 or math.isnan(margin):
            raise ValueError(f"margin must be ≥ 0, got {margin!r}")
        sign = 1.0 if excluded == "positive" else -1.0
        if self.n < 2 or math.isnan(self.mean) or math.isnan(self.half_width):
            return INCONCLUSIVE
        if sign * self.mean - self.half_width > margin:
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
    #: Stable id (``"<source>.<what>"``, lower case): saved summaries and the book's front page
    #: pair a claim with its saved verdict by it, so rewording a claim changes nothing there.
    id: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def identified(self, claim_id: str) -> Claim:
        """This claim with the stable id ``claim_id`` (declared in its study's ``Study.claims``)."""
        return replace(self, id=claim_id)

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
        over: str = "seeds",
    ) -> Claim:
        """A claim that a quantity measured once per seed lies ``expect`` ``bound`` (e.g. "≥ 90 % of
        the parameters"): the verdict of its 95 % interval against the bound, the paper's value
        (``paper_value``, same units as ``values``) as the claimed effect. ``scale``/``unit`` only
        format the numbers (e.g. 100 and " %" for shares); ``over`` names what the values are
        measured over (plural: ``"seeds"``, ``"draws"``)."""
        est = estimate(values)
        side = "positive" if expect == "above" else "negative"
        verdict = est.verdict(side, paper_effect=paper_value, reference=bound)
        if est.n < 2 or math.isnan(est.half_width):
            ours = f"{scale * est.mean:.{digits}f}{unit} over {est.n} {over.removesuffix('s')} (no interval)"
        else:
            ours = f"{scale * est.mean:.{digits}f} ± {scale * est.half_width:.{digits}f}{unit} over {est.n} {over}"
        test = f"95 % t-interval over {over} vs the bound {scale * bound:g}{unit}"
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


def identify(claims: Sequence[Claim], ids: Sequence[str]) -> list[Claim]:
    """``claims`` with the stable ids ``ids``, in order: a study builds its claims in a fixed order
    and lists their ids once (its ``CLAIM_IDS``, also its ``Study.claims``)."""
    if len(claims) != len(ids):
        raise ValueError(f"{len(claims)} claims but {len(ids)} ids {list(ids)}: update the study's CLAIM_IDS")
    return [claim.identified(claim_id) for claim, claim_id in zip(claims, ids)]


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


# ----------------------------------------------------------------------------- records
def cost_per_step(record: Mapping[str, Any]) -> float:
    """A run's training time per step in its fastest epoch: the minimum is the estimate least
    affected by one-off costs (first-call initialisation, LaSS's mask search) and by other load on
    the machine. ``inf`` for a record with no step."""
    previous, best = 0, math.inf
    for epoch in record["history"]:
        steps = epoch["steps"] - previous
        previous = epoch["steps"]
        if steps:
            best = min(best, epoch["train_time_s"] / steps)
    return best


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
    "cost_per_step",
    "estimate",
    "identify",
    "paired_difference",
    "per_profile",
    "settings_by_profile",
    "verdict_summary",
]
