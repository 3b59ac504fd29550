"""The leaf-combination study: PCGrad × Modulation Module × LaSS, approaches A–H (its Table I),
stratified 5-fold cross-validation, accuracy and weighted F1 per task (its Table II).

PCGrad is applied with the study's optimizer-wrapper semantics (``"pcgrad_wrapper"``: projections
over all parameters, shared part averaged), Modulation Modules after every convolution, LaSS
masks on the shared fully connected layers with the first half of training as pre-mask phase.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from mtl_lib.experiments import RunConfig, final_frame
from mtl_lib.metrics.stats import format_mean_ci, mean_ci95
from mtl_lib.studies._common import Claim, identify, paired_difference, per_profile
from mtl_lib.studies._figures import MIN_FONT_PT, book_subplots, fit_to_column
from mtl_lib.studies.leaf_calibration import QUICK_MODEL, frozen_difficulty
from mtl_lib.studies.registry import Study, one_stage

#: Table I: approach → (PCGrad, Modulation Module, LaSS).
APPROACHES: dict[str, tuple[bool, bool, bool]] = {
    "A": (False, False, False),
    "B": (False, False, True),
    "C": (False, True, False),
    "D": (False, True, True),
    "E": (True, False, False),
    "F": (True, False, True),
    "G": (True, True, False),
    "H": (True, True, True),
}

#: Table I's column names, in the order of the flags in :data:`APPROACHES`.
TABLE1_COLUMNS = ("PCGrad", "Modulation Module", "LaSS")


def table_one() -> pd.DataFrame:
    """The study's Table I, decoded from :data:`APPROACHES`: which methods each approach A–H uses."""
    rows = {name: ["✓" if used else "–" for used in flags] for name, flags in APPROACHES.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(TABLE1_COLUMNS))
    frame.index.name = "approach"
    return frame


#: Table II of the study (accuracy and weighted F1 averaged over its 5 folds).
PUBLISHED_TABLE2 = pd.DataFrame(
    [
        ("A", 0.70169, 0.69532, 0.85162, 0.85671, 0.77666, 0.77602),
        ("B", 0.77722, 0.78359, 0.85917, 0.86145, 0.81820, 0.82252),
        ("C", 0.77187, 0.76522, 0.86673, 0.87486, 0.81930, 0.82004),
        ("D", 0.77810, 0.77360, 0.86029, 0.87123, 0.81920, 0.82241),
        ("E", 0.78522, 0.79088, 0.86272, 0.86545, 0.82397, 0.82816),
        ("F", 0.82075, 0.82243, 0.86361, 0.87129, 0.84218, 0.84686),
        ("G", 0.79587, 0.79742, 0.85429, 0.85840, 0.82508, 0.82791),
        ("H", 0.78410, 0.79721, 0.85340, 0.85789, 0.81875, 0.82755),
    ],
    columns=["approach", "species acc", "species f1", "health acc", "health f1", "average acc", "average f1"],
).set_index("approach")

#: Run sizes. ``paper`` is the study's protocol: all 4,503 (here 4,502) images, 5 folds, Adam
#: 5e-4, batch 32, 100 epochs, α = 0.5. Smaller profiles shrink the stand-in, the images and the
#: number of epochs, and say so wherever their numbers appear.
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {"scale": 0.03, "image_size": 32, "epochs": 2, "folds": (0,), "n_folds": 5, "model": {}},
    # quick fits the 12-minute book build on 2 cores (8 approaches x 3 folds, ~4.5 core-minutes):
    # 15 % of the stand-in, 8 epochs, three of the five CV folds (each still tests on 1/5 of the
    # data) and a half-width network (the full one cost ~36 core-minutes at 20 %/12 epochs/5 folds)
    "quick": {"scale": 0.15, "image_size": 32, "epochs": 8, "folds": (0, 1, 2), "n_folds": 5,
              "model": QUICK_MODEL},
    "paper": {"scale": 1.0, "image_size": 64, "epochs": 100, "folds": (0, 1, 2, 3, 4), "n_folds": 5, "model": {}},
}  # fmt: skip


settings = per_profile(SETTINGS)


def configs(profile: str, data_dir: str | None = None, device: str = "auto",
            approaches: Sequence[str] = tuple(APPROACHES)) -> list[RunConfig]:  # fmt: skip
    size = settings(profile)
    out = []
    for name in approaches:
        pcgrad, modulation, lass = APPROACHES[name]
        for fold in size["folds"]:
            options = {
                "data_dir": data_dir, "scale": size["scale"] if data_dir is None else 1.0,
                "image_size": size["image_size"], "fold": fold, "n_folds": size["n_folds"],
                "modulation": modulation, "lass": lass, "lass_alpha": 0.5, **size["model"],
            }  # fmt: skip
            if data_dir is None:
                # the stand-in's difficulty, calibrated on approach A (leaf_calibration)
                options["standin_difficulty"] = list(frozen_difficulty())
            out.append(RunConfig(
                problem="leaf", aggregator="pcgrad_wrapper" if pcgrad else None, optimizer="adam",
                lr=5e-4, epochs=size["epochs"], batch_size=32, seed=fold, problem_kwargs=options,
                label=name, device=device,
            ))  # fmt: skip
    return out


def scores(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per run: approach, fold, accuracy and weighted F1 per task and their averages."""
    final = final_frame(records)
    final = final[final["metric"].isin(["acc", "f1"])]
    final["column"] = final["task"] + " " + final["metric"]
    fold_of = {r["run_id"]: r["config"]["problem_kwargs"]["fold"] for r in records}
    final["fold"] = final["run_id"].map(fold_of)
    wide = final.pivot_table(index=["method", "fold"], columns="column", values="value").reset_index()
    wide["average acc"] = (wide["species acc"] + wide["health acc"]) / 2
    wide["average f1"] = (wide["species f1"] + wide["health f1"]) / 2
    return wide.rename(columns={"method": "approach"})


def comparison_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Ours (mean ± 95 % CI over folds) and the paper's value for every column of Table II."""
    table = scores(records)
    rows = {}
    for approach, group in table.groupby("approach"):
        row: dict[str, str] = {"folds": str(len(group))}
        for column in PUBLISHED_TABLE2.columns:
            row[f"{column} (ours)"] = format_mean_ci(group[column].tolist(), 3)
            row[f"{column} (paper)"] = f"{PUBLISHED_TABLE2.loc[approach, column]:.3f}"
        rows[approach] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_samples(data: Any, columns: int = 8, rows: int = 3) -> plt.Figure:
    """The first image of every (species, health) class present (22 classes on the full data,
    at most ``rows × columns``), titled with its labels."""
    fig, axes = book_subplots(rows, columns, height=1.25 * rows + 0.4)
    classes = sorted(data.class_counts())
    picked = [int(((data.species == s) & (data.health == h)).nonzero()[0]) for s, h in classes][: rows * columns]
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, picked):
        ax.imshow(data.images[index].permute(1, 2, 0).numpy())
        species = data.species_names[data.species[index]].split(" ")[0]
        ax.set_title(f"{species}\n{data.health_names[data.health[index]]}", fontsize=MIN_FONT_PT)
    fig.suptitle(f"Sample images — {data.source}")
    return fit_to_column(fig, relayout=False)


def plot_figures(records: Sequence[dict[str, Any]]) -> plt.Figure:
    """The study's Figs. 6–9 in one figure: the task-1/task-2 F1 gap, task-1 F1, task-2 F1 and
    the average F1 per approach; bars = ours (mean, 95 % CI over folds), black ticks = paper."""
    table = scores(records)
    table["gap f1"] = table["health f1"] - table["species f1"]
    published = PUBLISHED_TABLE2.assign(**{"gap f1": PUBLISHED_TABLE2["health f1"] - PUBLISHED_TABLE2["species f1"]})
    panels = [("gap f1", "paper Fig. 6: F1 gap (health − species)"), ("species f1", "paper Fig. 7: species F1 (task 1)"),
              ("health f1", "paper Fig. 8: health F1 (task 2)"), ("average f1", "paper Fig. 9: average F1")]  # fmt: skip
    fig, axes = book_subplots(2, 2, height=5.6)
    approaches = sorted(table["approach"].unique())
    for ax, (column, title) in zip(axes.flat, panels):
        means, halves = [], []
        for approach in approaches:
            mean, half = mean_ci95(table[table["approach"] == approach][column].tolist())
            means.append(mean)
            halves.append(0.0 if math.isnan(half) else half)
        ax.bar(approaches, means, yerr=halves, color="tab:blue", alpha=0.7, capsize=3, label="ours")
        ax.scatter(approaches, [published.loc[a, column] for a in approaches], color="black", marker="_", s=300,
                   linewidths=2.5, zorder=3, label="paper")  # fmt: skip
        ax.set_title(title)
        ax.set_xlabel("approach (Table I)")
        ax.set_ylabel("weighted F1" if column != "gap f1" else "F1 difference")
    axes.flat[0].legend()
    fig.tight_layout()
    return fit_to_column(fig)


def paired(records: Sequence[dict[str, Any]], better: str, worse: str, claim: str,
           column: str = "average f1") -> Claim:  # fmt: skip
    """The claim "``better`` beats ``worse`` on ``column``", judged on the difference paired by
    fold, with the study's own difference as the claimed effect (so an interval that holds both 0
    and the study's value is INCONCLUSIVE, not a failure)."""
    diff = paired_difference(scores(records), better, worse, column, label="approach", pair="fold")
    published = PUBLISHED_TABLE2.loc[better, column] - PUBLISHED_TABLE2.loc[worse, column]
    return Claim.difference(
        f"{claim}.",
        f"{column} of {better} − {worse} = {published:+.3f}",
        f"{column} of {better} − {worse} = {diff.describe(3, 'folds')} (paired)",
        diff,
        paper_effect=float(published),
    )


def check_claims(records: Sequence[dict[str, Any]]) -> list[Claim]:
    """The study's claims, each a paired comparison across folds on average weighted F1.

    'F beats B, C and E' (abstract) and 'the baseline A is 0.07084 below F' (Sec. III.B): F − X > 0.
    'D, G and H do not beat their parts': in the study each of them falls short of its best part
    (D < B, G < E, H < F); we test part − combination > 0."""
    out = [paired(records, "F", x, f"F (PCGrad+LaSS) beats {x}") for x in BEATEN_BY_F]
    for combo, best_part in COMBINATIONS:
        out.append(paired(records, best_part, combo, f"{combo} does not beat its best part {best_part}"))
    return identify(out, CLAIM_IDS)


#: The approaches F beats, and each combination with its best part (the study's claims).
BEATEN_BY_F = ("B", "C", "E", "A")
COMBINATIONS = (("D", "B"), ("G", "E"), ("H", "F"))
#: Stable ids of :func:`check_claims`' claims, in their order.
CLAIM_IDS = tuple(f"leaf.f_beats_{x.lower()}" for x in BEATEN_BY_F) + tuple(
    f"leaf.{combo.lower()}_not_above_{part.lower()}" for combo, part in COMBINATIONS
)


STUDY = Study(
    "leaf_combinations", "leaf_combinations", "Leaf study: PCGrad x Modulation x LaSS, approaches A-H",
    settings=settings, estimated_s=260, sweep=one_stage(configs, data=True), reads_data=True, claims=CLAIM_IDS,
    captions=(
        ("study.plot_samples(", "The first image of each (species, health) class in the data in use, titled "
         "species / health."),
        ("study.plot_figures(", "Accuracy and weighted F1 of each task for approaches A–H (bars: ours, mean over "
         "folds; black ticks: the study's published values)."),
    ),
)  # fmt: skip
