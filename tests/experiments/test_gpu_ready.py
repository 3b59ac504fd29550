"""Mixed precision and device handling: bf16 autocast keeps EW close to float32; CUDA-only
checks are marked ``cuda`` and skipped without a GPU (``benchmarks/device_check.sh`` runs them)."""

from __future__ import annotations

import pytest
import torch

from mtl_lib.experiments import RunConfig, run, sweep

TINY = {"n_train": 256, "n_test": 128, "hidden": (32, 32)}


def _config(**overrides):
    base = dict(problem="synthetic_regression", optimizer="rmsprop", epochs=2, batch_size=32,
                problem_kwargs=TINY, device="cpu", seed=0)  # fmt: skip
    base.update(overrides)
    return RunConfig(**base)


def test_ew_under_cpu_bf16_autocast_matches_float32():
    full = run(_config())
    half = run(_config(autocast="bf16"))
    assert half["config"]["autocast"] == "bf16" and "autocast" not in full["config"]
    for key in ("A/nrmse", "B/nrmse", "A/train_loss", "B/train_loss"):
        # bf16 keeps 8 bits of mantissa: a 2-epoch run drifts by a few per cent, not more
        assert half["final"][key] == pytest.approx(full["final"][key], rel=0.05), key
    assert half["final"]["A/nrmse"] != full["final"]["A/nrmse"]  # autocast really was on


def test_autocast_does_not_change_run_ids_of_float32_runs():
    assert "autocast" not in _config().identity()
    assert _config().run_id() != _config(autocast="bf16").run_id()


def test_unknown_autocast_is_rejected_by_the_trainer():
    from mtl_lib.engine.trainer import Trainer
    from mtl_lib.problems import PROBLEMS

    problem = PROBLEMS.get("synthetic_regression")(seed=0, batch_size=32, device=torch.device("cpu"), **TINY)
    with pytest.raises(ValueError, match=r"autocast must be .*'bf16'"):
        Trainer(problem.model, problem.tasks, autocast="fp16", progress=False)


cuda = pytest.mark.cuda
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@needs_cuda
def test_cuda_run_matches_cpu_closely_and_records_the_device(tmp_path):
    cpu = run(_config())
    gpu = run(_config(device="cuda"))
    assert gpu["device"].startswith("cuda") and gpu["device_name"]
    assert gpu["final"]["A/nrmse"] == pytest.approx(cpu["final"]["A/nrmse"], rel=1e-3)


@cuda
@needs_cuda
def test_cuda_bf16_and_parallel_workers_one_gpu_each(tmp_path):
    configs = [_config(device="auto", seed=s, autocast="bf16") for s in range(max(2, torch.cuda.device_count()))]
    records = sweep(configs, tmp_path, progress=False, workers=len(configs))
    assert all(r["status"] == "finished" and r["device"].startswith("cuda") for r in records)
    if torch.cuda.device_count() > 1:
        assert len({r["device"] for r in records}) > 1  # spread over the GPUs
