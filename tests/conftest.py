"""Fixtures shared by every test directory.

Constants and builders that tests need at import time (in ``parametrize``: the reference
Jacobians, ``tiny_model``) stay importable from :mod:`tests.helpers`; property checks and the one
train-and-check helper are in :mod:`tests._asserts`; reference values of every method in
:mod:`tests.test_values`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch

from tests.helpers import regression_batches, regression_tasks, tiny_model


@dataclass
class TinyProblem:
    """``tiny_model(K)`` with K regression tasks (task k's targets scaled by 10**k) and four
    fixed batches: small enough for any test to train through the engine in milliseconds."""

    model: Any
    tasks: list[Any]
    batches: list[tuple[torch.Tensor, ...]]


@pytest.fixture
def two_task_problem() -> TinyProblem:
    return TinyProblem(tiny_model(2), regression_tasks(2), regression_batches(2))


@pytest.fixture
def results_dir(tmp_path, monkeypatch) -> Any:
    """A fresh results folder, also set as ``MTL_RESULTS_DIR`` so that nothing the test runs
    resumes from (or writes into) a shared one."""
    monkeypatch.setenv("MTL_RESULTS_DIR", str(tmp_path))
    return tmp_path
