"""Cost per step and peak memory against the number of tasks K, ours and the peers.

Models (``_peers.py``): AdaTask's synthetic MLP (batch 100) for K ∈ {2, 3, 5, 10, 20, 40} and the
leaf CNN (64×64, batch 32; tasks as extra 2-class heads) for K ∈ {2, 3, 5, 10}. Methods: EW,
PCGrad, MGDA, CAGrad, Nash-MTL, UPGrad, IMTL-G, FAMO; libraries: ours (engine defaults), ours
with ``jacobian_of="gramian"``, TorchJD (autojac; autogram for its Gramian weightings), LibMTL
1.1.5 and GitHub HEAD (``--libmtl-head DIR``), wherever they have the method.

Time: per K, every variant's steps interleaved in random order over ``--rounds`` rounds; the
ratio to the plain step of the same round (median, min–max). On the CPU that is CPU time with
one torch thread (a shared machine disturbs it less than wall time); on CUDA it is wall time
between synchronisations.

Memory (``--memory-variants``): the peak growth of the memory in use during one warm step. On
the CPU, glibc's count of bytes handed out by malloc (``mallinfo2``: CPU tensors come from it;
freed-but-cached memory is not counted), sampled after every ATen op of the step; on CUDA
``torch.cuda.max_memory_allocated`` over three steps.

    PYTHONPATH=. .venv/bin/python benchmarks/task_scaling.py [--models mlp,cnn] [--rounds 5]
        [--steps 1] [--libmtl-head DIR] [--no-memory] [--device cpu|cuda]
    # writes _build/benchmarks/task_scaling[_cuda].{json,csv,png} (+ _memory.png)

``--device cuda`` on a machine without CUDA writes a record saying so and exits 0 (the GPU
variant: ``bash benchmarks/device_check.sh`` runs it on a device).
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import json
import sys
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _peers as P  # noqa: E402

METHODS = ["ew", "pcgrad", "mgda", "cagrad", "nash_mtl", "upgrad", "imtl_g", "famo"]
LIBRARIES = ["ours", "ours-gramian", "torchjd", "torchjd-autogram", "libmtl", "libmtl-head"]
TASK_COUNTS = {"mlp": [2, 3, 5, 10, 20, 40], "cnn": [2, 3, 5, 10]}
MAKERS = {"mlp": P.mlp_case, "cnn": P.cnn_case}
COLORS = dict(zip(LIBRARIES, ["tab:blue", "tab:cyan", "tab:red", "tab:orange", "tab:green", "tab:olive"]))
#: Folder of the committed results (read by ``mtl_lib.studies.task_scaling`` for the book).
SAVED = Path("benchmarks", "saved")
MEMORY_VARIANTS = (
    "plain,ours/mgda,ours-gramian/mgda,torchjd/mgda,torchjd-autogram/mgda,libmtl/mgda,"
    "ours/upgrad,ours-gramian/upgrad,torchjd/upgrad,torchjd-autogram/upgrad,libmtl-head/upgrad"
)


def load_peers(head: Path | None) -> tuple[dict[str, Any], dict[str, str]]:
    libmtl, where = {}, {}
    for key, root in (("libmtl", None), ("libmtl-head", head)):
        module, note = P.load_libmtl(root) if key == "libmtl" or root else (None, "no --libmtl-head given")
        where[key] = note
        if module is not None:
            libmtl[key] = module
    return libmtl, where


class _MallocInfo(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _malloc_in_use() -> Callable[[], int] | None:
    """Bytes glibc's malloc has handed out and not taken back (``mallinfo2``), or ``None``."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallocInfo
    except (OSError, AttributeError):
        return None

    def in_use() -> int:
        info = libc.mallinfo2()
        return info.uordblks + info.hblkhd

    return in_use


class _PeakSampler(TorchDispatchMode):
    """Samples the heap in use after every ATen op (forward and backward run on this thread)."""

    def __init__(self, in_use: Callable[[], int]) -> None:
        super().__init__()
        self.in_use, self.peak = in_use, 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        self.peak = max(self.peak, self.in_use())
        return out


def cpu_memory(variants: dict[str, P.Step], names: list[str]) -> dict[str, float | str]:
    """Peak heap growth during one (warm) step, MB: the live tensors a step adds at its peak,
    freed-but-cached memory excluded (CPU tensors come from glibc malloc)."""
    in_use = _malloc_in_use()
    if in_use is None:
        return {name: "no mallinfo2 (not glibc)" for name in names}
    out: dict[str, float | str] = {}
    for name in names:
        step = variants.get(name)
        if step is None:
            continue
        base = in_use()
        sampler = _PeakSampler(in_use)
        with sampler:
            step()
        out[name] = (max(sampler.peak, in_use()) - base) / 2**20
    return out


def cuda_memory(variants: dict[str, P.Step]) -> dict[str, float]:
    out = {}
    for name, step in variants.items():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        for _ in range(3):
            step()
        torch.cuda.synchronize()
        out[name] = (torch.cuda.max_memory_allocated() - base) / 2**20
    return out


def measure(args: argparse.Namespace, device: torch.device, libmtl: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    memory_names = [v for v in args.memory_variants.split(",") if v]
    for model in args.models.split(","):
        for num_tasks in TASK_COUNTS[model]:
            if args.max_tasks and num_tasks > args.max_tasks:
                continue
            case = MAKERS[model](num_tasks).to(device)
            variants, missing = P.build_variants(case, METHODS, [*LIBRARIES[:4], *libmtl], libmtl)
            rounds = args.rounds_by_model[model]
            seconds, failed = P.time_interleaved(variants, rounds, args.steps, args.seed, sync)
            ratio = P.ratios(seconds)
            memory: dict[str, Any] = {}
            if args.memory and device.type == "cuda":
                memory = cuda_memory(variants)
            elif args.memory:
                memory = cpu_memory(variants, memory_names)
            for name in sorted(set(ratio) | set(memory)):
                library, _, method = name.partition("/")
                row = {"model": model, "K": num_tasks, "variant": name, "library": library, "method": method}
                row.update(ratio.get(name, {}))
                row["memory_mb"] = memory.get(name)
                rows.append(row)
            for name, why in {**missing, **failed}.items():
                if why != "not in this library":
                    rows.append({"model": model, "K": num_tasks, "variant": name, "error": why})
            print(f"{case.label}: {len(ratio)} variants timed, {len(failed)} failed", flush=True)
    return rows


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    import matplotlib
    import matplotlib.lines

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows})
    fig, axes = plt.subplots(len(models), len(METHODS), figsize=(3.0 * len(METHODS), 2.8 * len(models)), squeeze=False)
    for i, model in enumerate(models):
        for j, method in enumerate(METHODS):
            ax = axes[i][j]
            for library in LIBRARIES:
                points = sorted(
                    (r["K"], r["median"], r["min"], r["max"])
                    for r in rows
                    if r["model"] == model and r.get("variant") == f"{library}/{method}" and "median" in r
                )
                if points:
                    ks, med, lo, hi = zip(*points)
                    ax.errorbar(
                        ks, med, yerr=[[m - a for m, a in zip(med, lo)], [b - m for m, b in zip(med, hi)]],
                        label=library, marker="o", ms=3, capsize=2, lw=1, color=COLORS[library],
                    )  # fmt: skip
            ax.set_xscale("log")
            ax.set_yscale("log")
            ks_all = sorted({r["K"] for r in rows if r["model"] == model})
            ax.set_xticks(ks_all, [str(k) for k in ks_all])
            ax.minorticks_off()
            ax.set_title(f"{model}: {method}", fontsize=9)
            ax.set_xlabel("K (tasks)", fontsize=8)
            if j == 0:
                ax.set_ylabel("step / plain step", fontsize=8)
            ax.tick_params(labelsize=7)
    handles = [matplotlib.lines.Line2D([], [], color=COLORS[lib], marker="o", ms=3, label=lib) for lib in LIBRARIES]
    fig.legend(handles=handles, loc="upper center", ncol=len(LIBRARIES), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    mem = [r for r in rows if isinstance(r.get("memory_mb"), (int, float))]
    if not mem:
        return
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.5), squeeze=False)
    for i, model in enumerate(models):
        ax = axes[0][i]
        for variant in sorted({r["variant"] for r in mem if r["model"] == model}):
            points = sorted((r["K"], r["memory_mb"]) for r in mem if r["model"] == model and r["variant"] == variant)
            ax.plot(*zip(*points), marker="o", ms=3, label=variant)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ks_all = sorted({r["K"] for r in mem if r["model"] == model})
        ax.set_xticks(ks_all, [str(k) for k in ks_all])
        ax.minorticks_off()
        ax.set_title(f"{model}: peak memory growth per step", fontsize=9)
        ax.set_xlabel("K (tasks)")
        ax.set_ylabel("MB")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out.with_name(out.stem + "_memory.png"), dpi=110)
    plt.close(fig)


def markdown(rows: list[dict[str, Any]]) -> str:
    """Per model: the time ratio (median, min–max) of every method × library against K, and the
    memory of the measured variants against K."""
    lines: list[str] = []
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == model and "median" in r]
        ks = sorted({r["K"] for r in mine})
        plain = {r["K"]: r["ms_median"] for r in mine if r["variant"] == "plain"}
        lines += [f"**{model}**: step / plain step, median (min–max); plain step ms: "
                  + ", ".join(f"K={k}: {plain[k]:.1f}" for k in ks if k in plain), ""]  # fmt: skip
        lines += ["| method | library | " + " | ".join(f"K={k}" for k in ks) + " |", "|---|---|" + "---|" * len(ks)]
        for method in METHODS:
            for library in LIBRARIES:
                cells = {r["K"]: r for r in mine if r["variant"] == f"{library}/{method}"}
                if cells:
                    text = [
                        f"{cells[k]['median']:.2f} ({cells[k]['min']:.2f}–{cells[k]['max']:.2f})" if k in cells else "—"
                        for k in ks
                    ]
                    lines.append(f"| {method} | {library} | " + " | ".join(text) + " |")
        memory = [r for r in rows if r["model"] == model and isinstance(r.get("memory_mb"), (int, float))]
        if memory:
            lines += ["", f"**{model}**: peak memory growth during one step (MB)", ""]
            lines += ["| variant | " + " | ".join(f"K={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
            for variant in sorted({r["variant"] for r in memory}):
                cells = {r["K"]: r["memory_mb"] for r in memory if r["variant"] == variant}
                lines.append(
                    f"| {variant} | " + " | ".join(f"{cells[k]:.1f}" if k in cells else "—" for k in ks) + " |"
                )
        lines.append("")
    return "\n".join(lines)


def provenance(args: argparse.Namespace, device: torch.device, libmtl: dict[str, str]) -> dict[str, Any]:
    """When, where, with what and by which command the numbers were measured."""
    import torchjd

    from mtl_lib.experiments.saved_summaries import provenance as library_provenance

    stamp = library_provenance()
    stamp.update({
        "torchjd_version": getattr(torchjd, "__version__", None) or _distribution_version("torchjd"),
        "libmtl": libmtl,
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "clock": "wall time between synchronisations" if device.type == "cuda" else "CPU time of the process",
        "rounds": args.rounds_by_model,
        "steps": args.steps,
        "command": P.command_line(),
    })  # fmt: skip
    return stamp


def rounds_per_model(text: str, models: list[str]) -> dict[str, int]:
    """``"5"`` (every model) or ``"mlp=5,cnn=3"`` → rounds per model."""
    if "=" not in text:
        return dict.fromkeys(models, int(text))
    given = {k: int(v) for k, v in (part.split("=") for part in text.split(","))}
    unknown = set(given) - set(TASK_COUNTS)
    if unknown or set(models) - set(given):
        raise SystemExit(
            f"--rounds {text!r}: give every model of --models ({', '.join(models)}) a count, e.g. mlp=5,cnn=3"
        )
    return given


def _distribution_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


#: What each model's entry of ``measured`` keeps of its run's provenance.
_MODEL_STAMP = ("written_at", "finished_at", "commit", "library_changed_since_commit", "host", "torch_version",
                "torchjd_version", "command")  # fmt: skip


def model_stamp(stamp: dict[str, Any], model: str) -> dict[str, Any]:
    """The provenance of one model's rows: its run's time, commit and command, and its rounds."""
    rounds = stamp.get("rounds")
    return {
        **{k: stamp.get(k) for k in _MODEL_STAMP},
        "rounds": rounds.get(model) if isinstance(rounds, dict) else rounds,
    }


def merged(saved: dict[str, Any], new: dict[str, Any], models: list[str]) -> dict[str, Any]:
    """``new`` (a run of ``models``) plus the saved rows of every other model, each model's
    ``measured`` entry saying which run its rows come from."""
    kept = [r for r in saved.get("rows", []) if r.get("model") not in models]
    old_models = {r["model"] for r in kept}
    measured = saved.get("measured") or {m: model_stamp(saved.get("provenance", {}), m) for m in old_models}
    measured = {m: v for m, v in measured.items() if m in old_models}
    return {**new, "measured": {**measured, **new["measured"]}, "rows": kept + new["rows"]}


def write_results(path: Path, results: dict[str, Any]) -> None:
    """The results as JSON, one row per line (small enough to commit, readable in a diff)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {k: v for k, v in results.items() if k != "rows"}
    text = json.dumps(head, indent=1)[:-2] + ',\n "rows": [\n'
    text += ",\n".join("  " + json.dumps(_rounded(row)) for row in results["rows"]) + "\n ]\n}\n"
    path.write_text(text)


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in row.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--rounds", default="5", help="rounds per K: 5, or per model: mlp=5,cnn=3")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--max-tasks", type=int, default=0, help="skip K above this (0: none)")
    parser.add_argument("--libmtl-head", type=Path, default=None)
    parser.add_argument("--memory-variants", default=MEMORY_VARIANTS)
    parser.add_argument("--no-memory", dest="memory", action="store_false")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="results file (default: _build/benchmarks/)")
    parser.add_argument("--save", action="store_true", help=f"write the committed results file under {SAVED}/")
    parser.add_argument("--summarise", type=Path, default=None, help="print the tables of a saved run and exit")
    args = parser.parse_args()
    if args.summarise:
        rows = json.loads(args.summarise.read_text())["rows"]
        text = markdown(rows)
        args.summarise.with_suffix(".md").write_text(text + "\n")
        plot(rows, Path("_build/benchmarks") / args.summarise.with_suffix(".png").name)
        print(text)
        return
    args.rounds_by_model = rounds_per_model(args.rounds, args.models.split(","))
    name = f"task_scaling{'_cuda' if args.device == 'cuda' else ''}.json"
    out = args.out or (SAVED if args.save else Path("_build/benchmarks")) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.device == "cuda" and not torch.cuda.is_available():
        reason = "skipped: no CUDA device (torch.cuda.is_available() is False); run on a GPU machine"
        out.write_text(json.dumps({"skipped": reason, "torch": torch.__version__}, indent=1))
        print(reason)
        return
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    device = torch.device(args.device)
    libmtl, where = load_peers(args.libmtl_head)
    stamp = provenance(args, device, where)  # before measuring: the code that is measured
    rows = measure(args, device, libmtl)
    stamp["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    models = args.models.split(",")
    results = {"schema": 1, "provenance": stamp, "measured": {m: model_stamp(stamp, m) for m in models}, "rows": rows}
    if args.save and out.exists():  # a run of some models keeps the saved rows of the others
        results = merged(json.loads(out.read_text()), results, models)
    write_results(out, results)
    out.with_suffix(".md").write_text(markdown(results["rows"]) + "\n")
    build = Path("_build/benchmarks") / out.name
    build.parent.mkdir(parents=True, exist_ok=True)
    keys = ["model", "K", "variant", "median", "min", "max", "ms_median", "ms_min", "ms_max", "memory_mb", "error"]
    with build.with_suffix(".csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, build.with_suffix(".png"))
    print(f"written {out} (+ .md; {build.with_suffix('.csv')}, .png, _memory.png)")


if __name__ == "__main__":
    main()
