"""IMTL-L: the loss-balancing half of Impartial Multi-Task Learning (L. Liu et al., ICLR 2021,
"Towards Impartial Multi-task Learning").

Each task k gets a learnable log-scale s_k (a parameter of this module, trained by the model's
optimizer, initialised to 0) and contributes

    term_k = exp(s_k) · L_k − s_k

At the optimum in s, exp(s_k)·L_k = 1: every scaled loss is driven to the same value 1, which is
IMTL-L's "impartial" loss balance, and the effective weight of task k is 1/L_k. (Substituting
s ↦ −s turns this into the form exp(−s)·L + s that :mod:`mtl_lib.weighting.uw` uses, so with
the same initial value the two follow the same trajectory under any sign-symmetric optimizer;
the papers motivate them differently.) The full IMTL pairs this weighting with the gradient
balancing IMTL-G, available as an aggregator: ``Trainer(weighting="imtl_l",
aggregator="imtl_g")``; the scales s then get their gradient from the losses directly (row sums
of their Jacobian), not through IMTL-G's combination, as in the paper.

Defaults: ``init=0.0`` (paper and LibMTL), so IMTL-L starts as EW (weights 1, sum K: the
library's sum scale; no rescaling needed).
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.weighting._common import lazy_task_parameter, load_lazy_parameters, materialize
from mtl_lib.weighting.base import WEIGHTINGS, LossWeighting


@WEIGHTINGS.register("imtl_l")
class IMTLL(LossWeighting):
    """IMTL-L with learnable log-scales ``log_scales`` (shape ``(K,)``; created at the first
    ``forward`` unless ``num_tasks`` is given)."""

    def __init__(self, num_tasks: int | None = None, init: float = 0.0) -> None:
        super().__init__()
        self.init = float(init)
        self.log_scales = lazy_task_parameter(num_tasks, self.init)

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        materialize(self.log_scales, losses, self.init)
        return torch.exp(self.log_scales) * losses - self.log_scales

    @property
    def weights(self) -> torch.Tensor:
        """The current loss weights exp(s), detached."""
        return torch.exp(self.log_scales.detach())

    def reset(self) -> None:
        """Back to the initial log-scales (the optimizer's state is the trainer's business)."""
        if not isinstance(self.log_scales, torch.nn.parameter.UninitializedParameter):
            with torch.no_grad():
                self.log_scales.fill_(self.init)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        load_lazy_parameters(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"init={self.init}"
