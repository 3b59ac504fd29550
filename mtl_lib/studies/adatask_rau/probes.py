"""The probe runs behind Fig. 1, the learning-rate paragraph and the γ table.

They need the trained model and per-parameter rAU, which a sweep's result file does not keep,
so a probe run is the sweep's run of the same config (:func:`mtl_lib.experiments.run`) with the
study's own diagnostics attached: rAU trackers for every γ of :data:`RAU_GAMMAS`, and for
EqualWeight the learning-rate probe and the noise experiment. Its record is saved as one JSON
file per run next to the sweep's, so a re-executed notebook resumes.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from mtl_lib.diagnostics import Diagnostic, RAUTracker
from mtl_lib.experiments import pinned_threads, run, write_json_atomic
from mtl_lib.experiments.store import read_json
from mtl_lib.studies.adatask_rau.config import (
    NOISE_FRACTIONS,
    NOISE_VARIANCES,
    RAU_GAMMAS,
    TOP_AU,
    TOP_FISHER,
    run_config,
    settings,
)
from mtl_lib.studies.adatask_rau.lr_probe import LearningRateProbe
from mtl_lib.studies.adatask_rau.noise import NoiseProbe


class GammaSweep(Diagnostic):
    """rAU trackers for several decays γ on one run (record key ``"rau_buckets"``: γ → task →
    final bucket shares of all shared parameters)."""

    needs_task_gradients = True

    def __init__(self, gammas: tuple[float, ...]) -> None:
        # bucket history is not needed here: record_every beyond any run's length
        self.trackers = {gamma: RAUTracker(gamma=gamma, record_every=10**9) for gamma in gammas}

    def on_train_start(self, trainer: Any) -> None:
        for tracker in self.trackers.values():
            tracker.on_train_start(trainer)

    def on_step_end(self, trainer: Any, step: int, losses: Any) -> None:
        for tracker in self.trackers.values():
            tracker.on_step_end(trainer, step, losses)

    def results(self, trainer: Any, eval_data: Any = None) -> dict[str, Any]:
        return {
            "rau_buckets": {
                str(gamma): {t.name: tracker.bucket_shares(t.name).loc["all"].to_dict() for t in trainer.tasks}
                for gamma, tracker in self.trackers.items()
            }
        }


def probe_identity(profile: str, method: str, seed: int = 0) -> dict[str, Any]:
    """Everything that defines a probe run (its training config and the probe settings)."""
    size = settings(profile)
    config = run_config(profile, method, seed, "auto", ())
    return {
        "config": config.identity(),
        "gammas": list(RAU_GAMMAS),
        "noise": None if method != "EqualWeight" else {
            "variances": list(NOISE_VARIANCES), "fractions": list(NOISE_FRACTIONS), "draws": size["noise_draws"],
            "ablations": [TOP_AU, TOP_FISHER],
        },
        "lr_probe": None if config.optimizer != "rmsprop" else {"per_layer": size["probe_per_layer"]},
    }  # fmt: skip


def probe_path(results_dir: str | Path, identity: dict[str, Any], method: str, seed: int) -> Path:
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    return Path(results_dir) / f"probe-{method}-seed{seed}-{digest}.json"


def probe_run(
    profile: str, results_dir: str | Path, method: str = "EqualWeight", seed: int = 0, device: str = "auto"
) -> dict[str, Any]:
    """Train ``method`` once with rAU trackers for every γ in :data:`RAU_GAMMAS` and, for
    EqualWeight, the learning-rate probe and the noise experiment of Fig. 1 (on rAU(B) with
    γ = 0.9, the library's default). The record is saved to ``results_dir`` and read back on
    later calls instead of training again."""
    identity = probe_identity(profile, method, seed)
    path = probe_path(results_dir, identity, method, seed)
    if path.exists():
        record = read_json(path)
        if record.get("identity") != identity:
            raise ValueError(f"{path} holds a different probe run than the one requested; delete it to re-run")
        return record
    started = time.perf_counter()
    size = settings(profile)
    config = run_config(profile, method, seed, device, ())
    gammas = GammaSweep(RAU_GAMMAS)
    probes: list[Diagnostic] = [gammas]
    if identity["lr_probe"] is not None:
        # as many steps as the run's data loader gives (the last, smaller batch included)
        steps = config.epochs * -(-size["n_train"] // config.batch_size)
        probes.append(LearningRateProbe(size["probe_per_layer"], seed=seed, record_every=max(1, steps // 50)))
    if identity["noise"] is not None:
        probes.append(NoiseProbe(gammas.trackers[RAU_GAMMAS[0]], draws=size["noise_draws"], seed=seed))
    with pinned_threads() as threads:  # the sweeps' rule: numbers must not depend on the kernel's threads
        result = run(config, extra_diagnostics=probes)
    record: dict[str, Any] = {
        "identity": identity,
        "method": method,
        "seed": seed,
        "final": result["final"],
        **result["diagnostics"],
        "wall_time_s": time.perf_counter() - started,
        "torch_threads": threads,
    }
    write_json_atomic(path, record)
    return record


__all__ = ["GammaSweep", "probe_identity", "probe_path", "probe_run"]
