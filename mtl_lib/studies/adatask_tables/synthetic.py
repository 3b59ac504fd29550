"""AdaTask's Tables 2 and 5 on the synthetic regression: runs, table, claims, the saved ``paper`` sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from mtl_lib.experiments import RunConfig
from mtl_lib.metrics.stats import format_mean_ci
from mtl_lib.problems.synthetic import TASK_NORMALIZATIONS
from mtl_lib.studies import adatask_regime as regime
from mtl_lib.studies._common import (
    Claim,
    beside_saved,
    identify,
    paired_difference,
)
from mtl_lib.studies.adatask_synthetic import PUBLISHED_TABLE2, at_checkpoint, per_run_scores, synthetic_config

#: Stable ids of the claims of :func:`synthetic_claims` and :func:`cityscapes_claims`, in order.
SYNTHETIC_CLAIM_IDS = (
    "adatask.table2.ada_lowers_a",
    "adatask.table2.ada_lowest_average",
    "adatask.table2.ada_pays_on_b",
    "adatask.table5.ladatask_between",
)

SYNTHETIC_METHODS: dict[str, dict[str, Any]] = {
    "EqualWeight": dict(weighting="ew", optimizer="rmsprop"),
    "GradNorm": dict(weighting="gradnorm", optimizer="rmsprop"),
    "UW": dict(weighting="uw", optimizer="rmsprop"),
    "PCGrad": dict(weighting="ew", aggregator="pcgrad", optimizer="rmsprop"),
    "CAGrad": dict(weighting="ew", aggregator="cagrad", optimizer="rmsprop"),
    "AdaTask": dict(weighting="ew", optimizer="adatask_rmsprop"),
    "LAdaTask": dict(weighting="ew", optimizer="ladatask_rmsprop"),
}

#: Yang et al. (2023), Table 5, synthetic row: LAdaTask (layer-wise AdaTask-RMSProp).
PUBLISHED_TABLE5 = pd.DataFrame(
    [("LAdaTask", 0.0989, 0.0285, 0.0637)], columns=["method", "A", "B", "average"]
).set_index("method")

synthetic_settings = regime.settings  # the frozen regime at each profile


def synthetic_configs(profile: str, device: str = "auto") -> list[RunConfig]:
    """Tables 2 and 5: one RMSProp run per method and seed."""
    size = synthetic_settings(profile)
    return [
        synthetic_config(size, method, seed, device, **ingredients)
        for method, ingredients in SYNTHETIC_METHODS.items()
        for seed in size["seeds"]
    ]


def synthetic_table(records: Sequence[dict[str, Any]], definition: str | None = None) -> pd.DataFrame:
    """Task-normalized error, ours (mean ± 95 % CI over seeds; ``definition``: a key of
    :data:`mtl_lib.problems.synthetic.TASK_NORMALIZATIONS`, None the frozen one) beside Tables 2 and 5."""
    published = pd.concat([PUBLISHED_TABLE2, PUBLISHED_TABLE5])
    scores = per_run_scores(records, definition)
    rows = []
    for method, group in scores.groupby("method", sort=False):
        row: dict[str, Any] = {"method": method, "seeds": len(group)}
        for column in ("A", "B", "average"):
            row[f"{column} (ours)"] = format_mean_ci(group[column].tolist())
            row[f"{column} (paper)"] = f"{published.loc[method, column]:.4f}" if method in published.index else ""
        rows.append(row)
    table = pd.DataFrame(rows).set_index("method")
    return table.loc[[m for m in SYNTHETIC_METHODS if m in table.index]]


def synthetic_claims(records: Sequence[dict[str, Any]], definition: str | None = None) -> list[Claim]:
    """Table 2 and Table 5 claims, verdicts computed from the records (errors under
    ``definition``, as in :func:`synthetic_table`): every comparison is a paired difference over
    seeds, an ordering is tested pair by pair, and the paper's own difference is the claimed effect."""
    scores = per_run_scores(records, definition)
    t2 = PUBLISHED_TABLE2
    table5 = pd.concat([t2, PUBLISHED_TABLE5])

    def paper_gap(a: str, b: str, column: str) -> float:
        return float(table5.loc[a, column] - table5.loc[b, column])

    claims = []
    on_a = paired_difference(scores, "AdaTask", "EqualWeight", "A")
    claims.append(
        Claim.difference(
            "AdaTask lowers the dominated task A's error compared with EqualWeight (paired over seeds, the "
            "95 % CI of the difference below 0).",
            f"{t2.loc['AdaTask', 'A']:.4f} vs {t2.loc['EqualWeight', 'A']:.4f}",
            f"AdaTask − EqualWeight on A = {on_a.describe()}",
            on_a,
            expect="negative",
            paper_effect=paper_gap("AdaTask", "EqualWeight", "A"),
        )
    )

    six = [m for m in ("EqualWeight", "GradNorm", "UW", "PCGrad", "CAGrad") if m in set(scores["method"])]
    claims.append(
        Claim.pairwise(
            "AdaTask has the lowest average error of the six methods of Table 2 (each other method − AdaTask "
            "> 0, paired over seeds).",
            f"AdaTask {t2.loc['AdaTask', 'average']:.4f}, next GradNorm {t2.loc['GradNorm', 'average']:.4f}",
            scores,
            [(m, "AdaTask") for m in six],
            "average",
            "positive",
            paper_effects={(m, "AdaTask"): paper_gap(m, "AdaTask", "average") for m in six},
        )
    )

    on_b = paired_difference(scores, "AdaTask", "EqualWeight", "B")
    claims.append(
        Claim.difference(
            "AdaTask pays on the dominant task B: its B error is above EqualWeight's (paired over seeds).",
            f"{t2.loc['AdaTask', 'B']:.4f} vs {t2.loc['EqualWeight', 'B']:.4f}",
            f"AdaTask − EqualWeight on B = {on_b.describe()}",
            on_b,
            expect="positive",
            paper_effect=paper_gap("AdaTask", "EqualWeight", "B"),
        )
    )

    order = [("EqualWeight", "LAdaTask"), ("LAdaTask", "AdaTask")]
    claims.append(
        Claim.pairwise(
            "LAdaTask (Table 5) improves task A over EqualWeight, but less than AdaTask "
            "(EqualWeight > LAdaTask > AdaTask on A, each step paired over seeds).",
            f"{t2.loc['EqualWeight', 'A']:.4f} > {PUBLISHED_TABLE5.loc['LAdaTask', 'A']:.4f} > {t2.loc['AdaTask', 'A']:.4f}",
            scores,
            order,
            "A",
            "positive",
            paper_effects={pair: paper_gap(*pair, "A") for pair in order},
        )
    )
    return identify(claims, SYNTHETIC_CLAIM_IDS)


def spread_table(records: Sequence[dict[str, Any]], definition: str | None = None) -> pd.DataFrame:
    """Per method and task: the smallest, median and largest error over seeds (a fixed-budget
    AdaTask run can spike; the mean ± CI of :func:`synthetic_table` hides which seed did)."""
    scores = per_run_scores(records, definition)
    long = scores.melt(id_vars=["method", "seed"], value_vars=["A", "B"], var_name="task", value_name="error")
    table = long.groupby(["method", "task"])["error"].agg(["min", "median", "max"])
    table["max / median"] = table["max"] / table["median"]
    order = [m for m in SYNTHETIC_METHODS if m in set(scores["method"])]
    return table.reindex(pd.MultiIndex.from_product([order, ["A", "B"]], names=["method", "task"]))


def verdicts_by_definition(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The Tables 2/5 verdicts under every definition of the task-normalized error (one column
    each, the same runs): the ablation that says which verdicts the metric decides."""
    columns = {name: [c.verdict for c in synthetic_claims(records, name)] for name in TASK_NORMALIZATIONS}
    return pd.DataFrame(columns, index=pd.Index(SYNTHETIC_CLAIM_IDS, name="claim"))


def verdicts_at_checkpoints(records: Sequence[dict[str, Any]], offsets: Sequence[int] = (-2, -1, 0),
                            definition: str | None = None) -> pd.DataFrame:  # fmt: skip
    """The Tables 2/5 verdicts at the frozen budget and at neighbouring checkpoints (``offsets``
    epochs from the last one), so that a verdict resting on one spiky checkpoint shows."""
    last = min(max(h["epoch"] for h in r["history"]) for r in records)
    columns = {}
    for offset in offsets:
        epoch = last + offset
        if epoch >= 1:
            columns[f"epoch {epoch}"] = [c.verdict for c in synthetic_claims(at_checkpoint(records, epoch), definition)]
    return pd.DataFrame(columns, index=pd.Index(SYNTHETIC_CLAIM_IDS, name="claim"))


#: The saved summary of the synthetic claims at ``paper`` and the command that writes it.
SYNTHETIC_SUMMARY = "synthetic_verdicts"

SYNTHETIC_PAPER_COMMAND = "python -m mtl_lib run adatask_rau --profile paper --save-summary"


def synthetic_beside_paper(claims: Sequence[Claim], profile: str) -> tuple[str, pd.DataFrame | None]:
    """Tables 2/5 claims of this execution beside the saved ``paper`` sweep's (see
    :func:`~mtl_lib.studies._common.beside_saved`)."""
    return beside_saved(claims, SYNTHETIC_SUMMARY, profile, command=SYNTHETIC_PAPER_COMMAND, source="Tables 2/5")


__all__ = [
    "PUBLISHED_TABLE2",
    "per_run_scores",
    "SYNTHETIC_CLAIM_IDS",
    "SYNTHETIC_METHODS",
    "PUBLISHED_TABLE5",
    "synthetic_settings",
    "synthetic_configs",
    "synthetic_table",
    "synthetic_claims",
    "SYNTHETIC_SUMMARY",
    "SYNTHETIC_PAPER_COMMAND",
    "synthetic_beside_paper",
    "spread_table",
    "verdicts_at_checkpoints",
    "verdicts_by_definition",
]
