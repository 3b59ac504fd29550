"""GradDrop (Chen, Ngiam, Huang, Luong, Kretzschmar, Chai & Anguelov, NeurIPS 2020, "Just Pick
a Sign: Optimizing Deep Multitask Models with Gradient Sign Dropout").

For every coordinate (column c of the task Jacobian J, rows g_k):

    P_c  = ½ (1 + Σ_k g_kc / Σ_k |g_kc|)          gradient positive-sign purity, in [0, 1]
    U_c  ~ Uniform[0, 1)                           one draw per coordinate and step
    M_kc = 1[f(P_c) > U_c] · 1[g_kc > 0] + 1[f(P_c) < U_c] · 1[g_kc < 0]
    g_k^GD = (ℓ_k + (1 − ℓ_k) M_k) ⊙ g_k            ℓ_k: task k's leak

so at each coordinate one sign survives, the positive one with probability f(P_c). The update is
Σ_k g_k^GD (sum scale: with identical gradients P is 1 or 0 and every component survives, so the
output is K·g = J.sum(0)); the masked rows are exposed for task-aware optimizers.

Defaults and where they come from:
- ``leak = 0`` for every task (LibMTL's ``leak`` default 0.0; TorchJD's ``leak=None`` means no
  leak). The paper introduces leak parameters ℓ_k ∈ [0, 1] to let a task's gradient pass
  unmasked (ℓ_k = 1), e.g. for a main task among auxiliaries; 0 is the plain method.
- ``f = identity`` (paper's default monotone transfer function; TorchJD's default).
- A coordinate where every task's gradient is 0 gets P = ½ (0/0 is undefined); its components
  are zero, so the mask there does not matter.

Where it acts: the paper inserts GradDrop at an activation layer (the shared representation),
where the gradient of task k is first multiplied by the sign of the layer's input and summed
over the batch to form P (LibMTL follows this and requires representation gradients). Here, as
in TorchJD, it acts on the rows of the shared-parameter Jacobian: each parameter coordinate
gets its own purity and mask. This is the aggregator-level reading the book compares; it is
not the paper's placement.

Randomness: U is drawn with ``torch.rand`` from the aggregator's own generator (seed ``seed``,
default 0, one generator per device, created on first use). TorchJD draws
``torch.rand(P.shape, dtype, device)`` from the global RNG, so ``torch.manual_seed(s)`` before
TorchJD and ``GradDrop(seed=s)`` use the same U on the CPU. ``uniform`` (a callable
``(shape, dtype, device) -> U``) replaces the generator, for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from mtl_lib.aggregators.base import AGGREGATORS, Aggregation, Aggregator

UniformSampler = Callable[[torch.Size, torch.dtype, torch.device], torch.Tensor]


@AGGREGATORS.register("graddrop")
class GradDrop(Aggregator):
    """Gradient sign dropout on the task Jacobian's rows. Exposes the masked rows."""

    exposes_task_gradients = True

    def __init__(
        self,
        leak: float | Sequence[float] | torch.Tensor = 0.0,
        f: Callable[[torch.Tensor], torch.Tensor] | None = None,
        seed: int = 0,
        uniform: UniformSampler | None = None,
    ) -> None:
        leak_tensor = torch.as_tensor(leak, dtype=torch.float64)
        if leak_tensor.dim() > 1 or ((leak_tensor < 0) | (leak_tensor > 1)).any():
            raise ValueError(f"leak must be a scalar or a vector of values in [0, 1], got {leak}")
        self.leak = leak_tensor
        self.f = f
        self.seed = seed
        self.uniform = uniform
        self.generators: dict[str, torch.Generator] = {}

    def _generator(self, device: torch.device) -> torch.Generator:
        # One stream per device, so U is drawn where J lives (no host-to-device copy of P floats).
        key = str(device)
        if key not in self.generators:
            self.generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self.generators[key]

    def _draw(self, shape: torch.Size, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        if self.uniform is not None:
            return self.uniform(shape, dtype, device)
        return torch.rand(shape, generator=self._generator(device), dtype=dtype, device=device)

    def aggregate(self, jacobian: torch.Tensor) -> Aggregation:
        num_tasks = jacobian.shape[0]
        if self.leak.dim() == 1 and self.leak.numel() != num_tasks:
            raise ValueError(f"{self.leak.numel()} leak values for {num_tasks} tasks")
        leak = self.leak.to(device=jacobian.device, dtype=jacobian.dtype).expand(num_tasks).unsqueeze(1)
        total = jacobian.sum(0)
        magnitude = jacobian.abs().sum(0)
        ratio = torch.where(magnitude > 0, total / torch.where(magnitude > 0, magnitude, 1), 0)
        purity = 0.5 * (1 + ratio)
        if self.f is not None:
            purity = self.f(purity)
        threshold = self._draw(purity.shape, jacobian.dtype, jacobian.device)
        keep_positive = (purity > threshold).unsqueeze(0) & (jacobian > 0)
        keep_negative = (purity < threshold).unsqueeze(0) & (jacobian < 0)
        mask = (keep_positive | keep_negative).to(jacobian.dtype)
        masked = (leak + (1 - leak) * mask) * jacobian
        return Aggregation(direction=masked.sum(0), task_gradients=masked)

    def reset(self) -> None:
        for generator in self.generators.values():
            generator.manual_seed(self.seed)

    def state_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "generators": {device: g.get_state() for device, g in self.generators.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = state["seed"]
        self.generators = {}
        for device, generator_state in state["generators"].items():
            self._generator(torch.device(device)).set_state(generator_state)

    def __repr__(self) -> str:
        leak = self.leak.tolist()
        return f"GradDrop(leak={leak}, seed={self.seed})"
