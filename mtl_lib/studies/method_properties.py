"""A properties table of every registered aggregator and loss weighting, measured, not asserted:
one row per method of :data:`~mtl_lib.aggregators.AGGREGATORS` and
:data:`~mtl_lib.weighting.WEIGHTINGS`, so a new method gets its row for free.

Properties, each measured by calling the method itself:

* **non-conflicting** — on random Jacobians whose first two tasks conflict (K = 2 and 3, row
  norms spread over two decades), the direction decreases every loss to first order:
  cos(g_k, d) ≥ −1e-3 for every task (the slack admits the dual-cone methods' ridge).
* **invariant to rescaling one task** — multiplying task k's gradient *and* loss by c ∈ {10, 0.1}
  leaves the direction's orientation unchanged (cos(d', d) ≥ 1 − 1e-6).
* **permutation invariant** — reordering the tasks (with their losses) leaves d unchanged
  (relative difference ≤ 1e-6).
* **reaches the Pareto set (toy)** — trained through the ordinary Trainer on the survey's toy
  problem (:mod:`mtl_lib.problems.toy`, CAGrad's starts), the end point lies within 0.1 of the
  Pareto set; the end-point shift when f1 is multiplied by 0.1 (Nash-MTL's variant of the toy) is
  reported beside it.

The direct measurements use a fresh instance per Jacobian, called three times on it (so EMA-,
warm-up- and history-based aggregators show their behaviour after their first step; ExcessMTL's
first step is uniform by design). A weighting's direction is Σ_k (∂Φ/∂L_k) g_k with ∂Φ/∂L the
slopes of its objective at the given losses, from a fresh instance: history-based weightings
(DWA, UW, IMTL-L) are then at their first step, EW-like — the toy columns show them after
training. Methods that cannot act on a bare Jacobian (GradNorm measures gradients on the model)
get "n/a" there.

Where a paper claims a property, :data:`PAPER_CLAIMS` holds it; the table shows it beside the
measured verdict and :func:`claims_summary` counts the agreements.

Usage (one call): ``from mtl_lib.studies.method_properties import method_properties;
method_properties()``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import torch

from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.core.runtime import accepts_argument
from mtl_lib.experiments.trajectory import toy_trajectory
from mtl_lib.problems.toy import CAGRAD_STARTS, PARETO_X2
from mtl_lib.weighting import WEIGHTINGS

NON_CONFLICTING = "non-conflicting"
RESCALING = "invariant to rescaling one task"
PERMUTATION = "permutation invariant"
PARETO = "reaches the Pareto set (toy)"
PROPERTIES = (NON_CONFLICTING, RESCALING, PERMUTATION, PARETO)

#: What the methods' papers claim, as (claimed value, source). Only claims the papers state.
PAPER_CLAIMS: dict[str, dict[str, tuple[bool, str]]] = {
    "mgda": {
        NON_CONFLICTING: (True, "Désidéri 2012; Sener & Koltun 2018: a common descent direction"),
        PARETO: (True, "Désidéri 2012: converges to a Pareto-stationary point"),
    },
    "pcgrad": {NON_CONFLICTING: (True, "Yu et al. 2020, Sec. 3: projected gradients no longer conflict (2 tasks)")},
    "imtl_g": {RESCALING: (True, "Liu et al. 2021: equal projections make the update scale-invariant")},
    "nash_mtl": {
        RESCALING: (True, "Navon et al. 2022: invariant to changes in the losses' scale"),
        PARETO: (True, "Navon et al. 2022, Thm. 5.4 and Fig. 1: reaches the Pareto front on the toy"),
    },
    "upgrad": {NON_CONFLICTING: (True, "Quinton & Rey 2024: non-conflicting by construction")},
    "dualproj": {NON_CONFLICTING: (True, "Lopez-Paz & Ranzato 2017 / Quinton & Rey 2024: non-conflicting")},
    "config": {NON_CONFLICTING: (True, "Liu et al. 2025: conflict-free update (full-rank J)")},
    "cagrad": {PARETO: (True, "Liu et al. 2021, Fig. 1: reaches the Pareto set on its toy")},
    "fairgrad": {PARETO: (True, "Ban & Ji 2024: converges to a Pareto-stationary point")},
    "moco": {PARETO: (True, "Fernando et al. 2023: converges to a Pareto-stationary point")},
    "sdmgrad": {PARETO: (True, "Xiao et al. 2023: converges to a Pareto-stationary point")},
    "modo": {PARETO: (True, "Chen et al. 2023: converges to a Pareto-stationary point")},
    "aligned_mtl": {PARETO: (True, "Senushkin et al. 2023: converges to a Pareto-stationary point")},
    "pcd": {RESCALING: (True, "Varam et al. 2026: invariant to rescaling an objective")},
    "db_mtl": {RESCALING: (True, "Lin et al. 2023: log losses balance the loss scales")},
}

#: Tolerances of the verdicts (see the module docstring).
CONFLICT_TOL, RESCALE_TOL, PERMUTATION_TOL, PARETO_TOL = 1e-3, 1e-6, 1e-6, 0.1


def conflicting_jacobians(count: int = 10, num_params: int = 10, seed: int = 0) -> list[torch.Tensor]:
    """``count`` float64 Jacobians for K = 2 and as many for K = 3: task 1 pulled against task 0,
    each row scaled by 10^u, u ~ U(−1, 1)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for num_tasks in (2, 3):
        for _ in range(count):
            jac = torch.randn(num_tasks, num_params, generator=gen, dtype=torch.float64)
            jac[1] = -0.7 * jac[0] + 0.5 * jac[1]
            scales = 10.0 ** (2 * torch.rand(num_tasks, 1, generator=gen, dtype=torch.float64) - 1)
            out.append(jac * scales)
    return out


def _losses_for(jac: torch.Tensor, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 0.5 + 1.5 * torch.rand(jac.shape[0], generator=gen, dtype=torch.float64)


def _build(registry: Any, name: str) -> Any:
    factory = registry.get(name)
    return registry.build(name, seed=0) if accepts_argument(factory, "seed") else registry.build(name)


def direction_function(kind: str, name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """(J, losses) → the method's direction from a fresh instance, or ``None`` when the method
    cannot act on a bare Jacobian."""
    if kind == "aggregator":

        def aggregate(jac: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
            aggregator = _build(AGGREGATORS, name)
            for _ in range(3):
                out = aggregator(jac, losses) if aggregator.needs_losses else aggregator(jac)
            return out.direction

        return aggregate
    weighting = _build(WEIGHTINGS, name)
    if getattr(weighting, "needs_task_gradients", False) or hasattr(weighting, "bind_model"):
        return None

    def weigh(jac: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        point = losses.clone().requires_grad_(True)
        terms = _build(WEIGHTINGS, name)(point)
        (slopes,) = torch.autograd.grad(terms.sum(), point)
        return slopes @ jac

    return weigh


def _worst_cosine(direction: Callable, jacobians: Sequence[torch.Tensor]) -> float:
    worst = math.inf
    for index, jac in enumerate(jacobians):
        d = direction(jac, _losses_for(jac, index))
        norm = float(d.norm())
        if norm == 0.0:
            continue  # a zero step hurts nobody
        worst = min(worst, float(((jac @ d) / (jac.norm(dim=1) * norm)).min()))
    return worst if math.isfinite(worst) else 1.0


def _rescaling_cosine(direction: Callable, jacobians: Sequence[torch.Tensor]) -> float:
    worst = 1.0
    for index, jac in enumerate(jacobians):
        losses = _losses_for(jac, index)
        base = direction(jac, losses)
        for task in range(jac.shape[0]):
            for factor in (10.0, 0.1):
                scale = torch.ones(jac.shape[0], dtype=jac.dtype)
                scale[task] = factor
                other = direction(jac * scale[:, None], losses * scale)
                norms = float(base.norm() * other.norm())
                cosine = (
                    1.0
                    if norms == 0.0 and float(base.norm()) == float(other.norm())
                    else float(base @ other) / max(norms, 1e-300)
                )
                worst = min(worst, cosine)
    return worst


def _permutation_error(direction: Callable, jacobians: Sequence[torch.Tensor]) -> float:
    worst = 0.0
    for index, jac in enumerate(jacobians):
        losses = _losses_for(jac, index)
        perm = torch.arange(jac.shape[0] - 1, -1, -1)
        base, permuted = direction(jac, losses), direction(jac[perm], losses[perm])
        worst = max(worst, float((permuted - base).norm()) / max(float(base.norm()), 1e-300))
    return worst


def toy_options(kind: str, name: str) -> dict[str, Any]:
    """Trainer options for the toy: the survey's entry for the method when it has one (log-loss
    methods need a lower bound there, as the toy's objectives reach −20), else the default."""
    from mtl_lib.studies.survey import METHODS

    for entry in METHODS:
        if entry.trainer_kwargs.get(kind) == name:
            return {**entry.trainer_kwargs, **entry.toy_kwargs}
    return {"weighting": name} if kind == "weighting" else {"aggregator": name}


def _distance_to_pareto_set(theta: torch.Tensor) -> float:
    x1, x2 = (float(v) for v in theta)
    return math.hypot(max(abs(x1) - 7.0, 0.0), x2 - PARETO_X2)


def toy_measures(kind: str, name: str, steps: int, lr: float, starts: Sequence[Sequence[float]]) -> dict[str, float]:
    """Mean distance of the end points to the Pareto set, and their mean shift when f1 × 0.1."""
    options = toy_options(kind, name)
    distances, shifts = [], []
    for start in starts:
        ends = [
            toy_trajectory(start, steps=steps, lr=lr, record_every=steps, f1_scale=scale, **options).thetas[-1]
            for scale in (1.0, 0.1)
        ]
        distances.append(_distance_to_pareto_set(ends[0]))
        shifts.append(float((ends[0] - ends[1]).norm()))
    return {
        "toy: distance to Pareto set": sum(distances) / len(distances),
        "toy: end shift, f1 × 0.1": sum(shifts) / len(shifts),
    }


def _verdict(value: float, passes: bool) -> str:
    return "n/a" if isinstance(value, float) and math.isnan(value) else ("yes" if passes else "no")


def _measure(direction: Callable, jacobians: Sequence[torch.Tensor]) -> dict[str, float]:
    return {
        "worst cos(g_k, d)": _worst_cosine(direction, jacobians),
        "rescaling: worst cos(d', d)": _rescaling_cosine(direction, jacobians),
        "permutation: rel. difference": _permutation_error(direction, jacobians),
    }


def method_row(kind: str, name: str, jacobians: Sequence[torch.Tensor], toy: dict[str, Any] | None) -> dict[str, Any]:
    """One row of the table: measured numbers, verdicts, the paper's claims and any error."""
    nan = float("nan")
    row: dict[str, Any] = {"method": name, "kind": kind, "note": ""}
    numbers = {"worst cos(g_k, d)": nan, "rescaling: worst cos(d', d)": nan, "permutation: rel. difference": nan}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            direction = direction_function(kind, name)
            if direction is None:
                row["note"] = "needs the model (measured on the toy only)"
            else:
                usable = [j for j in jacobians if j.shape[0] >= _min_tasks(kind, name)]
                numbers = _measure(direction, usable)
        except Exception as error:  # a method that breaks here is a finding, not a crash
            row["note"] = f"{type(error).__name__}: {error}"[:160]
        toy_numbers = {"toy: distance to Pareto set": nan, "toy: end shift, f1 × 0.1": nan}
        if toy is not None:
            try:
                toy_numbers = toy_measures(kind, name, **toy)
            except Exception as error:
                row["note"] = (row["note"] + f"; toy: {type(error).__name__}: {error}")[:200].lstrip("; ")
    row.update(numbers)
    row.update(toy_numbers)
    measured = {
        NON_CONFLICTING: _verdict(numbers["worst cos(g_k, d)"], numbers["worst cos(g_k, d)"] >= -CONFLICT_TOL),
        RESCALING: _verdict(
            numbers["rescaling: worst cos(d', d)"], numbers["rescaling: worst cos(d', d)"] >= 1 - RESCALE_TOL
        ),
        PERMUTATION: _verdict(
            numbers["permutation: rel. difference"], numbers["permutation: rel. difference"] <= PERMUTATION_TOL
        ),
        PARETO: _verdict(
            toy_numbers["toy: distance to Pareto set"], toy_numbers["toy: distance to Pareto set"] <= PARETO_TOL
        ),
    }
    claims = PAPER_CLAIMS.get(name, {})
    for prop in PROPERTIES:
        row[prop] = measured[prop]
        claim = claims.get(prop)
        row[f"{prop} (paper)"] = "" if claim is None else ("yes" if claim[0] else "no")
    return row


def _min_tasks(kind: str, name: str) -> int:
    if kind != "aggregator":
        return 1
    return int(getattr(AGGREGATORS.get(name), "min_tasks", 1))


def method_properties(
    methods: Sequence[tuple[str, str]] | None = None,
    *,
    n_jacobians: int = 10,
    toy_steps: int = 800,
    toy_lr: float = 5e-2,
    toy_starts: Sequence[Sequence[float]] = CAGRAD_STARTS,
) -> pd.DataFrame:
    """The properties table, one row per (kind, name) — every registered aggregator and weighting
    by default. The toy runs default to the survey's ``quick`` budget (800 Adam steps at 5e-2
    from CAGrad's three starts, and again with f1 × 0.1: six runs of ~1-2 s per method);
    ``toy_steps=0`` skips them and the table takes seconds."""
    if methods is None:
        methods = [("aggregator", n) for n in AGGREGATORS.names()] + [("weighting", n) for n in WEIGHTINGS.names()]
    jacobians = conflicting_jacobians(n_jacobians)
    toy = None if toy_steps <= 0 else {"steps": toy_steps, "lr": toy_lr, "starts": toy_starts}
    rows = [method_row(kind, name, jacobians, toy) for kind, name in methods]
    return pd.DataFrame(rows).set_index(["kind", "method"])


def claims_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per paper claim: the claimed and the measured verdict, and whether they agree
    (``None`` where the property could not be measured)."""
    rows = []
    for (_kind, name), row in table.iterrows():
        for prop, (claimed, source) in PAPER_CLAIMS.get(name, {}).items():
            measured = row[prop]
            agrees = None if measured == "n/a" else (measured == "yes") == claimed
            rows.append(
                {
                    "method": name,
                    "property": prop,
                    "claimed": claimed,
                    "measured": measured,
                    "agrees": agrees,
                    "source": source,
                }
            )
    return pd.DataFrame(rows)


__all__ = [
    "PAPER_CLAIMS",
    "PROPERTIES",
    "claims_summary",
    "conflicting_jacobians",
    "direction_function",
    "method_properties",
    "method_row",
    "toy_measures",
    "toy_options",
]
