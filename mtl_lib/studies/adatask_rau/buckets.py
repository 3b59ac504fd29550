"""rAU bucket shares from the runs' records (Fig. 2) and from the probe runs (the γ table)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from mtl_lib.core.model import parameter_names
from mtl_lib.diagnostics.rau import DEFAULT_EDGES


def layer_of(tensor_name: str) -> str:
    """A layer is a module: its weight and bias (``encoder.0.weight`` → ``encoder.0``)."""
    return tensor_name.rsplit(".", 1)[0]


def shared_tensor_sizes(problem_kwargs: dict[str, Any] | None = None) -> dict[str, int]:
    """Element count of each shared tensor of the synthetic model, by name."""
    from mtl_lib.architectures import synthetic_mlp

    hidden = tuple((problem_kwargs or {}).get("hidden", (100, 100, 100, 100)))
    model = synthetic_mlp(hidden=hidden)
    shared = model.shared_parameters()
    return {name: p.numel() for name, p in zip(parameter_names(model, shared), shared)}


def bucket_frame(records: Sequence[dict[str, Any]], task: str = "B") -> pd.DataFrame:
    """Final rAU(·, T, task) bucket shares per run: columns method, seed, layer (``"all"`` or a
    module; a module's share pools its weight and bias by element count), bucket, share."""
    rows = []
    for record in records:
        # the model's widths are part of the run's setting (the frozen regime's width)
        sizes = shared_tensor_sizes(record.get("config", {}).get("problem_kwargs"))
        per_tensor = record["diagnostics"]["rau_buckets"][task]
        for bucket in per_tensor["all"]:
            rows.append((record["method"], record["seed"], "all", bucket, per_tensor["all"][bucket]))
            pooled: dict[str, float] = {}
            counts: dict[str, int] = {}
            for name, shares in per_tensor.items():
                if name == "all":
                    continue
                layer = layer_of(name)
                pooled[layer] = pooled.get(layer, 0.0) + shares[bucket] * sizes[name]
                counts[layer] = counts.get(layer, 0) + sizes[name]
            rows += [
                (record["method"], record["seed"], layer, bucket, pooled[layer] / counts[layer]) for layer in pooled
            ]
    return pd.DataFrame(rows, columns=["method", "seed", "layer", "bucket", "share"])


def bucket_table(frame: pd.DataFrame, layer: str = "all") -> pd.DataFrame:
    """Mean share (in %) over seeds per method and bucket, for one layer."""
    part = frame[frame["layer"] == layer]
    table = part.pivot_table(index="method", columns="bucket", values="share", aggfunc="mean", sort=False) * 100
    return table[bucket_labels()].round(1)


def bucket_labels(edges: Sequence[float] = DEFAULT_EDGES) -> list[str]:
    """Bucket labels as the rAU tracker writes them: ``"(0, 0.2]"``, ...."""
    return [f"({a:g}, {b:g}]" for a, b in zip(edges, edges[1:])]


def pretty_bucket(label: str) -> str:
    """``"(0.8, 1]"`` → ``"(80 %, 100 %]"``."""
    low, high = (float(x) for x in label.strip("(]").split(","))
    return f"({low * 100:.0f} %, {high * 100:.0f} %]"


def bucket_history(records: Sequence[dict[str, Any]], task: str = "B", seed: int | None = None) -> pd.DataFrame:
    """rAU(·, t, task) bucket shares of all shared parameters over training (one seed: the
    first one found unless ``seed`` is given): columns method, step, bucket, share."""
    frames = []
    for record in records:
        if seed is None:
            seed = record["seed"]
        if record["seed"] != seed:
            continue
        history = pd.DataFrame(record["diagnostics"]["rau_history"])
        history = history[(history["task"] == task) & (history["layer"] == "all")]
        frames.append(history.assign(method=record["method"])[["method", "step", "bucket", "share"]])
    return pd.concat(frames, ignore_index=True)


def gamma_table(probe_records: Sequence[dict[str, Any]], task: str = "B") -> pd.DataFrame:
    """Share (%) of shared parameters with rAU(task) in (80 %, 100 %] and in (40 %, 60 %] for
    each probe run and rAU decay γ."""
    rows = []
    for record in probe_records:
        for gamma, shares in record["rau_buckets"].items():
            rows.append(
                {
                    "method": record["method"],
                    "γ": float(gamma),
                    "dominated by B: (80 %, 100 %]": 100 * shares[task]["(0.8, 1]"],
                    "balanced: (40 %, 60 %]": 100 * shares[task]["(0.4, 0.6]"],
                }
            )
    return pd.DataFrame(rows).set_index(["method", "γ"]).round(1)


__all__ = [
    "bucket_frame",
    "bucket_history",
    "bucket_labels",
    "bucket_table",
    "gamma_table",
    "layer_of",
    "pretty_bucket",
    "shared_tensor_sizes",
]
