"""The names this module held before it was split, importable from here as before.

One run lives in :mod:`~mtl_lib.experiments.single_run`, record files in
:mod:`~mtl_lib.experiments.store`, the worker pool in :mod:`~mtl_lib.experiments.workers`,
sweeps in :mod:`~mtl_lib.experiments.sweeps` and tables in :mod:`~mtl_lib.experiments.tables`.
"""

from mtl_lib.experiments.single_run import run
from mtl_lib.experiments.store import load_finished, load_records, read_json, record_path, write_json_atomic
from mtl_lib.experiments.sweeps import MAX_ATTEMPTS, ExecutorFailed, SweepInterrupted, sweep
from mtl_lib.experiments.tables import failure_summary, final_frame, history_frame, report_failures, split_failed
from mtl_lib.experiments.workers import available_cores, default_workers, pinned_threads, run_threads

__all__ = [
    "MAX_ATTEMPTS",
    "ExecutorFailed",
    "SweepInterrupted",
    "available_cores",
    "default_workers",
    "failure_summary",
    "final_frame",
    "history_frame",
    "load_finished",
    "load_records",
    "pinned_threads",
    "read_json",
    "record_path",
    "report_failures",
    "run",
    "run_threads",
    "split_failed",
    "sweep",
    "write_json_atomic",
]
