#!/usr/bin/env bash
# On a GPU machine: run the CUDA-only tests, then time one paper-size epoch of the leaf study
# (approaches A and H) and of the CityScapes stand-in study, and print the projected wall time
# of the whole `paper` profile for those two studies.
#
#   bash benchmarks/device_check.sh            # uses every visible GPU for the projection
#
# Epoch times come from the runs' own records (train_time_s of the fastest epoch of a 2-epoch
# run, so one-off start-up costs are left out; evaluation time is added from the wall time).
# The projection assumes runs are spread over the visible GPUs, one run per GPU at a time
# (what `python -m mtl_lib run STUDY --profile paper` does by default).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[[ -x "$PY" ]] || PY=python

"$PY" - <<'PYEOF'
import torch, sys
if not torch.cuda.is_available():
    sys.exit("device_check: no CUDA device visible (torch.cuda.is_available() is False)")
print(f"[device] {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
PYEOF

echo "[device] CUDA tests"
"$PY" -m pytest tests -m cuda -q -rs -p no:cacheprovider

echo "[device] timing one paper-size epoch per study"
"$PY" - <<'PYEOF'
import math
import time
from dataclasses import replace

import torch

from mtl_lib.experiments import run
from mtl_lib.studies import adatask_tables, leaf_combinations

gpus = torch.cuda.device_count()


def epoch_seconds(config):
    """Fastest training epoch of a 2-epoch run plus its share of evaluation time."""
    started = time.perf_counter()
    record = run(replace(config, epochs=2, device="cuda"))
    wall = time.perf_counter() - started
    train = [e["train_time_s"] for e in record["history"]]
    evaluation = max(0.0, (wall - sum(train)) / len(train))  # setup + eval, amortised generously
    return min(train) + evaluation, record


def hours(seconds):
    return f"{seconds / 3600:.1f} h"


# Leaf: approaches A (plain) and H (PCGrad + Modulation + LaSS) bracket the per-epoch cost.
leaf_paper = leaf_combinations.configs("paper")
leaf_times = {}
for approach in ("A", "H"):
    config = next(c for c in leaf_paper if c.label == approach)
    seconds, _ = epoch_seconds(config)
    leaf_times[approach] = seconds
    print(f"leaf {approach}: {seconds:.2f} s per paper-size epoch (64x64, 4,502 stand-in images, batch 32)")
per_epoch = sum(leaf_times.values()) / len(leaf_times)
leaf_total = per_epoch * sum(c.epochs for c in leaf_paper)
print(f"leaf paper profile: {len(leaf_paper)} runs x {leaf_paper[0].epochs} epochs -> "
      f"{hours(leaf_total)} on one GPU, {hours(leaf_total / max(1, min(gpus, len(leaf_paper))))} on {gpus} GPU(s)")

# CityScapes stand-in: EW times the plain path, PCGrad the Jacobian path (every other method).
city_paper = adatask_tables.cityscapes_configs("paper")
plain = next(c for c in city_paper if c.label == "EqualWeight")
jacobian = next(c for c in city_paper if c.label == "PCGrad")
t_plain, _ = epoch_seconds(plain)
t_jac, _ = epoch_seconds(jacobian)
print(f"cityscapes EW: {t_plain:.2f} s, PCGrad: {t_jac:.2f} s per paper-size epoch (128x256, 2,975 images)")
city_total = sum(
    (t_plain if (c.aggregator is None and c.weighting in ("ew", "uw") and c.optimizer == "adam") else t_jac) * c.epochs
    for c in city_paper
)
print(f"cityscapes paper profile: {len(city_paper)} runs x {city_paper[0].epochs} epochs -> "
      f"{hours(city_total)} on one GPU, {hours(city_total / max(1, min(gpus, len(city_paper))))} on {gpus} GPU(s)")
print(f"PROJECTED paper wall time (leaf + cityscapes): {hours(leaf_total + city_total)} on one GPU; "
      f"{hours((leaf_total + city_total) / max(1, gpus))} spread over {gpus} GPU(s)")
PYEOF

echo "[device] task scaling on the GPU (issue 26: ours, ours-gramian, TorchJD, LibMTL; time and cuda peak memory vs K)"
# About 3-5 min on one GPU; writes _build/benchmarks/task_scaling_cuda.{json,csv,png}. LibMTL HEAD
# joins when MTL_LIBMTL_HEAD names a folder holding LibMTL/weighting.
"$PY" benchmarks/task_scaling.py --device cuda --rounds 3 --steps 2 \
    ${MTL_LIBMTL_HEAD:+--libmtl-head "$MTL_LIBMTL_HEAD"}
