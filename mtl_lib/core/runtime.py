"""Small shared helpers: device choice and seeding."""

from __future__ import annotations

import inspect
import os
import random
from typing import Any

import numpy as np
import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present, else CPU; anything else is passed to ``torch.device``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was requested but CUDA is not available; use 'auto' or 'cpu'")
    return resolved


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a fresh ``torch.Generator`` seeded the same way.

    Methods with their own randomness (PCGrad's task order, RLW's weights) take such a
    generator so that their draws do not shift when unrelated code consumes random numbers.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.Generator().manual_seed(seed)


def accepts_argument(factory: Any, argument: str) -> bool:
    """Whether ``factory`` (a class or function) takes a parameter named ``argument``."""
    try:
        return argument in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
