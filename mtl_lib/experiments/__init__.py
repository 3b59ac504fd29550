"""Experiments: configs, problems, runs, sweeps and their results files."""

from mtl_lib.experiments import problem_cityscapes  # noqa: F401,I001  (registers "cityscapes")
from mtl_lib.experiments import problem_leaf  # noqa: F401,I001  (registers "leaf")
from mtl_lib.experiments.config import RunConfig
from mtl_lib.experiments.problems import PROBLEMS, ProblemInstance
from mtl_lib.experiments.runner import final_frame, history_frame, load_finished, run, sweep
from mtl_lib.experiments.store import default_results_dir, write_json_atomic

__all__ = [
    "PROBLEMS",
    "ProblemInstance",
    "RunConfig",
    "default_results_dir",
    "final_frame",
    "history_frame",
    "load_finished",
    "run",
    "sweep",
    "write_json_atomic",
]
