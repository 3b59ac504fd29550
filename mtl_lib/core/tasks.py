"""A task: its name, its training loss and the metrics reported for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Metric = Callable[[torch.Tensor, torch.Tensor], float]


@dataclass
class Task:
    """``loss(prediction, target)`` returns a scalar tensor; each metric maps the predictions
    and targets of a whole evaluation set to a float."""

    name: str
    loss: Loss
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    #: For the progress bar and plots: True when a larger metric value is better.
    higher_is_better: Mapping[str, bool] = field(default_factory=dict)
