"""The local worker pool of a sweep, and what each worker runs.

Workers are spawned processes (safe with torch and inside notebooks), one ``threads``-thread
torch each, one GPU each when several are visible. They cannot outlive their sweep:

* on Linux each asks the kernel for ``SIGKILL`` when its parent dies (``prctl`` with
  ``PR_SET_PDEATHSIG``, through ctypes), so a ``kill -9`` of the sweep takes its workers along;
* a watchdog thread in each worker exits it when its parent pid changes (the same guarantee
  where ``prctl`` is missing, within :data:`WATCHDOG_S`);
* workers ignore ``SIGINT``: Ctrl-C in a terminal reaches the whole process group, and only the
  sweep decides what happens (it stops them, see :func:`stop_pool`). They are spawned with
  ``SIGINT`` blocked, so not even a Ctrl-C during their start-up prints a traceback, and the
  sweep's own stop handlers wait until a worker just started is recorded in the pool
  (:func:`stops_deferred`), so a stop cannot leave one that :func:`stop_pool` does not see.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from typing import Any

import torch
from tqdm import tqdm

from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.experiments import single_run
from mtl_lib.experiments.config import RunConfig
from mtl_lib.optim import OPTIMIZERS
from mtl_lib.problems import PROBLEMS
from mtl_lib.weighting import WEIGHTINGS

#: Environment variables that set a sweep's default number of worker processes (first found
#: wins): ``MTL_SWEEP_WORKERS`` for sweeps alone, ``MTL_CPU_BUDGET`` for the cores that this
#: process may use altogether (the book build divides the machine among notebooks with it).
WORKER_ENV = ("MTL_SWEEP_WORKERS", "MTL_CPU_BUDGET")
RUN_THREADS_ENV = "MTL_RUN_THREADS"
#: How often a worker checks that its sweep is still alive.
WATCHDOG_S = 1.0
#: How long :func:`stop_pool` waits for a terminated worker before killing it.
STOP_GRACE_S = 2.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

_WORKER_DEVICE: str | None = None


# --------------------------------------------------------------------------- settings
def _positive_int_env(name: str, unit: str) -> int | None:
    """``$name`` as an integer >= 1 (``None`` when unset or empty); a clear error otherwise."""
    value = os.environ.get(name)
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"${name}={value!r} is not an integer number of {unit}s") from None
    if number < 1:
        raise ValueError(f"${name}={value!r}: give at least 1 {unit}")
    return number


def run_threads() -> int:
    """Torch CPU threads per run when a sweep is not told: ``$MTL_RUN_THREADS``, else 1."""
    threads = _positive_int_env(RUN_THREADS_ENV, "thread")
    return 1 if threads is None else threads


@contextlib.contextmanager
def pinned_threads(threads: int | None = None) -> Iterator[int]:
    """Run the block with ``threads`` torch CPU threads (default :func:`run_threads`), then
    restore the caller's: for a study's own runs outside a sweep (probe runs)."""
    threads = run_threads() if threads is None else threads
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(old)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(pending: int, cuda: bool = False) -> int:
    """Worker processes for ``pending`` runs: ``$MTL_SWEEP_WORKERS`` or ``$MTL_CPU_BUDGET`` if
    set, else one per visible GPU for CUDA runs, else one per core; never more than the runs."""
    for name in WORKER_ENV:
        chosen = _positive_int_env(name, "worker")
        if chosen is not None:
            break
    else:
        chosen = torch.cuda.device_count() if cuda and torch.cuda.device_count() else available_cores()
    return max(1, min(chosen, pending))


# --------------------------------------------------------------------------- in the worker
def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the sweep died before the request took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(WATCHDOG_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _init_worker(threads: int, devices: Any, parent_pid: int) -> None:
    """Runs once in every worker process: tie its life to the sweep's, leave Ctrl-C to the
    sweep, pin its CPU threads, take one GPU if given."""
    global _WORKER_DEVICE
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with_parent(parent_pid)
    # tqdm's default lock is a multiprocessing semaphore, created by the first bar (the
    # trainer's epoch bar, even disabled); a worker stopped mid-run would leave it registered, and
    # the resource tracker then warns of "leaked semaphore objects" as the sweep exits. Workers
    # draw no shared bar: a thread lock does.
    tqdm.set_lock(threading.RLock())
    torch.set_num_threads(threads)
    if devices is not None:
        _WORKER_DEVICE = devices.get()


def modules_for(config: RunConfig) -> list[str]:
    """Modules outside :mod:`mtl_lib` that registered the config's ingredients (a problem defined
    in a test or a plugin); a worker process imports them before it runs the config."""
    modules = set()
    for registry, name in (
        (PROBLEMS, config.problem), (WEIGHTINGS, config.weighting),
        (AGGREGATORS, config.aggregator), (OPTIMIZERS, config.optimizer),
    ):  # fmt: skip
        if isinstance(name, str) and name in registry:
            module = getattr(registry.get(name), "__module__", "") or ""
            if module and not module.startswith("mtl_lib"):
                modules.add(module)
    return sorted(modules)


def run_in_worker(
    config: RunConfig,
    modules: Sequence[str],
    checkpoint: str | None,
    threads: int,
    progress: bool = False,
) -> dict[str, Any]:
    """What a worker (local process, Dask worker, Slurm job) executes for one run: its record,
    resuming from ``checkpoint`` when a killed attempt left one."""
    for module in modules:
        importlib.import_module(module)
    torch.set_num_threads(threads)
    if _WORKER_DEVICE is not None and config.device in ("auto", "cuda"):
        config = replace(config, device=_WORKER_DEVICE)
    return single_run.run(config, progress=progress, raise_errors=False, checkpoint=checkpoint)


# --------------------------------------------------------------------------- in the sweep
class Inline:
    """Runs a submitted function at once in this process (``workers=1``)."""

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # noqa: BLE001 — handed to the sweep like a worker's error
            future.set_exception(error)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def spawn_pool(workers: int, threads: int, gpus: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes set up by :func:`_init_worker`."""
    context = multiprocessing.get_context("spawn")
    devices = None
    if gpus:
        devices = context.Queue()
        for index in range(workers):
            devices.put(f"cuda:{index % gpus}")
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(threads, devices, os.getpid()),
    )


#: The stops a sweep handles: Ctrl-C, and SIGTERM (see ``sweeps._sigterm_raises``).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stops_deferred() -> Iterator[None]:
    """Hold a Ctrl-C or SIGTERM back for the block, then deliver it: for the few lines that
    start a worker and record it.

    * ``SIGINT`` is blocked in this thread, so processes started meanwhile inherit it blocked
      until their initializer ignores it (no traceback from a worker's start-up);
    * blocking alone does not keep the exception out of the block: the kernel then hands the
      signal to another thread of this process (the claim heartbeat, the pool's manager), and
      Python still runs the handler in the main thread at its next bytecode, e.g. inside
      ``ProcessPoolExecutor.submit`` between a worker's ``start()`` and the line that records it
      in the pool. That worker is invisible to :func:`stop_pool` and the interpreter's exit
      then waits for it (multiprocessing joins its children). So the Python handlers of both
      stops are replaced by ones that only note the signal, and the original handler is called
      once the block is over, everything recorded.

    Ignored or default dispositions are left as they are (a default SIGTERM ends the process,
    and the workers die with it, see :func:`_die_with_parent`). Outside the main thread only the
    signal mask changes (Python runs handlers in the main thread alone).
    """
    held: list[int] = []
    deferring = [True]
    previous: dict[int, Any] = {}

    def hold(signum: int, frame: Any) -> None:
        if deferring[0]:
            held.append(signum)
        else:  # still installed after the block (another stop cut the restoring short): pass it on
            previous[signum](signum, frame)

    old_mask = None
    try:  # set up inside the try: a stop landing half-way still restores what was changed
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                handler = signal.getsignal(signum)
                if callable(handler):
                    previous[signum] = handler
                    signal.signal(signum, hold)
        if hasattr(signal, "pthread_sigmask"):
            old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        yield
    finally:
        if old_mask is not None:  # a Ctrl-C pending meanwhile is handled in this call: held
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        deferring[0] = False  # a stop arriving from here on goes to its own handler (``hold`` passes it on)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(held):  # each stop held back, once, in the order it came
            previous[signum](signum, None)


def stop_pool(pool: Any, terminate: bool) -> None:
    """Shut ``pool`` down; with ``terminate``, first stop its workers (SIGTERM, then SIGKILL
    after :data:`STOP_GRACE_S`) and wait for them, so none outlives this call."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    if terminate:
        # ProcessPoolExecutor has no public way to stop running tasks; its worker processes are
        # reachable through ``_processes`` (stable since Python 3.2).
        for process in processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(1.0)
    pool.shutdown(wait=True, cancel_futures=True)
