"""The paper's claims about rAU and learning-rate dominance, with verdicts from the records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from mtl_lib.studies._common import Claim, beside_saved, estimate, identify
from mtl_lib.studies.adatask_rau.buckets import bucket_frame
from mtl_lib.studies.adatask_rau.config import NOISE_FRACTIONS, RANDOM, TOP

#: Stable ids of :func:`check_claims`' claims, in their order (saved summaries pair claims by them).
CLAIM_IDS = (
    "adatask.fig2.ew_dominated", "adatask.fig2.ada_balanced", "adatask.fig2.pcgrad_like_ew",
    "adatask.fig2.gradnorm_neither", "adatask.fig1.noise_hurts_b_more", "adatask.fig1.noise_grows_with_fraction",
    "adatask.fig1.top_beats_random", "adatask.rq3.joint_lr_set_by_b",
)  # fmt: skip


def _shares(frame: pd.DataFrame, method: str, buckets: Sequence[str], layer: str = "all") -> pd.Series:
    """Per seed: the share of ``layer``'s shared parameters whose rAU(B) lies in ``buckets``."""
    part = frame[(frame["method"] == method) & (frame["layer"] == layer) & (frame["bucket"].isin(list(buckets)))]
    return part.groupby("seed")["share"].sum()


def _per_draw(noise: pd.DataFrame, selection: str, variance: float, fraction: float, task: str) -> pd.Series:
    """Relative RMSE increase (%) per noise draw for one setting, selection and task."""
    rows = noise[
        (noise["selection"] == selection)
        & np.isclose(noise["variance"], variance)
        & np.isclose(noise["fraction"], fraction)
        & (noise["task"] == task)
    ]
    return rows.set_index("draw")["increase_pct"]


def _share_claims(frame: pd.DataFrame) -> list[Claim]:
    """Fig. 2's bucket shares: intervals over seeds against the claimed bounds."""
    ew = _shares(frame, "EqualWeight", ["(0.8, 1]"])
    claims = [
        Claim.threshold(
            "EqualWeight leaves ≥ 90 % of shared parameters with rAU(B) in (80 %, 100 %].",
            "close to 100 % (Fig. 2a)",
            ew.tolist(), 0.9, "above", scale=100, unit=" %",
        ),
        Claim.threshold(
            "AdaTask(-RMSProp) leaves ≥ 90 % of shared parameters with rAU(B) in (40 %, 60 %].",
            "more than 98 % in every layer after the first epochs",
            _shares(frame, "AdaTask", ["(0.4, 0.6]"]).tolist(), 0.9, "above", paper_value=0.98, scale=100, unit=" %",
        ),
    ]  # fmt: skip
    gap = (_shares(frame, "PCGrad", ["(0.8, 1]"]) - ew).dropna()
    claims.append(
        Claim.within(
            "PCGrad is close to EqualWeight: its share of B-dominated parameters is within 10 points of "
            "EqualWeight's (paired over seeds).",
            "PCGrad close to EqualWeight (Fig. 2 caption)",
            gap.tolist(), 0.0, 0.1, scale=100, unit=" points", digits=1,
        )
    )  # fmt: skip
    neither = _shares(frame, "GradNorm", ["(0.2, 0.4]", "(0.4, 0.6]", "(0.6, 0.8]"])
    by_a = 100 * _shares(frame, "GradNorm", ["(0, 0.2]"]).mean()
    claim = Claim.threshold(
        "GradNorm leaves most shared parameters (≥ 50 %) dominated by neither task, rAU(B) in (20 %, 80 %].",
        "around 78 % not dominated by any task",
        neither.tolist(), 0.5, "above", paper_value=0.78, scale=100, unit=" %",
    )  # fmt: skip
    claims.append(replace(claim, ours=f"{claim.ours} (rAU(B) ≤ 20 %, i.e. dominated by A: {by_a:.1f} % on average)"))
    return claims


def _noise_claims(noise: pd.DataFrame) -> list[Claim]:
    """Fig. 1's noise experiment: intervals over noise draws (the same draw hits both tasks, so
    task B and task A are paired by draw)."""
    b_top, a_top = (_per_draw(noise, TOP, 0.05, 0.01, task) for task in ("B", "A"))
    paired = Claim.threshold(
        "Noise N(0, 0.05) on the top-1 % rAU(B) parameters of EqualWeight hurts task B much more "
        "than task A (we require B's relative RMSE increase ≥ 3× A's: B − 3A > 0 per draw).",
        "B +175.13 %, A +3.23 %",
        (b_top - 3 * a_top).dropna().tolist(), 0.0, "above", paper_value=175.13 - 3 * 3.23, unit=" %", digits=2,
        over="draws",
    )  # fmt: skip
    # the verdict is judged on the paired B − 3A per draw; the means of B and A are shown beside it
    claims = [replace(paired, ours=f"B {b_top.mean():+.2f} %, A {a_top.mean():+.2f} %; B − 3A per draw: {paired.ours}")]
    steps, above = [], []
    for low, high in zip(NOISE_FRACTIONS, NOISE_FRACTIONS[1:]):
        grows = (_per_draw(noise, TOP, 0.01, high, "B") - _per_draw(noise, TOP, 0.01, low, "B")).dropna()
        steps.append(
            Claim.threshold(
                f"B at top {high:.0%} − top {low:.0%}",
                "",
                grows.tolist(),
                0.0,
                "above",
                unit=" %",
                digits=2,
                over="draws",
            )
        )
    for fraction in NOISE_FRACTIONS:
        b_minus_a = (_per_draw(noise, TOP, 0.01, fraction, "B") - _per_draw(noise, TOP, 0.01, fraction, "A")).dropna()
        above.append(
            Claim.threshold(
                f"B − A at top {fraction:.0%}", "", b_minus_a.tolist(), 0.0, "above", unit=" %", digits=2, over="draws"
            )
        )
    combined = Claim.all_of(
        "With N(0, 0.01) on the top 1, 5, 10, 20 % by rAU(B), task B's RMSE increase grows with the "
        "fraction and stays above task A's (each step and each B − A over draws).",
        "B +7.20 % (top 1 %) … +72.62 % (top 20 %), always above A",
        [replace(c, ours=f"{c.claim}: {c.ours}") for c in steps + above],
    )
    claims.append(combined)
    b_rand = _per_draw(noise, RANDOM, 0.05, 0.01, "B")
    claims.append(
        replace(
            Claim.threshold(
                "High rAU(B) marks parameters that matter for B: noise N(0, 0.05) on the top-1 % rAU(B) "
                "parameters raises B's RMSE more than on as many random shared parameters (top − random per "
                "draw; our control, the paper has no random baseline).",
                "implied: 'a parameter with a high rAU for one task becomes much more important for that task'",
                (b_top - b_rand).dropna().tolist(), 0.0, "above", unit=" %", digits=2, over="draws",
            ),
            ours=f"top {b_top.mean():+.2f} % vs random {b_rand.mean():+.2f} %; top − random "
            f"{estimate((b_top - b_rand).dropna().tolist()).describe(2, 'draws')}",
        )
    )  # fmt: skip
    return claims


#: The claims computed from the EqualWeight probe run alone (Fig. 1's noise experiment and the
#: learning-rate probe): :func:`~mtl_lib.studies.adatask_rau.saved.refresh_probe_claims` re-runs
#: only that run to recompute them in a saved summary.
PROBE_CLAIM_IDS = CLAIM_IDS[4:]


def check_claims(bucket_records: Sequence[dict[str, Any]], ew_probe: dict[str, Any]) -> list[Claim]:
    """The paper's claims about rAU and learning-rate dominance, each with a verdict from a 95 %
    interval: bucket shares over seeds (rAU γ = 0.9), the noise experiment over draws."""
    shares = identify(_share_claims(bucket_frame(bucket_records)), CLAIM_IDS[: -len(PROBE_CLAIM_IDS)])
    return shares + probe_claims(ew_probe)


def probe_claims(ew_probe: dict[str, Any]) -> list[Claim]:
    """The claims of :data:`PROBE_CLAIM_IDS`, from the EqualWeight probe run's record."""
    claims = _noise_claims(pd.DataFrame(ew_probe["noise"]))
    lr = pd.DataFrame(ew_probe["lr_probe"])
    last = lr[(lr["step"] == lr["step"].max()) & (lr["layer"] == "all")].set_index("quantity")["median"]
    to_b, to_a = float(last["joint / B alone"]), float(last["joint / A alone"])
    claims.append(
        Claim.check(
            "RMSProp's joint learning rate is set by task B: at the end of EqualWeight training the median "
            "(over sampled shared parameters) of joint / B-alone lies in [0.75, 1.25] while joint / A-alone ≤ 0.5.",
            "'the whole LR is very close to the separate LR of task B'",
            f"joint / B alone = {to_b:.2f}, joint / A alone = {to_a:.2f}",
            bool(0.75 <= to_b <= 1.25 and to_a <= 0.5),
            test="one probe run: medians over the sampled parameters, no interval over seeds",
        )
    )
    return identify(claims, PROBE_CLAIM_IDS)


def beside_paper(claims: Sequence[Claim], profile: str) -> tuple[str, pd.DataFrame | None]:
    """The Fig. 2 / rAU claims of this execution beside the saved ``paper`` sweep's (written by
    ``python -m mtl_lib run adatask_rau --profile paper --save-summary``; see
    :func:`~mtl_lib.studies._common.beside_saved`)."""
    return beside_saved(claims, "synthetic_verdicts", profile, source="Fig. 2 / rAU")


__all__ = [
    "CLAIM_IDS",
    "PROBE_CLAIM_IDS",
    "beside_paper",
    "check_claims",
    "probe_claims",
]
