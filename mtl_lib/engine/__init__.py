"""The training engine: the one place that combines every ingredient kind into a step."""

from mtl_lib.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mtl_lib.engine.trainer import Batch, Trainer

__all__ = ["Batch", "CheckpointError", "Trainer", "load_checkpoint", "save_checkpoint"]
