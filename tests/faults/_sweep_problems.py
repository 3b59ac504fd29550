"""Problems registered only for the fault tests (imported by worker processes by module name):
a tiny synthetic regression whose data can turn NaN, that can kill its own worker, and that
counts how often each run is trained."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from mtl_lib.problems import PROBLEMS, ProblemInstance

TINY = {"n_train": 48, "n_test": 16, "hidden": (8,)}


class _Batches:
    """Wraps a problem's training batches: NaN in task A's targets at global step ``nan_step``
    (while ``flag`` exists), or SIGKILL of this process at ``kill_step`` (once: ``flag`` is
    created first, so the re-run goes through)."""

    def __init__(self, inner: Any, nan_step: int | None, kill_step: int | None, flag: str | None) -> None:
        self.inner, self.nan_step, self.kill_step, self.flag = inner, nan_step, kill_step, flag
        self.step = 0

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self):
        for x, *targets in self.inner:
            self.step += 1
            if self.nan_step is not None and self.step >= self.nan_step and self.flag and Path(self.flag).exists():
                targets[0] = targets[0].clone()
                targets[0][0] = float("nan")
            if (
                self.kill_step is not None
                and self.step == self.kill_step
                and self.flag
                and not Path(self.flag).exists()
            ):
                Path(self.flag).touch()
                os.kill(os.getpid(), signal.SIGKILL)
            yield (x, *targets)


class _Slow:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_epoch_end(self, trainer: Any, epoch: int, record: Any) -> None:
        time.sleep(self.seconds)


@PROBLEMS.register("fault_tiny")
def fault_tiny_problem(
    *,
    seed: int,
    batch_size: int,
    device: Any,
    nan_step: int | None = None,
    kill_step: int | None = None,
    flag: str | None = None,
    count_dir: str | None = None,
    sleep_s: float = 0.0,
    **unknown: Any,
) -> ProblemInstance:
    """synthetic_regression at toy size, with the faults above."""
    if unknown:
        raise TypeError(f"unknown fault_tiny options {sorted(unknown)}")
    if count_dir:
        with open(Path(count_dir) / f"seed{seed}.log", "a") as handle:
            handle.write(f"{os.getpid()}\n")
    inner = PROBLEMS.get("synthetic_regression")(seed=seed, batch_size=batch_size, device=device, **TINY)
    inner.train_data = _Batches(inner.train_data, nan_step, kill_step, flag)
    if sleep_s:
        inner.callbacks.append(_Slow(sleep_s))
    return inner
