"""Experiments: configs, runs, sweeps, their results files, and toy trajectories."""

from mtl_lib.experiments.config import RunConfig
from mtl_lib.experiments.runner import final_frame, history_frame, load_finished, run, sweep
from mtl_lib.experiments.store import default_results_dir, read_json, write_json_atomic
from mtl_lib.experiments.trajectory import Trajectory, TrajectoryRecorder, toy_trajectory
from mtl_lib.problems import PROBLEMS, ProblemInstance

__all__ = [
    "PROBLEMS",
    "ProblemInstance",
    "RunConfig",
    "Trajectory",
    "TrajectoryRecorder",
    "default_results_dir",
    "final_frame",
    "history_frame",
    "load_finished",
    "read_json",
    "run",
    "sweep",
    "toy_trajectory",
    "write_json_atomic",
]
