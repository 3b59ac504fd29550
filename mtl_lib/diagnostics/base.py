"""Diagnostics a run can record into its results file, by name (``RunConfig.diagnostics``).

A diagnostic is a training callback (:class:`~mtl_lib.core.hooks.Callback`) that also says
whether it needs this step's per-task gradients and, after training, what to write into the
record. The runner knows no diagnostic by name: it builds each from :data:`DIAGNOSTICS` with the
run's step count, adds it to the callbacks, and stores ``results(trainer, eval_data)`` under the
record's ``"diagnostics"``. A new diagnostic is one registered builder, nothing in the runner.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mtl_lib.core.hooks import Callback
from mtl_lib.core.registry import Registry


class Diagnostic(Callback):
    """Base class for what :data:`DIAGNOSTICS` builds (``builder(total_steps=...)``)."""

    #: True if the diagnostic reads ``trainer.last_aggregation`` rows at every step; the runner
    #: then trains plain equal weighting through the Jacobian (``aggregator="sum"``, the same
    #: step) so that those rows exist.
    needs_task_gradients: bool = False

    def results(self, trainer: Any, eval_data: Iterable[Any] | None) -> dict[str, Any]:
        """What to store in the record (JSON-serialisable), after training."""
        return {}


DIAGNOSTICS: Registry[Diagnostic] = Registry("diagnostic")
