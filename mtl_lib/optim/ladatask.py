"""LAdaTask: layer-wise AdaTask, the memory-light variant of :mod:`mtl_lib.optim.adatask`.

Yang et al., "AdaTask", AAAI 2023 (arXiv 2211.15055), Eq. 8–9.

LAdaTask (Eq. 8–9, "Efficient AdaTask")
--------------------------------------
Memory for K accumulators per element is replaced by one joint accumulator G_i plus K scalars
per layer: C^k_l ← γ C^k_l + (1−γ) h({(g^k_i)², i ∈ l}), G^k_i = C^k_{l(i)} / Σ_k' C^k'_{l(i)} · G_i,
Δθ^k = η g^k / D(G^k). The joint G_i is fed with the summed gradient (g = Σ_k g^k; the printed
Eq. 9 writes (g^k)², which would make G depend on a dangling k). A "layer" here is one parameter
tensor (a weight matrix and its bias are separate layers); because the ratio uses one layer's
elements only, h = mean and h = sum give the same G^k, so there is no option for h. The paper
defines LAdaTask for RMSProp (γ = α); we extend it the obvious way: AdaGrad accumulates C^k and G
by sums, Adam uses β₂ for C^k and G, bias-corrects G, and keeps per-task first moments m^k as
AdaTask-Adam does (the ratio needs no bias correction: numerator and denominator share it).
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.optim.adatask import AdaTask, _register_bases


class LAdaTask(AdaTask):
    """Layer-wise AdaTask (Eq. 8–9): one joint accumulator per element and one scalar per task
    and parameter tensor; see the module docstring."""

    layerwise = True

    def _init_shared_state(self, p: torch.Tensor, state: dict[str, Any], num_tasks: int) -> None:
        if not state:
            state["step"] = 0
            joint_key = {"adagrad": "sum", "rmsprop": "square_avg", "adam": "exp_avg_sq"}[self.base]
            state[joint_key] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["task_layer_avg"] = torch.zeros(num_tasks, dtype=p.dtype, device=p.device)
            if self.base == "adam":
                state["task_exp_avg"] = torch.zeros((num_tasks, *p.shape), dtype=p.dtype, device=p.device)
            return
        if "task_layer_avg" not in state:
            raise RuntimeError("a shared parameter has a joint (non-task) state; was it bound late?")
        if state["task_layer_avg"].shape[0] != num_tasks:
            raise RuntimeError(f"state holds {state['task_layer_avg'].shape[0]} tasks, the task gradients {num_tasks}")

    def _shared_step(self, p: torch.Tensor, task_grads: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        task_grads, state = self._begin_shared_step(p, task_grads, group)
        num_tasks = task_grads.shape[0]
        joint = task_grads.sum(0)
        per_task_energy = task_grads.square().reshape(num_tasks, -1).mean(1)  # h = mean (see docstring)
        layer = state["task_layer_avg"]
        if self.base == "adagrad":
            accumulator = state["sum"]
            accumulator.addcmul_(joint, joint)
            layer.add_(per_task_energy)
        else:
            decay = group["alpha"] if self.base == "rmsprop" else group["betas"][1]
            accumulator = state["square_avg" if self.base == "rmsprop" else "exp_avg_sq"]
            accumulator.mul_(decay).addcmul_(joint, joint, value=1 - decay)
            layer.mul_(decay).add_(per_task_energy, alpha=1 - decay)
        total = layer.sum()
        # All-zero history in this tensor: no task has claimed it, split evenly (finite, no sync).
        share = torch.where(total > 0, layer / torch.where(total > 0, total, 1.0), 1.0 / num_tasks)
        per_task = share.reshape(num_tasks, *([1] * p.dim())) * accumulator
        lr, eps = group["lr"], group["eps"]
        if self.base != "adam":
            return lr * task_grads / self._denominator(per_task, eps)
        beta1, beta2 = group["betas"]
        step = state["step"]
        exp_avg = state["task_exp_avg"]
        exp_avg.lerp_(task_grads, 1 - beta1)
        denom = self._denominator(per_task, eps, 1 - beta2**step)
        return (lr / (1 - beta1**step)) * exp_avg / denom


LAdaTaskAdaGrad, LAdaTaskRMSProp, LAdaTaskAdam = _register_bases(LAdaTask, "ladatask")

__all__ = ["LAdaTask", "LAdaTaskAdaGrad", "LAdaTaskAdam", "LAdaTaskRMSProp"]
