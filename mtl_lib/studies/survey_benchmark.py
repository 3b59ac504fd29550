"""The survey's benchmark: every method on AdaTask's synthetic regression, on the leaf
problem (generated stand-in unless real images are given) and on real handwritten digits
(the "multidigits" problem, see :mod:`mtl_lib.studies.multidigits`), several seeds, with the
per-step cost relative to equal weighting measured from the same runs."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import pandas as pd

from mtl_lib.experiments import RunConfig, final_frame
from mtl_lib.metrics.stats import format_mean_ci, mean_ci95
from mtl_lib.studies._common import cost_per_step, per_profile
from mtl_lib.studies.registry import Stage, Study
from mtl_lib.studies.survey import METHODS, Method

SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {
        "seeds": (0,),
        "synthetic": {"n_train": 256, "n_test": 128, "epochs": 2, "batch_size": 64},
        "leaf": {"scale": 0.03, "epochs": 2, "batch_size": 32, "image_size": 32},
        # real handwritten digits; sizes as the multidigits chapter's, lr as there
        "multidigits": {"n_train": 256, "n_val": 128, "n_test": 128, "epochs": 2, "batch_size": 64},
    },
    # quick is sized for the book build on 2 cores: three seeds, so that every accuracy column
    # has a 95 % interval. No leaf part: the budget a build can afford there (2 epochs of the
    # half-width network on 10 % of the stand-in) left the species F1 at chance level (0.036)
    # for 27 of 28 methods, a column that measured nothing (see LEAF_LEFT_OUT)
    "quick": {
        "seeds": (0, 1, 2),
        "synthetic": {"n_train": 1000, "n_test": 1000, "epochs": 10, "batch_size": 100},
        # real handwritten digits; sizes as the multidigits chapter's, lr as there
        "multidigits": {
            "n_train": 1536,
            "n_val": 512,
            "n_test": 1024,
            "epochs": 4,
            "batch_size": 128,
        },
    },
    "paper": {
        "seeds": (0, 1, 2, 3, 4),
        "synthetic": {"n_train": 10_000, "n_test": 2_000, "epochs": 30, "batch_size": 100},
        "leaf": {"scale": 1.0, "epochs": 100, "batch_size": 32, "image_size": 64},
        # real handwritten digits; sizes as the multidigits chapter's, lr as there
        "multidigits": {
            "n_train": 10_000,
            "n_val": 2_000,
            "n_test": 5_000,
            "epochs": 20,
            "batch_size": 128,
        },
    },
}

#: Headline metric per problem and whether higher is better.
HEADLINE = {
    "synthetic_regression": (("A/nrmse", "B/nrmse"), False),
    "leaf": (("species/f1", "health/f1"), True),
    "multidigits": (("left/acc", "right/acc"), True),
}

#: Why a profile has no leaf part (the page prints it).
LEAF_LEFT_OUT = {
    "quick": "the leaf part is left out at quick: the budget a book build affords there (2 epochs of the "
    "half-width network on 10 % of the stand-in) left the species F1 at chance level for 27 of 28 methods; "
    "the paper profile trains it (100 epochs on the whole stand-in)",
}

#: Classes per headline metric: a column whose every method scores under
#: :data:`CHANCE_FACTOR` × 1/classes measured nothing (:func:`columns_at_chance`).
CLASSES = {"species/f1": 12, "health/f1": 2, "left/acc": 10, "right/acc": 10}
CHANCE_FACTOR = 1.5

#: Learning rate of the multidigits runs per profile (that chapter's shared protocol, Adam).
MULTIDIGITS_LR = {"smoke": 1e-2, "quick": 1e-2, "paper": 3e-3}


settings = per_profile(SETTINGS)


#: RMSProp's learning rate in the synthetic part (AdaTask's synthetic study's optimizer).
SYNTHETIC_LR = 1e-3


def synthetic_config(
    profile: str, entry: Method, seed: int, device: str = "auto", *, lr: float = SYNTHETIC_LR,
    weight_decay: float | None = None, label: str | None = None, extra: dict[str, Any] | None = None,
) -> RunConfig:  # fmt: skip
    """One run of ``entry`` on the synthetic part at ``profile`` (RotoGrad: the full method, its
    rotations trained by their own optimizer); ``lr``, ``weight_decay``, ``label`` and ``extra``
    problem options are for the equal-budget search (:mod:`.survey_equal_tuning`)."""
    size = settings(profile)
    options: dict[str, Any] = {k: size["synthetic"][k] for k in ("n_train", "n_test")}
    if entry.key == "rotograd":
        options["rotograd"] = True
    options.update(extra or {})
    fields: dict[str, Any] = dict(entry.trainer_kwargs)
    if weight_decay:  # as the MultiDigits search: a zero weight decay is the optimizer's default, left out
        fields["optimizer_kwargs"] = {"weight_decay": weight_decay}
    default_label = "RotoGrad" if entry.key == "rotograd" else entry.label
    return RunConfig(
        problem="synthetic_regression", optimizer="rmsprop", lr=lr,
        epochs=size["synthetic"]["epochs"], batch_size=size["synthetic"]["batch_size"],
        seed=seed, problem_kwargs=options, label=label or default_label, device=device, **fields,
    )  # fmt: skip


def configs(profile: str, device: str = "auto", data_dir: str | None = None,
            methods: Sequence[str] | None = None) -> list[RunConfig]:  # fmt: skip
    size = settings(profile)
    chosen = [m for m in METHODS if methods is None or m.key in methods]
    out = []
    for entry in chosen:
        kwargs = dict(entry.trainer_kwargs)
        label = "RotoGrad" if entry.key == "rotograd" else entry.label
        for seed in size["seeds"]:
            out.append(synthetic_config(profile, entry, seed, device))
            if entry.key == "rotograd" or "leaf" not in size:
                continue  # the leaf network is task-conditioned, not the hard-sharing model RotoGrad wraps
            leaf_options = {
                "scale": size["leaf"]["scale"],
                "image_size": size["leaf"]["image_size"],
                "data_dir": data_dir,
                **size["leaf"].get("model", {}),
            }
            out.append(RunConfig(
                problem="leaf", optimizer="adam", lr=5e-4,
                epochs=size["leaf"]["epochs"], batch_size=size["leaf"]["batch_size"],
                seed=seed, problem_kwargs=leaf_options, label=entry.label, device=device, **kwargs,
            ))  # fmt: skip
        if "multidigits" not in size:
            continue
        digits = size["multidigits"]
        digits_options = {k: digits[k] for k in ("n_train", "n_val", "n_test")}
        if entry.key == "rotograd":
            digits_options["rotograd"] = True  # the LeNet is hard sharing: the full method applies
            # rotations slower than the model, as in the MultiDigits chapter (see ROTATION_LR_FRACTION there)
            digits_options["rotation_lr"] = 0.1 * MULTIDIGITS_LR[profile]
        for seed in size["seeds"]:
            out.append(RunConfig(
                problem="multidigits", optimizer="adam", lr=MULTIDIGITS_LR[profile],
                epochs=digits["epochs"], batch_size=digits["batch_size"], seed=seed,
                problem_kwargs=digits_options, label=label, device=device, **kwargs,
            ))  # fmt: skip
    return out


def benchmark_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Rows: method; columns per problem: each headline metric (mean ± 95 % CI over seeds) and
    the per-step training cost relative to equal weighting's on the same problem (fastest epoch
    of each run, averaged over seeds)."""
    final = final_frame(records)
    final["key"] = final["task"] + "/" + final["metric"]
    costs: dict[tuple[str, str], list[float]] = {}
    for record in records:
        costs.setdefault((record["config"]["problem"], record["method"]), []).append(cost_per_step(record))
    rows: dict[str, dict[str, Any]] = {}
    for problem, (keys, _) in HEADLINE.items():
        ew_runs = costs.get((problem, "EW (reference)"))
        ew_cost = mean_ci95(ew_runs)[0] if ew_runs else float("nan")
        subset = final[final["run_id"].isin([r["run_id"] for r in records if r["config"]["problem"] == problem])]
        for method, group in subset.groupby("method", sort=False):
            row = rows.setdefault(method, {})
            for key in keys:
                values = group[group["key"] == key]["value"].tolist()
                row[(problem, key)] = format_mean_ci(values, 3) if values else ""
            row[(problem, "cost vs EW")] = round(mean_ci95(costs[(problem, method)])[0] / ew_cost, 2)
    order = [m.label for m in METHODS] + ["RotoGrad"]
    rows = dict(sorted(rows.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


def columns_at_chance(records: Sequence[dict[str, Any]]) -> list[str]:
    """The headline classification columns ("problem: metric") in which *every* method's mean
    over seeds stays below :data:`CHANCE_FACTOR` × the uniform guess (1/classes): such a column
    does not tell the methods apart, it says the budget did not train the problem."""
    final = final_frame(records)
    final["key"] = final["task"] + "/" + final["metric"]
    problems = {r["run_id"]: r["config"]["problem"] for r in records}
    final["problem"] = final["run_id"].map(problems)
    out = []
    for problem, (keys, _) in HEADLINE.items():
        for key in keys:
            part = final[(final["problem"] == problem) & (final["key"] == key)]
            if key not in CLASSES or part.empty:
                continue
            means = part.groupby("method")["value"].mean()
            if bool((means < CHANCE_FACTOR / CLASSES[key]).all()):
                out.append(f"{problem}: {key}")
    return out


def sweep_plan(profile: str, data_dir: str | None, device: str) -> Generator[Stage, list[dict[str, Any]], None]:
    """The page's sweeps in its order: every method at its defaults, then the equal-budget search
    and its test runs (:mod:`.survey_equal_tuning`), and, where the digit part is the MultiDigits
    chapter's problem, that chapter's equal-budget runs into its folder."""
    from mtl_lib.studies import multidigits as md
    from mtl_lib.studies import survey_equal_tuning as equal

    yield Stage("sweep", configs(profile, device=device, data_dir=data_dir))
    search = yield Stage("equal-budget search (synthetic)", equal.grid_configs(profile, device=device))
    yield Stage(
        "equal-budget test runs (synthetic)", equal.final_configs(profile, equal.choose(profile, search), device)
    )
    if equal.digits_match_the_chapter(profile):
        digits = yield Stage(
            "equal-budget search (digits)", md.equal_grid_configs(profile, device=device), folder="multidigits"
        )
        yield Stage("equal-budget test runs (digits)", md.equal_test_configs(profile, md.choose_equal(profile, digits), device),
                    folder="multidigits")  # fmt: skip


STUDY = Study(
    "survey_benchmark", "survey_benchmark",
    "Survey benchmark: every method on synthetic regression, leaf images and real digits, with its cost per step, "
    "at defaults and under the same tuning budget as EW",
    settings=settings, estimated_s=300, sweep=sweep_plan, reads_data=True,
)  # fmt: skip
