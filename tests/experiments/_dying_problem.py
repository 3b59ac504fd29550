"""A problem whose every run kills the process that runs it (SIGKILL): a worker that keeps dying.
Imported by worker processes by its module name."""

from __future__ import annotations

import os
import signal
from typing import Any

from mtl_lib.problems import PROBLEMS


@PROBLEMS.register("fault_dies")
def fault_dies_problem(*, seed: int, batch_size: int, device: Any) -> Any:
    """Never returns: its worker is killed as it builds the problem."""
    os.kill(os.getpid(), signal.SIGKILL)
