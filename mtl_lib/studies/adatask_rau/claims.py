"""The paper's claims about rAU and learning-rate dominance, with verdicts from the records."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mtl_lib.studies._common import Claim, beside_saved
from mtl_lib.studies.adatask_rau.buckets import bucket_frame
from mtl_lib.studies.adatask_rau.config import NOISE_FRACTIONS, RANDOM, TOP
from mtl_lib.studies.adatask_rau.noise import noise_summary


def _share(frame: pd.DataFrame, method: str, bucket: str, layer: str = "all") -> float:
    part = frame[(frame["method"] == method) & (frame["layer"] == layer) & (frame["bucket"] == bucket)]
    return float(part["share"].mean()) if len(part) else math.nan


def check_claims(bucket_records: Sequence[dict[str, Any]], ew_probe: dict[str, Any]) -> list[Claim]:
    """The paper's claims about rAU and learning-rate dominance, each with a verdict computed
    from the records (bucket shares: mean over seeds, rAU γ = 0.9)."""
    frame = bucket_frame(bucket_records)
    seeds = frame["seed"].nunique()
    claims = []

    ew = _share(frame, "EqualWeight", "(0.8, 1]")
    claims.append(
        Claim.check(
            "EqualWeight leaves ≥ 90 % of shared parameters with rAU(B) in (80 %, 100 %].",
            "close to 100 % (Fig. 2a)",
            f"{100 * ew:.1f} % (mean over {seeds} seed(s))",
            bool(ew >= 0.9),
        )
    )

    ada = _share(frame, "AdaTask", "(0.4, 0.6]")
    claims.append(
        Claim.check(
            "AdaTask(-RMSProp) leaves ≥ 90 % of shared parameters with rAU(B) in (40 %, 60 %].",
            "more than 98 % in every layer after the first epochs",
            f"{100 * ada:.1f} % (mean over {seeds} seed(s))",
            bool(ada >= 0.9),
        )
    )

    pc = _share(frame, "PCGrad", "(0.8, 1]")
    claims.append(
        Claim.check(
            "PCGrad is close to EqualWeight: its share of B-dominated parameters is within 10 points of EqualWeight's.",
            "PCGrad close to EqualWeight (Fig. 2 caption)",
            f"PCGrad {100 * pc:.1f} % vs EqualWeight {100 * ew:.1f} %",
            bool(abs(pc - ew) <= 0.1),
        )
    )

    gn = sum(_share(frame, "GradNorm", b) for b in ("(0.2, 0.4]", "(0.4, 0.6]", "(0.6, 0.8]"))
    claims.append(
        Claim.check(
            "GradNorm leaves most shared parameters (≥ 50 %) dominated by neither task, rAU(B) in (20 %, 80 %].",
            "around 78 % not dominated by any task",
            f"{100 * gn:.1f} % (rAU(B) ≤ 20 %, i.e. dominated by A: {100 * _share(frame, 'GradNorm', '(0, 0.2]'):.1f} %; "
            f"> 80 %: {100 * _share(frame, 'GradNorm', '(0.8, 1]'):.1f} %)",
            bool(gn >= 0.5),
        )
    )

    summary = noise_summary(ew_probe["noise"])

    def increase(selection: str, variance: float, fraction: float, task: str) -> tuple[float, float]:
        row = summary[
            (summary["selection"] == selection)
            & np.isclose(summary["variance"], variance)
            & np.isclose(summary["fraction"], fraction)
            & (summary["task"] == task)
        ]
        return float(row["increase_pct"].iloc[0]), float(row["ci95"].iloc[0])

    b_top, _ = increase(TOP, 0.05, 0.01, "B")
    a_top, _ = increase(TOP, 0.05, 0.01, "A")
    claims.append(
        Claim.check(
            "Noise N(0, 0.05) on the top-1 % rAU(B) parameters of EqualWeight hurts task B much more "
            "than task A (we require B's relative RMSE increase ≥ 3× A's).",
            "B +175.13 %, A +3.23 %",
            f"B {b_top:+.2f} %, A {a_top:+.2f} %",
            bool(b_top > 0 and b_top >= 3 * max(a_top, 0.0)),
        )
    )

    by_fraction = [increase(TOP, 0.01, f, "B")[0] for f in NOISE_FRACTIONS]
    a_by_fraction = [increase(TOP, 0.01, f, "A")[0] for f in NOISE_FRACTIONS]
    monotone = all(x < y for x, y in zip(by_fraction, by_fraction[1:]))
    b_above = all(b > a for b, a in zip(by_fraction, a_by_fraction))
    claims.append(
        Claim.check(
            "With N(0, 0.01) on the top 1, 5, 10, 20 % by rAU(B), task B's RMSE increase grows with the "
            "fraction and stays above task A's.",
            "B +7.20 % (top 1 %) … +72.62 % (top 20 %), always above A",
            "B "
            + ", ".join(f"{x:+.2f} %" for x in by_fraction)
            + "; A "
            + ", ".join(f"{x:+.2f} %" for x in a_by_fraction),
            bool(monotone and b_above),
        )
    )

    b_rand, half_rand = increase(RANDOM, 0.05, 0.01, "B")
    _, half_top = increase(TOP, 0.05, 0.01, "B")
    margin = math.sqrt(np.nan_to_num(half_top) ** 2 + np.nan_to_num(half_rand) ** 2)
    claims.append(
        Claim.check(
            "High rAU(B) marks parameters that matter for B: noise N(0, 0.05) on the top-1 % rAU(B) "
            "parameters raises B's RMSE more than on as many random shared parameters (difference beyond "
            "its 95 % CI; our control, the paper has no random baseline).",
            "implied: 'a parameter with a high rAU for one task becomes much more important for that task'",
            f"top {b_top:+.2f} % vs random {b_rand:+.2f} % (± {margin:.2f})",
            bool(b_top - b_rand > margin),
        )
    )

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
        )
    )
    return claims


def beside_paper(claims: Sequence[Claim], profile: str) -> tuple[str, pd.DataFrame | None]:
    """The Fig. 2 / rAU claims of this execution beside the saved ``paper`` sweep's (written by
    ``benchmarks/synthetic_verdicts.py``; see :func:`~mtl_lib.studies._common.beside_saved`)."""
    return beside_saved(
        claims,
        "synthetic_verdicts",
        profile,
        command="python benchmarks/synthetic_verdicts.py --profile paper --workers 2",
        source="Fig. 2 / rAU",
    )


__all__ = [
    "beside_paper",
    "check_claims",
]
