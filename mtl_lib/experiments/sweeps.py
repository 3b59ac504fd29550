"""Sweeps: run every config whose record is missing, failed or damaged, save each record as soon
as its run ends, and stop cleanly.

A sweep is the only process that writes records, whatever executes the runs (this process,
local worker processes, a Dask cluster, Slurm jobs), so resume and failure semantics are the
same everywhere. Stopping it never loses a finished record and never leaves work behind:

* Ctrl-C (``SIGINT``) and ``SIGTERM`` stop the worker pool (no worker outlives the sweep, see
  :mod:`mtl_lib.experiments.workers`), release the sweep's claims and raise
  :class:`SweepInterrupted` ("N of M records saved in <folder>; rerun to resume"); the runs
  in flight resume from their last end-of-epoch checkpoint at the next sweep. A stop that lands
  while a worker is being started waits until the pool has recorded it, so it is stopped too.
  A process that *inherited* SIGINT ignored (a background job of a shell without job control,
  ``cmd &`` in a script) keeps ignoring it, as the shell asked; SIGTERM still stops it;
* a ``SIGKILL`` of the sweep takes its workers along (parent-death signal); its claims are
  stale at once for the next sweep on this host (pid and process start time);
* an executor that reports itself broken (a Dask cluster that keeps losing its workers, see
  :meth:`~mtl_lib.experiments.executors.DaskExecutor.check_health`) fails the sweep with its
  reason, after the same cleanup.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from mtl_lib.core.runtime import resolve_device
from mtl_lib.experiments import claims, store, workers
from mtl_lib.experiments.config import RunConfig
from mtl_lib.experiments.executors import ExecutorFailed
from mtl_lib.experiments.single_run import failed_record
from mtl_lib.experiments.validation import validate_configs

#: How often a process pool may break (a worker killed) under a run before the run counts as
#: failed; every run in flight when the pool breaks is retried.
MAX_ATTEMPTS = 3


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a sweep; every record of a run that ended is saved. A
    ``KeyboardInterrupt``, so code that stops on Ctrl-C stops on it too."""


class _Signalled(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that the sweep's cleanup runs."""


class _WorkerDied(RuntimeError):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(
            f"the worker process running this config died {MAX_ATTEMPTS} times (killed, or out of memory?): {cause}"
        )


def sweep(
    configs: Sequence[RunConfig],
    results_dir: str | Path,
    *,
    progress: bool = True,
    epoch_progress: bool = False,
    workers: int | None = None,
    threads: int | None = None,
    executor: Any = None,
    retry_failed: bool = True,
    stale_after_s: float = store.STALE_CLAIM_S,
    poll_s: float = 0.2,
) -> list[dict[str, Any]]:
    """Run every config whose record in ``results_dir`` is missing, failed or damaged; save each
    record as soon as its run ends; return all records in ``configs`` order.

    * Every config is checked first (:func:`~mtl_lib.experiments.validation.validate_configs`):
      one bad config stops the sweep before anything trains.
    * ``workers``: runs go to that many local worker processes (spawned, one ``threads``-thread
      torch each, one GPU each when several are visible and the run's device is ``"auto"`` or
      ``"cuda"``). Default: :func:`~mtl_lib.experiments.workers.default_workers` (cores, or
      ``$MTL_SWEEP_WORKERS`` / ``$MTL_CPU_BUDGET``). ``workers=1`` trains in this process (what
      nbval uses).
    * ``threads``: torch CPU threads per run (default ``$MTL_RUN_THREADS``, else 1); stated in
      each record as ``torch_threads``. Results are identical for a given seed, device and
      thread count, so pinning it (rather than inheriting the kernel's) keeps a chapter's
      numbers independent of how many notebooks the build runs at once.
    * ``executor``: any ``concurrent.futures``-style executor (``submit(fn, *args)`` → object
      with ``done()`` / ``result()``): a Dask ``Client.get_executor()``, a ``submitit``
      executor, ... (see :mod:`mtl_lib.experiments.executors`). This process stays the only
      one that writes records.
    * A failed run is saved with ``status="failed"``; the next sweep retries it, or with
      ``retry_failed=False`` keeps and reports it. A damaged record is moved to
      ``results_dir/_damaged/`` (warned, with its path) and its run redone. A record this user
      may not read stops the sweep before training, naming it and the fix.
    * Two sweeps may share ``results_dir``: a run is trained by the one that claims it first;
      the other waits for its record, or takes over a claim whose sweep is gone.
    * Ctrl-C / SIGTERM: see the module docstring (:class:`SweepInterrupted`).
    """
    validate_configs(configs)
    threads = _checked_threads(threads)
    results_dir = _prepared_folder(Path(results_dir))
    state = _Sweep(list(configs), results_dir, stale_after_s)
    state.settle_all(retry_failed)
    if state.queue:
        state.require_writable()
        pool = _Pool(state.queue, workers, executor, threads, epoch_progress)
        with _sigterm_raises(), claims.ClaimHeartbeat() as heartbeat:
            state.execute(pool, heartbeat, progress, poll_s)
    return state.ordered()


def _checked_threads(threads: int | None) -> int:
    """The torch thread count per run: ``threads`` checked, or the default."""
    if threads is None:
        return workers.run_threads()
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    return threads


def _prepared_folder(results_dir: Path) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    removed = store.clean_temporary_files(results_dir)
    if removed:
        warnings.warn(
            f"removed {len(removed)} temporary file(s) left by killed writes in {results_dir}",
            stacklevel=3,
        )
    return results_dir


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises in the main thread for the block (its default would end the process
    without the sweep's cleanup); elsewhere signals cannot be handled and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise _Signalled("SIGTERM")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)  # None: set outside Python


@contextlib.contextmanager
def _stops_ignored() -> Iterator[None]:
    """A second Ctrl-C or SIGTERM while the sweep cleans up must not cut the cleanup short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


class _Pool:
    """Where a sweep's runs execute: in this process (one worker), its own pool of local worker
    processes, or the caller's executor."""

    def __init__(
        self, pending: list[RunConfig], count: int | None, executor: Any, threads: int, epoch_progress: bool
    ) -> None:
        self.threads, self.epoch_progress, self.executor = threads, epoch_progress, executor
        self.own = executor is None
        self.modules = {c.run_id(): workers.modules_for(c) for c in pending}
        self.gpus = 0
        if self.own:
            cuda = any(resolve_device(c.device).type == "cuda" for c in pending)
            count = workers.default_workers(len(pending), cuda) if count is None else count
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise ValueError(f"workers must be an integer >= 1, got {count!r}")
            if count > 1 and "__main__" in {m for ms in self.modules.values() for m in ms}:
                warnings.warn(
                    "some configs use ingredients defined in __main__ (a notebook or script), which "
                    "worker processes cannot import; running in this process (workers=1)", stacklevel=4,
                )  # fmt: skip
                count = 1
            self.gpus = torch.cuda.device_count() if cuda and count > 1 else 0
        self.capacity = count if self.own else len(pending)
        self.inline = self.own and count == 1
        self.generation = 0
        self.old_threads = torch.get_num_threads()
        if self.inline:
            torch.set_num_threads(threads)
            self.pool: Any = workers.Inline()
        else:
            self.pool = workers.spawn_pool(count, threads, self.gpus) if self.own else executor

    def submit(self, config: RunConfig, checkpoint: Path) -> Any:
        args = (config, self.modules[config.run_id()], str(checkpoint), self.threads)
        if self.inline:
            return self.pool.submit(workers.run_in_worker, *args, self.epoch_progress)
        return self.pool.submit(workers.run_in_worker, *args)

    def submitting(self) -> contextlib.AbstractContextManager[None]:
        """Where a submission and its bookkeeping happen: for this sweep's own worker processes,
        with Ctrl-C and SIGTERM held back until the worker it may start is recorded (see
        :func:`~mtl_lib.experiments.workers.stops_deferred`); in this process (a whole run) or
        on another executor, as they come."""
        return workers.stops_deferred() if self.own and not self.inline else contextlib.nullcontext()

    def respawn(self, generation: int) -> None:
        """A worker died and broke the pool: a new one, once per break."""
        if self.own and not self.inline and generation == self.generation:
            workers.stop_pool(self.pool, terminate=True)
            self.pool = workers.spawn_pool(self.capacity, self.threads, self.gpus)
            self.generation += 1

    def check_health(self) -> None:
        check = getattr(self.executor, "check_health", None)
        if callable(check):
            check()

    def close(self, interrupted: bool) -> None:
        if self.inline:
            torch.set_num_threads(self.old_threads)
        elif self.own:
            workers.stop_pool(self.pool, terminate=interrupted)


class _Sweep:
    """The bookkeeping of one sweep: which runs are done, queued, in flight, or waiting for
    another sweep that claimed them."""

    def __init__(self, configs: list[RunConfig], results_dir: Path, stale_after_s: float) -> None:
        self.configs, self.results_dir, self.stale_after_s = configs, results_dir, stale_after_s
        self.records: dict[str, dict[str, Any]] = {}
        self.queue: list[RunConfig] = []
        self.waiting: list[RunConfig] = []  # claimed by another sweep
        self.in_flight: dict[Any, tuple[RunConfig, Path, int]] = {}
        #: Every claim this sweep holds, from the moment it is taken until it is released: a stop
        #: can land between taking a claim and noting its run in flight, or between a finished
        #: run leaving ``in_flight`` and its claim's release, and the shutdown releases these too.
        self.held: set[Path] = set()
        self.attempts: dict[str, int] = {}
        self.bar: Any = None

    def ordered(self) -> list[dict[str, Any]]:
        return [self.records[c.run_id()] for c in self.configs]

    # ---------------------------------------------------------------- before training
    def settle_all(self, retry_failed: bool) -> None:
        kept_failed, unreadable = [], []
        for config in self.configs:
            check = store.settle_existing(config, self.results_dir, retry_failed)
            if check.status == "unreadable":
                unreadable.append(f"{store.record_path(config, self.results_dir)}: {check.reason}")
            elif check.record is None:
                self.queue.append(config)
            else:
                self.records[config.run_id()] = check.record
                if check.status == "failed":
                    kept_failed.append(config.run_id())
        if unreadable:
            # the first line says it all (the command line prints only that one)
            raise PermissionError(
                f"{len(unreadable)} record(s) cannot be read, so nothing was trained and they are left as "
                f"they are; first: {unreadable[0]}" + "".join(f"\n  {line}" for line in unreadable[1:])
            )
        if kept_failed:
            warnings.warn(
                f"{len(kept_failed)} failed run(s) kept, not retried (retry_failed=False): {', '.join(kept_failed)}",
                stacklevel=3,
            )

    def require_writable(self) -> None:
        if not store.writable(self.results_dir):
            raise PermissionError(
                f"results folder {self.results_dir} is not writable, and {len(self.queue)} of "
                f"{len(self.configs)} run(s) still need training (first: {self.queue[0].run_id()}). "
                f"Its finished records can be read with load_records({str(self.results_dir)!r}); to "
                "train the rest, give a writable results folder (copy this one there to keep them)"
            )

    # ---------------------------------------------------------------- the loop
    def execute(self, pool: _Pool, heartbeat: claims.ClaimHeartbeat, progress: bool, poll_s: float) -> None:
        self.bar = tqdm(total=len(self.configs), initial=len(self.records), desc="runs", disable=not progress)
        try:
            while self.queue or self.in_flight or self.waiting:
                progressed = self._submit_ready(pool, heartbeat)
                progressed = self._collect_done(pool, heartbeat) or progressed
                progressed = self._take_over_waiting() or progressed
                pool.check_health()
                if not progressed:
                    time.sleep(poll_s)
        except KeyboardInterrupt as stop:
            self._shut_down(pool, heartbeat)
            cause = "SIGTERM" if isinstance(stop, _Signalled) else "Ctrl-C"
            raise SweepInterrupted(f"sweep stopped by {cause}: {self._saved_line()}") from None
        except ExecutorFailed as error:
            self._shut_down(pool, heartbeat)
            raise ExecutorFailed(f"{error}; {self._saved_line()}") from None
        except BaseException:
            self._shut_down(pool, heartbeat)
            raise
        pool.close(interrupted=False)
        self.bar.close()

    def _saved_line(self) -> str:
        # counted on disk: a stop can land between writing a record and noting it in self.records
        saved = sum(store.record_path(c, self.results_dir).exists() for c in self.configs)
        return f"{saved} of {len(self.configs)} records saved in {self.results_dir}; rerun to resume"

    def _shut_down(self, pool: _Pool, heartbeat: claims.ClaimHeartbeat) -> None:
        with _stops_ignored():
            pool.close(interrupted=True)  # a worker may run a job that is not (yet) in flight here
            for future in self.in_flight:
                if hasattr(future, "cancel"):
                    future.cancel()
            for claim in list(self.held):  # the runs in flight and any claim a stop caught in between
                self._release(claim, heartbeat)
            self.in_flight.clear()
            self.bar.close()

    def _claim(self, config: RunConfig) -> Path | None:
        """Take ``config``'s claim, noted in :attr:`held` before a stop can be delivered."""
        with workers.stops_deferred():
            claim = store.try_claim(self.results_dir, config.run_id(), self.stale_after_s)
            if claim is not None:
                self.held.add(claim)
        return claim

    def _release(self, claim: Path, heartbeat: claims.ClaimHeartbeat) -> None:
        heartbeat.drop(claim)
        store.release_claim(claim)
        self.held.discard(claim)

    def _reuse(self, config: RunConfig) -> bool:
        """Whether another sweep finished ``config`` meanwhile (then its record is taken)."""
        check = store.settle_existing(config, self.results_dir, retry_failed=True, quiet=True)
        if check.record is None:
            return False
        self._done(config, check.record)
        return True

    def _done(self, config: RunConfig, record: dict[str, Any]) -> None:
        self.records[config.run_id()] = record
        self.bar.update(1)

    def _submit_ready(self, pool: _Pool, heartbeat: claims.ClaimHeartbeat) -> bool:
        progressed = False
        while self.queue and len(self.in_flight) < pool.capacity:
            config = self.queue.pop(0)
            progressed = True
            if self._reuse(config):
                continue
            claim = self._claim(config)
            if claim is None:
                self.waiting.append(config)
                continue
            if self._reuse(config):  # finished between our check and our claim
                self._release(claim, heartbeat)
                continue
            self.attempts[config.run_id()] = self.attempts.get(config.run_id(), 0) + 1
            self.bar.set_postfix_str(f"{config.method_label} seed {config.seed}")
            heartbeat.hold(claim)
            try:
                with pool.submitting():  # a stop held back meanwhile is raised here, the run in flight
                    future = pool.submit(config, store.checkpoint_path(config, self.results_dir))
                    self.in_flight[future] = (config, claim, pool.generation)
            except BaseException:  # interrupted in-process, or the executor refused the job
                if not any(held == claim for _, held, _ in self.in_flight.values()):
                    self._release(claim, heartbeat)  # else the shutdown releases it with the others in flight
                raise
        return progressed

    def _collect_done(self, pool: _Pool, heartbeat: claims.ClaimHeartbeat) -> bool:
        finished = [f for f in self.in_flight if f.done()]
        for future in finished:
            config, claim, generation = self.in_flight.pop(future)
            record = self._outcome(future, config, generation, pool)
            if record is not None:
                store.write_json_atomic(store.record_path(config, self.results_dir), record)
                store.checkpoint_path(config, self.results_dir).unlink(missing_ok=True)
                self._done(config, record)
                if record.get("status") == "failed":
                    warnings.warn(f"run {config.run_id()} failed: {store.error_line(record)}", stacklevel=4)
            self._release(claim, heartbeat)
        return bool(finished)

    def _outcome(self, future: Any, config: RunConfig, generation: int, pool: _Pool) -> dict[str, Any] | None:
        """The run's record, or ``None`` when its worker died and the run goes back in the queue."""
        try:
            return future.result()
        except BrokenProcessPool as error:
            if self.attempts[config.run_id()] >= MAX_ATTEMPTS:
                return failed_record(config, _WorkerDied(error))
            warnings.warn(f"a worker process died while running {config.run_id()}; re-running it", stacklevel=5)
            self.queue.insert(0, config)
            pool.respawn(generation)
            return None
        except Exception as error:  # noqa: BLE001 — the executor failed, not the run
            return failed_record(config, error)

    def _take_over_waiting(self) -> bool:
        progressed = False
        for config in list(self.waiting):
            check = store.settle_existing(config, self.results_dir, retry_failed=False, quiet=True)
            if check.record is not None:
                self.waiting.remove(config)
                self._done(config, check.record)
                progressed = True
            elif store.claim_is_stale(store.claim_path(self.results_dir, config.run_id()), self.stale_after_s):
                self.waiting.remove(config)  # its sweep is gone: take the run over
                self.queue.append(config)
                progressed = True
        return progressed
