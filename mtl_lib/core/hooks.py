"""Schedule hooks: how multi-phase and history-dependent methods plug into the loop.

The trainer calls these methods, when they exist, on every ingredient (model, loss weighting,
aggregator, optimizer) and on every user callback, so a method can react to the schedule
without the loop knowing about it (DWA reads last epochs' losses at ``on_epoch_start``; LaSS
switches from its pre-mask phase to masked training at ``on_phase_start``).
"""

from __future__ import annotations

from typing import Any


class Callback:
    """Base class with no-op hooks; subclass and override what you need.

    Signatures: ``on_train_start(trainer)``, ``on_phase_start(trainer, phase)``,
    ``on_epoch_start(trainer, epoch)``, ``on_step_end(trainer, step, losses)``,
    ``on_epoch_end(trainer, epoch, record)``, ``on_train_end(trainer)``.
    """

    def on_train_start(self, trainer: Any) -> None: ...

    def on_phase_start(self, trainer: Any, phase: str) -> None: ...

    def on_epoch_start(self, trainer: Any, epoch: int) -> None: ...

    def on_step_end(self, trainer: Any, step: int, losses: Any) -> None: ...

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict) -> None: ...

    def on_train_end(self, trainer: Any) -> None: ...
