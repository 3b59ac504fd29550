"""Experiments: configs, runs, sweeps (in-process, local worker processes, or a cluster
through Dask / submitit), their results records, and toy trajectories."""

from mtl_lib.experiments import executors
from mtl_lib.experiments.config import RunConfig
from mtl_lib.experiments.saved_summaries import read_summary, summaries_dir, write_summary
from mtl_lib.experiments.single_run import run
from mtl_lib.experiments.store import (
    default_results_dir,
    load_finished,
    load_records,
    read_json,
    record_path,
    write_json_atomic,
)
from mtl_lib.experiments.sweeps import ExecutorFailed, SweepInterrupted, sweep
from mtl_lib.experiments.tables import failure_summary, final_frame, history_frame, report_failures, split_failed
from mtl_lib.experiments.trajectory import Trajectory, TrajectoryRecorder, toy_trajectory
from mtl_lib.experiments.validation import ConfigError, validate_configs
from mtl_lib.experiments.workers import default_workers, pinned_threads, run_threads
from mtl_lib.problems import PROBLEMS, ProblemInstance

__all__ = [
    "PROBLEMS",
    "ConfigError",
    "ExecutorFailed",
    "ProblemInstance",
    "RunConfig",
    "SweepInterrupted",
    "Trajectory",
    "TrajectoryRecorder",
    "default_results_dir",
    "default_workers",
    "executors",
    "failure_summary",
    "final_frame",
    "history_frame",
    "load_finished",
    "load_records",
    "pinned_threads",
    "read_json",
    "read_summary",
    "record_path",
    "report_failures",
    "run",
    "run_threads",
    "split_failed",
    "summaries_dir",
    "sweep",
    "toy_trajectory",
    "validate_configs",
    "write_summary",
    "write_json_atomic",
]
