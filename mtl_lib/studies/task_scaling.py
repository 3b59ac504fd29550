"""Cost per step and peak memory against the number of tasks K (the survey benchmark page).

The numbers are measured by ``benchmarks/task_scaling.py`` (every variant's steps interleaved in
one process, CPU time with one thread, ratios to a plain ``sum(losses).backward()`` + Adam step
of the same round) and saved, with their provenance, in :data:`RESULTS_FILE`, which is
committed. This module reads that file through a schema check and turns it into the page's
figure and tables; it never measures anything itself (a book build has no quiet machine).

Variants are ``"<library>/<method>"``: ``ours`` (engine defaults, the exact K×P Jacobian of the
shared parameters), ``ours-gramian`` (``Trainer(jacobian_of="gramian")``: the K×K Gramian layer
by layer, :mod:`mtl_lib.core.gramian`), ``torchjd`` (autojac), ``torchjd-autogram`` (its
Gramian engine), ``libmtl`` (1.1.5) and ``libmtl-head`` (GitHub HEAD); ``plain`` is the
reference step.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.lines
import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd

from mtl_lib.studies._figures import book_subplots, fit_to_column

#: The saved results, relative to the repository's root.
RESULTS_FILE = Path("benchmarks", "saved", "task_scaling.json")
#: The command that (re)writes :data:`RESULTS_FILE` (run from the repository's root).
REMAKE_COMMAND = (
    "OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/task_scaling.py --save "
    "--libmtl-head DIR  (DIR holds LibMTL/weighting of LibMTL's GitHub HEAD)"
)
#: Version of the file's layout this module reads.
SCHEMA = 1
#: Libraries in the order the figure and tables show them, and their labels.
LIBRARIES = {
    "ours": "ours (Jacobian)",
    "ours-gramian": "ours (Gramian)",
    "torchjd": "TorchJD autojac",
    "torchjd-autogram": "TorchJD autogram",
    "libmtl": "LibMTL 1.1.5",
    "libmtl-head": "LibMTL HEAD",
}
COLORS = dict(zip(LIBRARIES, ["tab:blue", "tab:cyan", "tab:red", "tab:orange", "tab:green", "tab:olive"]))
#: Methods in the order the tables list them (the benchmark's; any other measured method follows).
METHODS = ("ew", "pcgrad", "mgda", "cagrad", "nash_mtl", "upgrad", "imtl_g", "famo")
MODELS = {"mlp": "synthetic MLP (batch 100)", "cnn": "leaf CNN 64×64 (batch 32)"}
_TIMED = ("median", "min", "max", "ms_median", "ms_min", "ms_max")


class TaskScalingResultsError(ValueError):
    """The saved results are missing or damaged: the message names the file, the problem and the
    command that remakes it."""


def results_path() -> Path:
    """:data:`RESULTS_FILE` under the repository's root: the first folder holding it, walking up
    from the working directory (a notebook runs in ``notebooks/``), else beside this package."""
    here = Path.cwd().resolve()
    package_root = Path(__file__).resolve().parents[2]
    for folder in (here, *here.parents, package_root):
        if (folder / RESULTS_FILE).is_file():
            return folder / RESULTS_FILE
    return package_root / RESULTS_FILE


def _is_positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _row_problem(index: int, row: Any) -> str | None:
    if not isinstance(row, dict):
        return f"row {index} is not an object"
    if row.get("model") not in MODELS:
        return f"row {index} has the unknown model {row.get('model')!r} (known: {', '.join(MODELS)})"
    if not isinstance(row.get("K"), int) or isinstance(row.get("K"), bool) or row["K"] < 1:
        return f"row {index} has no whole number of tasks 'K' ≥ 1 (got {row.get('K')!r})"
    variant = row.get("variant")
    if variant != "plain" and (not isinstance(variant, str) or variant.partition("/")[0] not in LIBRARIES):
        return f"row {index} has the unknown variant {variant!r} (want 'plain' or '<library>/<method>', libraries: {', '.join(LIBRARIES)})"
    bad = [key for key in _TIMED if key in row and not _is_positive(row[key])]
    if bad or ("median" in row) != all(key in row for key in _TIMED):
        return (
            f"row {index} ({variant}, K={row['K']}): {', '.join(_TIMED)} must all be finite numbers > 0 or all absent"
        )
    memory = row.get("memory_mb")
    if memory is not None and not (isinstance(memory, (int, float)) and math.isfinite(memory) and memory >= 0):
        return f"row {index} ({variant}, K={row['K']}): 'memory_mb' must be null or a finite number ≥ 0, got {memory!r}"
    return None


def results_problem(results: Any) -> str | None:
    """The first thing wrong with ``results`` as a saved task-scaling file, or None."""
    if not isinstance(results, dict):
        return "the file holds no JSON object"
    if results.get("schema") != SCHEMA:
        return f"schema {results.get('schema')!r}, this library reads schema {SCHEMA}"
    provenance = results.get("provenance")
    if not isinstance(provenance, dict) or not isinstance(provenance.get("written_at"), str):
        return "'provenance' must be an object with a 'written_at' string"
    measured = results.get("measured", {})
    if not isinstance(measured, dict) or any(
        not isinstance(v, dict) or not isinstance(v.get("written_at"), str) for v in measured.values()
    ):
        return "'measured' must map each model to an object with a 'written_at' string"
    rows = results.get("rows")
    if not isinstance(rows, list) or not rows:
        return "'rows' must be a non-empty list"
    for index, row in enumerate(rows):
        problem = _row_problem(index, row)
        if problem:
            return problem
    timed = {(r["model"], r["K"]) for r in rows if "median" in r}
    plain = {(r["model"], r["K"]) for r in rows if r["variant"] == "plain" and "median" in r}
    if timed - plain:
        return f"no timed 'plain' row for {sorted(timed - plain)} (every ratio is relative to it)"
    return None


def load_results(path: str | Path | None = None) -> dict[str, Any]:
    """The saved results (default :func:`results_path`), checked by :func:`results_problem`; a
    missing, unreadable or damaged file raises :class:`TaskScalingResultsError` naming the file,
    the problem and :data:`REMAKE_COMMAND`."""
    path = Path(path) if path is not None else results_path()
    remake = f"remake it from the repository's root: {REMAKE_COMMAND}"
    if not path.is_file():
        raise TaskScalingResultsError(f"{path}: no saved task-scaling results; {remake}")
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise TaskScalingResultsError(f"{path}: not valid JSON (line {error.lineno}: {error.msg}); {remake}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TaskScalingResultsError(f"{path}: unreadable ({type(error).__name__}: {error}); {remake}") from None
    problem = results_problem(results)
    if problem:
        raise TaskScalingResultsError(f"{path}: {problem}; {remake}")
    return results


def describe(results: Mapping[str, Any]) -> str:
    """Where and how the numbers were measured: one line per model when the models' rows come
    from different runs (``measured``), else one line."""
    p = results["provenance"]
    measured = results.get("measured")
    if not measured:
        return _describe_run(p, f"{_rounds(p.get('rounds'))} interleaved rounds")
    lines = [
        f"{MODELS.get(model, model)}: "
        + _describe_run({**p, **stamp}, f"{stamp.get('rounds', '?')} interleaved rounds")
        for model, stamp in measured.items()
    ]
    return "\n".join(lines)


def _describe_run(p: Mapping[str, Any], rounds: str) -> str:
    commit = (p.get("commit") or "no git commit")[:10]
    if p.get("library_changed_since_commit"):
        commit += " plus uncommitted changes"
    return (
        f"measured {p['written_at']} on host {p.get('host', '?')} ({p.get('device', '?')}; commit {commit}; "
        f"torch {p.get('torch_version', '?')}, TorchJD {p.get('torchjd_version', '?')}; "
        f"{rounds} of {p.get('steps', '?')} step(s)) by: {p.get('command', '?')}"
    )


def _rounds(rounds: Any) -> str:
    if isinstance(rounds, dict):
        return ", ".join(f"{count} ({MODELS.get(model, model).split(' (')[0]})" for model, count in rounds.items())
    return str(rounds if rounds is not None else "?")


def frame(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (model, K, variant) that was timed or measured: ``library``, ``method``, the
    ratio to the plain step (``median``, ``min``, ``max``), milliseconds per step and peak memory
    growth (MB)."""
    rows = [r for r in results["rows"] if "median" in r or r.get("memory_mb") is not None]
    table = pd.DataFrame(rows)
    parts = table["variant"].str.partition("/")
    table["library"], table["method"] = parts[0], parts[2]
    return table


def _methods(table: pd.DataFrame) -> list[str]:
    measured = [m for m in dict.fromkeys(table["method"]) if m]
    return sorted(measured, key=lambda m: (METHODS.index(m) if m in METHODS else len(METHODS), m))


def time_table(results: Mapping[str, Any], model: str = "mlp") -> pd.DataFrame:
    """Step time / plain step time, median (min–max) over rounds, per method × library against
    K, for ``model``; the last row is the plain step in milliseconds."""
    table = frame(results)
    table = table[(table["model"] == model) & table["median"].notna()]
    ks = sorted(table["K"].unique())
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for method in _methods(table):
        for library, label in LIBRARIES.items():
            cells = table[table["variant"] == f"{library}/{method}"].set_index("K")
            if len(cells):
                rows[(method, label)] = {
                    f"K={k}": f"{cells.at[k, 'median']:.2f} ({cells.at[k, 'min']:.2f}–{cells.at[k, 'max']:.2f})"
                    if k in cells.index
                    else "—"
                    for k in ks
                }
    plain = table[table["variant"] == "plain"].set_index("K")
    rows[("plain step", "ms")] = {f"K={k}": f"{plain.at[k, 'ms_median']:.1f}" for k in ks}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["method", "library"])
    return out


def memory_table(results: Mapping[str, Any], model: str = "mlp") -> pd.DataFrame:
    """Peak memory growth during one step (MB) of the measured variants against K, for ``model``."""
    table = frame(results)
    table = table[(table["model"] == model) & table["memory_mb"].notna()]
    out = table.pivot_table(index="variant", columns="K", values="memory_mb").round(1)
    out.columns = [f"K={k}" for k in out.columns]
    return out


def gramian_vs_jacobian(results: Mapping[str, Any], model: str = "mlp", num_tasks: int | None = None) -> pd.DataFrame:
    """Per method with both of our paths at ``num_tasks`` (default: the largest K measured):
    milliseconds per step of the Jacobian and the Gramian path, their ratio (Gramian / Jacobian)
    and, where measured, the peak memory of both."""
    table = frame(results)
    table = table[table["model"] == model]
    k = int(table["K"].max()) if num_tasks is None else num_tasks
    at_k = table[table["K"] == k].set_index("variant")
    rows = {}
    for method in _methods(table):
        jacobian, gramian = f"ours/{method}", f"ours-gramian/{method}"
        if jacobian not in at_k.index or gramian not in at_k.index:
            continue
        j, g = at_k.loc[jacobian], at_k.loc[gramian]
        row = {
            "Jacobian ms": j["ms_median"],
            "Gramian ms": g["ms_median"],
            "time Gramian/Jacobian": g["ms_median"] / j["ms_median"],
        }
        if pd.notna(j.get("memory_mb")) and pd.notna(g.get("memory_mb")):
            row.update({"Jacobian MB": j["memory_mb"], "Gramian MB": g["memory_mb"],
                        "memory Gramian/Jacobian": g["memory_mb"] / max(j["memory_mb"], 1e-9)})  # fmt: skip
        rows[method] = row
    if not rows:
        raise TaskScalingResultsError(f"no method has both of our paths at {model} K={k}; {REMAKE_COMMAND}")
    out = pd.DataFrame.from_dict(rows, orient="index").round(3)
    out.index.name = f"{model}, K={k}"
    return out


def _series(table: pd.DataFrame, variant: str, column: str) -> tuple[list[int], list[float], list[float], list[float]]:
    rows = table[(table["variant"] == variant) & table[column].notna()].sort_values("K")
    if column == "memory_mb":
        values = rows[column].tolist()
        return rows["K"].tolist(), values, values, values
    return rows["K"].tolist(), rows["ms_median"].tolist(), rows["ms_min"].tolist(), rows["ms_max"].tolist()


def _draw(ax: plt.Axes, table: pd.DataFrame, method: str, column: str) -> None:
    for library in LIBRARIES:
        ks, mid, low, high = _series(table, f"{library}/{method}", column)
        if ks:
            ax.errorbar(ks, mid, yerr=[[m - a for m, a in zip(mid, low)], [b - m for m, b in zip(mid, high)]],
                        color=COLORS[library], marker="o", ms=3, lw=1.2, capsize=2)  # fmt: skip
    ks, mid, _, _ = _series(table, "plain", column)
    if ks:
        ax.plot(ks, mid, color="black", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    all_ks = sorted(table["K"].unique())
    ax.set_xticks(all_ks, [str(k) for k in all_ks])
    ax.minorticks_off()
    # 1-2-5 ticks: a panel spanning less than a decade still gets labelled values
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))


def figure(
    results: Mapping[str, Any], methods: Sequence[str] = ("mgda", "upgrad"), memory_method: str = "upgrad"
) -> plt.Figure:
    """Per model (rows): milliseconds per step against K for each of ``methods`` (median over
    rounds, bars min–max), and the peak memory growth of one step for ``memory_method``; one
    line per library, the plain step dashed; log axes."""
    table = frame(results)
    models = [m for m in MODELS if m in set(table["model"])]
    columns = [*methods, None]
    fig, axes = book_subplots(len(models), len(columns), height=2.3 * len(models) + 0.9, squeeze=False)
    for i, model in enumerate(models):
        mine = table[table["model"] == model]
        for j, method in enumerate(columns):
            ax = axes[i][j]
            if method is None:
                _draw(ax, mine, memory_method, "memory_mb")
                ax.set_title(f"{memory_method}: peak memory")
                ax.set_ylabel("MB per step")
            else:
                _draw(ax, mine, method, "ms_median")
                ax.set_title(f"{method}: time")
                if j == 0:
                    ax.set_ylabel(f"{model}: ms per step")
            if i == len(models) - 1:
                ax.set_xlabel("K (tasks)")
    shown = sorted(set(table["library"]) & set(LIBRARIES), key=list(LIBRARIES).index)
    handles = [
        matplotlib.lines.Line2D([], [], color=COLORS[lib], marker="o", ms=3, label=LIBRARIES[lib]) for lib in shown
    ]
    handles.append(matplotlib.lines.Line2D([], [], color="black", ls="--", label="plain step"))
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.16 if len(models) == 1 else 0.1, 1, 1))
    return fit_to_column(fig, relayout=False)
