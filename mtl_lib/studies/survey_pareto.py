"""The survey chapter's Pareto page: which points of a concave Pareto front the linear,
Tchebycheff and smooth Tchebycheff scalarisations reach (Lin et al. 2024's claim that smooth
Tchebycheff finds points a weighted sum cannot), on Fonseca and Fleming's problem
(:mod:`mtl_lib.problems.pareto`).

The notebook ``notebooks/survey_pareto.md`` is a thin layer over this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import torch

from mtl_lib.problems import pareto
from mtl_lib.studies._common import Claim, identify, per_profile
from mtl_lib.studies._figures import book_subplots, fit_to_column
from mtl_lib.studies.registry import Study

#: Preference vectors traced, Adam steps per vector and its learning rate.
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {"preferences": 7, "steps": 300, "lr": 5e-2},
    "quick": {"preferences": 21, "steps": 2000, "lr": 2e-2},
    "paper": {"preferences": 51, "steps": 5000, "lr": 1e-2},
}
settings = per_profile(SETTINGS)

#: The smoothing constants of the μ sweep.
MUS = (1.0, 0.3, 0.1, 0.03)
#: Label of the smooth Tchebycheff scalarisation in :func:`trace_fronts`.
SMOOTH = "smooth Tchebycheff (μ=0.1)"
#: Points of the exact front drawn and measured against.
FRONT_POINTS = 500


def scalarisations() -> dict[str, Any]:
    """Label → scalarisation (a name known to :func:`mtl_lib.problems.pareto.trace_front` or a
    function)."""
    return {"linear": "linear", "Tchebycheff": "tchebycheff", SMOOTH: pareto.smooth_tchebycheff(0.1)}


def trace_fronts(profile: str) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The preference grid, the exact front and each scalarisation's solutions (one point per
    preference vector, every vector started from the same seeded point)."""
    size = settings(profile)
    prefs = pareto.preference_grid(size["preferences"])
    front = pareto.fonseca_fleming_front(FRONT_POINTS)
    solutions = {
        name: pareto.trace_front(s, prefs, steps=size["steps"], lr=size["lr"]) for name, s in scalarisations().items()
    }
    return prefs, front, solutions


def mu_sweep(profile: str, prefs: torch.Tensor) -> dict[float, torch.Tensor]:
    """Smooth Tchebycheff's solutions for every μ of :data:`MUS`."""
    size = settings(profile)
    return {
        mu: pareto.trace_front(pareto.smooth_tchebycheff(mu), prefs, steps=size["steps"], lr=size["lr"]) for mu in MUS
    }


def coverage(points: torch.Tensor, front: torch.Tensor, bins: int = 10) -> float:
    """Share of the front's f1 range (split into ``bins`` equal bins) that holds a solution."""
    f1 = points[:, 0]
    low, high = front[:, 0].min(), front[:, 0].max()
    occupied = torch.unique(torch.clamp(((f1 - low) / (high - low) * bins).long(), 0, bins - 1))
    return len(occupied) / bins


def front_table(solutions: Mapping[str, torch.Tensor], front: torch.Tensor) -> pd.DataFrame:
    """Per scalarisation: coverage, solutions strictly inside the front's ends, and the largest
    distance of a solution to the front."""
    return pd.DataFrame(
        {
            name: {
                "coverage of the front": coverage(points, front),
                "solutions strictly inside (0.05 < f1 < 0.95)": int(
                    ((points[:, 0] > 0.05) & (points[:, 0] < 0.95)).sum()
                ),
                "max distance to the front": float(pareto.distance_to_front(points, front).max()),
            }
            for name, points in solutions.items()
        }
    ).T


def plot_fronts(solutions: Mapping[str, torch.Tensor], front: torch.Tensor, prefs: torch.Tensor) -> plt.Figure:
    """One panel per scalarisation: its solutions coloured by λ₁ over the exact front."""
    fig, axes = book_subplots(1, len(solutions), height=2.9, sharey=True, squeeze=False)
    scatter = None
    for ax, (name, points) in zip(axes[0], solutions.items()):
        ax.plot(front[:, 0], front[:, 1], color="red", lw=3, alpha=0.5, label="Pareto front")
        scatter = ax.scatter(
            points[:, 0], points[:, 1], c=prefs[:, 0], cmap="viridis", s=40, edgecolor="black", zorder=3
        )
        ax.set_title(name)
        ax.set_xlabel("$f_1$")
    axes[0][0].set_ylabel("$f_2$")
    fig.colorbar(scatter, ax=axes[0], label="preference $\\lambda_1$")
    return fit_to_column(fig, relayout=False)  # the text column's width; labels stay ≥ 9 pt


def plot_mu_sweep(by_mu: Mapping[float, torch.Tensor], front: torch.Tensor) -> plt.Figure:
    """Smooth Tchebycheff's solutions for each μ over the exact front."""
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(front[:, 0], front[:, 1], color="red", lw=3, alpha=0.5, label="Pareto front")
    for mu, points in by_mu.items():
        ax.scatter(points[:, 0], points[:, 1], s=25, label=f"μ = {mu}")
    ax.set_xlabel("$f_1$")
    ax.set_ylabel("$f_2$")
    ax.legend()
    return fig


#: Stable ids of :func:`pareto_claims`, in order (the claims register's ids).
PARETO_CLAIM_IDS = ("survey.linear.concave_ends", "survey.stch.non_convex_front")
INSIDE = "solutions strictly inside (0.05 < f1 < 0.95)"


def pareto_claims(table: pd.DataFrame, preferences: int) -> list[Claim]:
    """The slides' two claims about scalarisations on the concave Fonseca–Fleming front, decided
    by :func:`front_table`'s exact computation (no sampling)."""
    linear, smooth = table.loc["linear"], table.loc[SMOOTH]
    claims = [
        Claim.check(
            "A linear scalarisation reaches only the ends of a concave Pareto front.",
            "linear scalarization cannot reach the inside of a non-convex front (STCH slide, panel c)",
            f"{linear[INSIDE]:.0f} of {preferences} linear solutions strictly inside the front",
            bool(linear[INSIDE] <= 1),
        ),
        Claim.check(
            "Smooth Tchebycheff finds solutions on a non-convex Pareto front (covers more of it than linear).",
            "STCH 'could find solutions on non-convex pareto set'",
            f"coverage {smooth['coverage of the front']:.0%} vs linear {linear['coverage of the front']:.0%}",
            bool(smooth["coverage of the front"] > linear["coverage of the front"]),
        ),
    ]
    return identify(claims, PARETO_CLAIM_IDS)


STUDY = Study(
    "survey_pareto", "survey_pareto",
    "Survey: which points of a concave Pareto front linear and (smooth) Tchebycheff scalarisations reach",
    settings=settings, estimated_s=20, claims=PARETO_CLAIM_IDS,
    captions=(("study.plot_fronts(", "Solutions found by each scalarisation, one per preference vector (colour), "
               "against the Pareto front of the Fonseca–Fleming problem (red)."),
              ("study.plot_mu_sweep(", "Smooth Tchebycheff's solutions for each smoothing constant μ against the "
               "Pareto front (red): large μ drifts towards the linear scalarisation's ends."),),
)  # fmt: skip


__all__ = [
    "INSIDE",
    "MUS",
    "PARETO_CLAIM_IDS",
    "SETTINGS",
    "SMOOTH",
    "STUDY",
    "coverage",
    "front_table",
    "pareto_claims",
    "mu_sweep",
    "plot_fronts",
    "plot_mu_sweep",
    "scalarisations",
    "settings",
    "trace_fronts",
]
