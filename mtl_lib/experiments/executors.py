"""Executors for :func:`~mtl_lib.experiments.sweeps.sweep` beyond this machine's cores.

A sweep hands each run to ``executor.submit(fn, *args)`` and polls the returned object's
``done()`` / ``result()``; it claims each run first and is the only process that writes
records, so resume and failure semantics are the same whatever the executor. These adapters
are a few lines each around existing engines — nothing here schedules anything itself:

* :func:`dask_executor`: Dask distributed, on a ``LocalCluster`` or a running scheduler's
  address (``Client(...).get_executor()``). A cluster whose workers keep dying (out of
  memory, a worker that cannot import ``mtl_lib``) fails the sweep with :class:`ExecutorFailed`
  once it has lost more than ``max_worker_losses`` workers, or has had none for
  ``no_workers_timeout_s``, instead of waiting for ever (:meth:`DaskExecutor.check_health`);
* :func:`submitit_executor`: Slurm through submitit (one job per run), or submitit's local
  executor (subprocesses on this machine) for tests.

The local pool is not here: ``sweep(workers=N)`` builds its own, whose workers cannot outlive
the sweep (:mod:`mtl_lib.experiments.workers`). Dask and submitit are the ``[cluster]`` extra (``pip install -e '.[cluster]'``); the book build
never needs them. Workers must import the same ``mtl_lib`` (install it, or export
``PYTHONPATH``) and, on a cluster, see the results folder (a shared file system).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

EXECUTORS = ("local", "dask", "submitit")


class ExecutorFailed(RuntimeError):
    """The executor cannot run the sweep's jobs any more (its workers keep dying)."""


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"this executor needs {module!r}, which is not installed; "
            "install the cluster extra: pip install -e '.[cluster]'"
        ) from error


class DaskExecutor:
    """A Dask client's ``concurrent.futures`` executor that also owns the client (and the
    ``LocalCluster`` it started), so ``shutdown`` / ``with`` closes them."""

    def __init__(
        self,
        client: Any,
        cluster: Any = None,
        *,
        max_worker_losses: int = 6,
        no_workers_timeout_s: float = 120.0,
        check_every_s: float = 1.0,
    ) -> None:
        self.client, self.cluster = client, cluster
        # pure=False: two submissions are two runs, even with equal arguments
        self._executor = client.get_executor(pure=False)
        self.max_worker_losses, self.no_workers_timeout_s = max_worker_losses, no_workers_timeout_s
        self.check_every_s = check_every_s
        self.lost: list[str] = []  # addresses of the workers that died since this executor began
        self._deaths_before = len(self._deaths())
        self._last_check = 0.0
        self._without_workers_since: float | None = None

    def _deaths(self) -> list[str]:
        """Every unexpected worker removal the scheduler has logged (a nanny's restart of a
        killed worker included: it keeps its address, so watching addresses would miss it)."""
        events = self.client.get_events("all")
        return [
            str(message.get("worker"))
            for _, message in events
            if isinstance(message, dict) and message.get("action") == "remove-worker" and not message.get("expected")
        ]

    def check_health(self) -> None:
        """Raise :class:`ExecutorFailed` when more than ``max_worker_losses`` workers died since
        this executor began (each death counts, restarted or not), or the cluster has had no
        worker for ``no_workers_timeout_s``. The sweep calls it while it waits; it asks the
        scheduler at most every ``check_every_s``. Dask itself gives up on one task after its
        ``allowed-failures`` (a ``KilledWorker``, recorded as that run's failure); this bounds
        the whole sweep."""
        now = time.monotonic()
        if now - self._last_check < self.check_every_s:
            return
        self._last_check = now
        self.lost = self._deaths()[self._deaths_before :]
        hint = "see the workers' logs: out of memory, or a worker that cannot import mtl_lib (set PYTHONPATH)?"
        if len(self.lost) > self.max_worker_losses:
            raise ExecutorFailed(
                f"the Dask cluster lost {len(self.lost)} worker(s) (more than max_worker_losses="
                f"{self.max_worker_losses}); {hint}"
            )
        if self.client.nthreads():
            self._without_workers_since = None
        elif self._without_workers_since is None:
            self._without_workers_since = now
        elif now - self._without_workers_since > self.no_workers_timeout_s:
            raise ExecutorFailed(f"the Dask cluster has had no worker for {self.no_workers_timeout_s:.0f} s; {hint}")

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self._executor.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self._executor.shutdown(wait=wait)
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


def dask_executor(
    address: str | None = None, workers: int = 2, threads_per_worker: int = 1, **health: Any
) -> DaskExecutor:
    """Dask distributed: connect to the scheduler at ``address`` (``tcp://host:8786``), or start a
    ``LocalCluster`` of ``workers`` processes with ``threads_per_worker`` threads each.
    ``health``: :class:`DaskExecutor`'s ``max_worker_losses`` / ``no_workers_timeout_s``."""
    distributed = _require("distributed")
    if address:
        return DaskExecutor(distributed.Client(address), **health)
    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        dashboard_address=None,
    )
    return DaskExecutor(distributed.Client(cluster), cluster, **health)


def submitit_executor(
    folder: str | Path,
    *,
    partition: str | None = None,
    gpus_per_run: int = 0,
    cpus_per_run: int = 1,
    timeout_min: int = 24 * 60,
    local: bool = False,
    **slurm_parameters: Any,
) -> Any:
    """submitit: one Slurm job per run on ``partition`` (``gpus_per_run`` GPUs and
    ``cpus_per_run`` cores each), logs and pickles in ``folder``. ``local=True`` runs the jobs
    as subprocesses of this machine (submitit's ``LocalExecutor``; for tests and laptops).
    Extra keyword arguments go to ``update_parameters`` (e.g. ``slurm_mem_gb=16``)."""
    submitit = _require("submitit")
    if local:
        executor = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=timeout_min, gpus_per_node=gpus_per_run)
        return executor
    executor = submitit.AutoExecutor(folder=str(folder))
    parameters: dict[str, Any] = {
        "timeout_min": timeout_min, "gpus_per_node": gpus_per_run, "cpus_per_task": cpus_per_run,
        "tasks_per_node": 1, "nodes": 1,
    }  # fmt: skip
    if partition:
        parameters["slurm_partition"] = partition
    parameters.update(slurm_parameters)
    executor.update_parameters(**parameters)
    return executor


def make_executor(
    kind: str,
    *,
    workers: int | None = None,
    address: str | None = None,
    partition: str | None = None,
    gpus_per_run: int = 0,
    folder: str | Path | None = None,
    max_worker_losses: int | None = None,
) -> Any:
    """The executor the command line's ``--executor`` names; ``None`` for ``local`` (the sweep
    then builds its own worker pool of ``workers`` processes). ``max_worker_losses``: Dask's
    bound on dead workers (:class:`DaskExecutor`; ``None``: its default)."""
    if kind == "local":
        return None
    if kind == "dask":
        health = {} if max_worker_losses is None else {"max_worker_losses": max_worker_losses}
        return dask_executor(address=address, workers=workers or 2, **health)
    if kind == "submitit":
        if folder is None:
            raise ValueError("the submitit executor needs a folder for its logs (--results gives one)")
        return submitit_executor(folder, partition=partition, gpus_per_run=gpus_per_run, local=partition == "local")
    raise ValueError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
