"""UW: uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018, "Multi-Task Learning Using
Uncertainty to Weigh Losses for Scene Geometry and Semantics").

Each task k gets a learned log-variance s_k = log σ_k² (a parameter of this module, trained by
the model's optimizer) and contributes

    term_k = exp(−s_k) · L_k + s_k                       (default; s_k initialised to 0)

The paper derives the Gaussian-likelihood (regression) term ½·exp(−s)·L + ½·s, i.e.
L/(2σ²) + log σ, and the softmax-likelihood (classification) approximation exp(−s)·L + ½·s,
i.e. L/σ² + log σ. The ½ factors only reparametrise s: in both forms the stationary point in
s gives the task the effective weight 1/(2 L_k), and doubling the objective (our form) gives
every task the weight 1/L_k at its optimum. What the factors change is the weight at a given s
(a factor 2, i.e. a shift of s by log 2) and hence where training starts. We use one form for
every task, exp(−s)·L + s, with s = 0 at the start, so that UW begins exactly as EW (weights 1,
summing to K: the library's sum scale) whatever the task types.

``half=True`` gives LibMTL's implementation, ½·exp(−s)·L + ½·s (the paper's regression form
for all tasks; LibMTL initialises s to −0.5, so its weights start at e^{0.5}/2 ≈ 0.82): pass
``init=-0.5`` too to reproduce it. Its objective is exactly half of ours at the same s.

Defaults: ``init=0.0`` (ours: EW at the start), ``half=False`` (see above).
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.weighting._common import lazy_task_parameter, load_lazy_parameters, materialize
from mtl_lib.weighting.base import WEIGHTINGS, LossWeighting


@WEIGHTINGS.register("uw")
class UncertaintyWeighting(LossWeighting):
    """UW with learnable log-variances ``log_vars`` (shape ``(K,)``; created at the first
    ``forward`` unless ``num_tasks`` is given)."""

    def __init__(self, num_tasks: int | None = None, init: float = 0.0, half: bool = False) -> None:
        super().__init__()
        self.init = float(init)
        self.half = bool(half)
        self.log_vars = lazy_task_parameter(num_tasks, self.init)

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        materialize(self.log_vars, losses, self.init)
        terms = torch.exp(-self.log_vars) * losses + self.log_vars
        return 0.5 * terms if self.half else terms

    @property
    def weights(self) -> torch.Tensor:
        """The current loss weights exp(−s) (× ½ with ``half``), detached."""
        scale = 0.5 if self.half else 1.0
        return scale * torch.exp(-self.log_vars.detach())

    def reset(self) -> None:
        """Back to the initial log-variances (the optimizer's state is the trainer's business)."""
        if not isinstance(self.log_vars, torch.nn.parameter.UninitializedParameter):
            with torch.no_grad():
                self.log_vars.fill_(self.init)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        load_lazy_parameters(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"init={self.init}, half={self.half}"
