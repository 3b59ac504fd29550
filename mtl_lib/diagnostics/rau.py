"""rAU: AdaTask's measure of how much one task dominates the updates of a shared parameter.

Yang et al., "AdaTask: A Task-Aware Adaptive Learning Rate Approach to Multi-Task Learning",
AAAI 2023, Eq. 2–3:

    AU(i, t, k)  = γ·AU(i, t−1, k) + (1 − γ)·(Δθ^k_{t,i})²
    rAU(i, t, k) = AU(i, t, k) / Σ_k' AU(i, t, k')

where Δθ^k_{t,i} is the part of step t's update of shared parameter element i that comes from
task k. The paper buckets rAU(i, T, B) of all shared parameters with edges {0, .2, .4, .6, .8, 1}:
(0.8, 1] = dominated by task B, (0.4, 0.6] (for both tasks) = balanced; also per layer.

γ: the paper does not give its value. Default 0.9 (our choice; the notation G[Δθ²] is
AdaDelta's running average of squared updates, whose decay Zeiler sets to 0.95; 0.9 forgets a
little faster so the history plots react within tens of steps).

What Δθ^k is, per optimizer (read after ``optimizer.step()``, from the optimizer's own state):
* AdaTask / LAdaTask: the optimizer's own per-task updates (``optimizer.last_task_updates``).
* torch RMSprop (no momentum; ``centered`` supported): Δθ^k = η g^k / (√G + ε) with G the joint
  ``square_avg`` — the paper's definition below Eq. 2.
* torch Adagrad: Δθ^k = η_t g^k / (√G + ε), G = the joint ``sum``, η_t with ``lr_decay``.
* torch Adam / AdamW (``amsgrad`` supported): Δθ^k = η m̂^k / (√Ĝ + ε) with the joint
  ``exp_avg_sq`` (or ``max_exp_avg_sq``) and per-task first moments m^k that this tracker keeps
  (m^k ← β₁m^k + (1−β₁)g^k): the momentum is linear in the gradients, so Σ_k Δθ^k is Adam's
  actual step, as AdaTask-Adam's per-task updates are.
* torch SGD: Δθ^k = η g^k, or η b^k with per-task momentum buffers (dampening and Nesterov as
  torch).
In every case Σ_k Δθ^k is the optimizer's step without its weight-decay term (which belongs to
no task; for AdaTask each task carries an equal share of it). Momentum buffers kept here start
when the tracker starts: attach it before the first step.

Per-task gradients g^k: the plain optimizers need the rows the engine computed at this step,
``trainer.last_aggregation.task_gradients`` (the raw Jacobian, or an aggregator's modified rows
such as PCGrad's). The engine computes them only when something needs them, so for equal
weighting with a plain optimizer pass ``aggregator="sum"``: its step is the same as plain EW's
(the trainer's tests pin this) but it goes through the Jacobian. Methods whose direction is
Σ_k w_k g_k and that report their weights (MGDA, IMTL-G, Nash-MTL, CAGrad, ...) contribute the
rows w_k g_k; an aggregator with neither rows nor weights makes the tracker raise.

Cost: a (K, P) running average and, for Adam/SGD-momentum, a (K, P) first moment, on the
parameters' device; one fused update per step and no host synchronisation except every
``record_every`` steps, when the bucket shares are appended to ``history`` (still on device;
``history_frame()`` moves them to the host).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from mtl_lib.core.jacobian import per_task_rows
from mtl_lib.core.model import parameter_names
from mtl_lib.diagnostics.base import DIAGNOSTICS, Diagnostic

DEFAULT_EDGES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _scalar(value: Any) -> float:
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)


class RAUTracker(Diagnostic):
    """Track AU and rAU of every shared parameter element for every task during training.

    Add it to ``Trainer(callbacks=[...])``; it binds to the model at ``on_train_start`` and
    updates at every ``on_step_end``. Without the trainer call :meth:`bind` and :meth:`update`.
    As the run diagnostic ``"rau"`` it records the final bucket shares of every task and their
    history (:meth:`results`).
    """

    needs_task_gradients = True

    def __init__(self, gamma: float = 0.9, record_every: int = 10, edges: Sequence[float] = DEFAULT_EDGES) -> None:
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"gamma must lie in [0, 1), got {gamma}")
        if record_every < 1:
            raise ValueError(f"record_every must be ≥ 1, got {record_every}")
        self.gamma = gamma
        self.record_every = record_every
        self.edges = self._check_edges(edges)
        self.params: list[torch.Tensor] = []
        self.names: list[str] = []
        self.task_names: list[str] | None = None
        self.au: torch.Tensor | None = None
        self.steps = 0
        #: ``(step, shares)`` with shares of shape ``(K, 1 + L, B)``: row 0 all shared
        #: parameters, then one row per shared parameter tensor; B buckets of ``edges``.
        self.history: list[tuple[int, torch.Tensor]] = []
        self._momentum: torch.Tensor | None = None
        self._segments: torch.Tensor | None = None

    @staticmethod
    def _check_edges(edges: Sequence[float]) -> tuple[float, ...]:
        edges = tuple(float(e) for e in edges)
        if len(edges) < 2 or edges[0] != 0.0 or edges[-1] != 1.0 or any(a >= b for a, b in zip(edges, edges[1:])):
            raise ValueError(f"edges must increase from 0 to 1, got {edges}")
        return edges

    # ----------------------------------------------------------------- binding
    def bind(self, model: Any, task_names: Sequence[str] | None = None) -> None:
        """Track ``model.shared_parameters()`` (named after ``model.named_parameters()``), from
        a fresh start."""
        self._bind_parameters(model, task_names)
        self.reset()

    def _bind_parameters(self, model: Any, task_names: Sequence[str] | None) -> None:
        self.params = list(model.shared_parameters())
        self.names = parameter_names(model, self.params)
        self.task_names = list(task_names) if task_names is not None else getattr(model, "task_names", None)
        device = self.params[0].device if self.params else torch.device("cpu")
        sizes = torch.tensor([p.numel() for p in self.params], device=device)
        self._segments = torch.repeat_interleave(torch.arange(len(self.params), device=device), sizes)

    def reset(self) -> None:
        """Forget AU, momentum buffers and history (keeps the binding)."""
        self.au = None
        self._momentum = None
        self.steps = 0
        self.history = []

    def on_train_start(self, trainer: Any) -> None:
        if not self.params:  # keeps what load_state_dict restored (a resumed run)
            self._bind_parameters(trainer.model, [task.name for task in trainer.tasks])

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint of the run keeps (:meth:`Trainer.state_dict
        <mtl_lib.engine.trainer.Trainer.state_dict>` saves it): AU, the per-task momentum
        buffers, the step count and the recorded shares, with the settings they were made
        under. The binding to the model is not state: ``on_train_start`` remakes it."""
        return {
            "gamma": self.gamma,
            "record_every": self.record_every,
            "edges": list(self.edges),
            "au": self.au,
            "momentum": self._momentum,
            "steps": self.steps,
            "history": list(self.history),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s output (a tracker built with the same settings)."""
        settings = {"gamma": self.gamma, "record_every": self.record_every, "edges": list(self.edges)}
        saved = {key: state.get(key) for key in settings}
        if saved != settings:
            raise ValueError(f"the saved rAU state was tracked with {saved}, this tracker has {settings}")
        self.au, self._momentum = state["au"], state["momentum"]
        self.steps = int(state["steps"])
        self.history = list(state["history"])

    def on_step_end(self, trainer: Any, step: int, losses: Any) -> None:
        self.update(self.task_updates(trainer.optimizer, trainer), step)

    # ----------------------------------------------------------------- per-task updates
    def task_updates(self, optimizer: torch.optim.Optimizer, trainer: Any = None) -> torch.Tensor:
        """This step's per-task updates Δθ^k of the shared parameters, flattened to ``(K, P)``."""
        own = getattr(optimizer, "last_task_updates", None)
        if getattr(optimizer, "consumes_task_gradients", False):
            if own is None:
                raise RuntimeError(
                    f"{type(optimizer).__name__} exposes no per-task updates (last_task_updates); "
                    "construct it with record_task_updates=True"
                )
            return torch.cat([u.reshape(u.shape[0], -1) for u in own], dim=1)
        # direction-only methods with task weights (MGDA, CAGrad, ...): task k contributes w_k g_k
        rows = per_task_rows(getattr(trainer, "last_aggregation", None), getattr(trainer, "last_jacobian", None))
        if rows is None:
            raise RuntimeError(
                "rAU under a plain optimizer needs this step's per-task gradients, but the trainer "
                "computed none: pass aggregator='sum' for equal weighting (same step, through the "
                "Jacobian), or an aggregator that exposes per-task gradients (e.g. 'pcgrad')"
            )
        return self.shared_denominator_updates(optimizer, rows.detach())

    def shared_denominator_updates(self, optimizer: torch.optim.Optimizer, rows: torch.Tensor) -> torch.Tensor:
        """Δθ^k for a plain ``torch.optim`` optimizer whose state already holds this step's
        accumulators (call after ``step()``), given the per-task gradients ``rows`` (K, P)."""
        group_of = {id(p): group for group in optimizer.param_groups for p in group["params"]}
        needs_momentum = isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW) or (
            isinstance(optimizer, torch.optim.SGD) and any(g["momentum"] for g in optimizer.param_groups)
        )
        first_momentum_step = False
        if needs_momentum and self._momentum is None:
            self._momentum = torch.zeros_like(rows)
            first_momentum_step = True
        updates = torch.empty_like(rows)
        offset = 0
        for p in self.params:
            n = p.numel()
            g = rows[:, offset : offset + n]
            out = updates[:, offset : offset + n]
            group, state = group_of[id(p)], optimizer.state[p]
            lr = _scalar(group["lr"])
            if isinstance(optimizer, torch.optim.RMSprop):
                if group["momentum"]:
                    raise NotImplementedError("rAU for RMSprop with momentum is not implemented")
                square_avg = state["square_avg"].reshape(-1)
                if group["centered"]:
                    square_avg = square_avg - state["grad_avg"].reshape(-1).square()
                out.copy_(torch.mul(g, lr / (square_avg.sqrt() + group["eps"])))
            elif isinstance(optimizer, torch.optim.Adagrad):
                step = _scalar(state["step"])
                clr = lr / (1 + (step - 1) * group["lr_decay"])
                out.copy_(torch.mul(g, clr / (state["sum"].reshape(-1).sqrt() + group["eps"])))
            elif isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW):
                beta1, beta2 = (_scalar(b) for b in group["betas"])
                step = _scalar(state["step"])
                moment = self._momentum[:, offset : offset + n]  # type: ignore[index]
                moment.lerp_(g, 1 - beta1)
                second = state["max_exp_avg_sq"] if group["amsgrad"] else state["exp_avg_sq"]
                denom = second.reshape(-1).sqrt() / math.sqrt(1 - beta2**step) + group["eps"]
                out.copy_(torch.mul(moment, (lr / (1 - beta1**step)) / denom))
            elif isinstance(optimizer, torch.optim.SGD):
                mu = group["momentum"]
                if not mu:
                    out.copy_(torch.mul(g, lr))
                else:
                    buffer = self._momentum[:, offset : offset + n]  # type: ignore[index]
                    if first_momentum_step:
                        buffer.copy_(g)  # torch's first step: the buffer is the gradient itself
                    else:
                        buffer.mul_(mu).add_(g, alpha=1 - group["dampening"])
                    out.copy_(torch.mul(g + mu * buffer if group["nesterov"] else buffer, lr))
            else:
                raise TypeError(
                    f"rAU knows AdaTask, SGD, RMSprop, Adagrad, Adam and AdamW, not {type(optimizer).__name__}"
                )
            offset += n
        if offset != rows.shape[1]:
            raise ValueError(f"task gradients have {rows.shape[1]} columns, the tracked parameters {offset}")
        return updates

    # ----------------------------------------------------------------- AU and rAU
    def update(self, task_updates: torch.Tensor, step: int | None = None) -> None:
        """Fold one step's ``(K, P)`` per-task updates into AU; record shares when due."""
        if self.au is None:
            self.au = torch.zeros_like(task_updates)
        elif self.au.shape != task_updates.shape:
            raise ValueError(f"updates of shape {tuple(task_updates.shape)}, AU has {tuple(self.au.shape)}")
        self.au.mul_(self.gamma).addcmul_(task_updates, task_updates, value=1 - self.gamma)
        self.steps += 1
        if self.steps % self.record_every == 0:
            self.history.append((self.steps if step is None else step, self._shares(self.edges)))

    def _task_index(self, task: int | str) -> int:
        if isinstance(task, str):
            if self.task_names is None or task not in self.task_names:
                raise KeyError(f"unknown task {task!r}; tasks: {self.task_names}")
            return self.task_names.index(task)
        return task

    def _rau_all(self) -> torch.Tensor:
        if self.au is None:
            raise RuntimeError("no step has been tracked yet")
        total = self.au.sum(0, keepdim=True)
        # A parameter no task has moved is dominated by none: 1/K (and left out of the buckets).
        return torch.where(total > 0, self.au / torch.where(total > 0, total, 1.0), 1.0 / self.au.shape[0])

    def rau(self, task: int | str) -> torch.Tensor:
        """rAU of ``task`` for every shared parameter element, flat ``(P,)`` in
        ``shared_parameters()`` order (1/K where no task has updated the element)."""
        return self._rau_all()[self._task_index(task)]

    def accumulated_updates(self, task: int | str) -> torch.Tensor:
        """AU of ``task`` (its running average of squared updates, the numerator of rAU) for
        every shared parameter element, flat ``(P,)``: how much the task moves the element, where
        rAU only says which task moves it more."""
        if self.au is None:
            raise RuntimeError("no step has been tracked yet")
        return self.au[self._task_index(task)]

    def rau_by_layer(self, task: int | str) -> dict[str, torch.Tensor]:
        """rAU of ``task`` reshaped like each shared parameter tensor, by name."""
        flat = self.rau(task)
        return {
            name: chunk.view_as(p)
            for name, p, chunk in zip(self.names, self.params, flat.split([p.numel() for p in self.params]))
        }

    def _shares(self, edges: Sequence[float]) -> torch.Tensor:
        """``(K, 1 + L, B)`` shares of elements per rAU bucket (e_j, e_{j+1}] (the first closed at 0)."""
        rau = self._rau_all()
        num_tasks, num_layers, num_buckets = rau.shape[0], len(self.params), len(edges) - 1
        inner = torch.tensor(edges[1:-1], device=rau.device, dtype=rau.dtype)
        buckets = torch.bucketize(rau, inner)  # right=False: e_{j} < v ≤ e_{j+1} → j
        moved = (self.au.sum(0) > 0).to(rau.dtype)  # type: ignore[union-attr]
        index = (
            torch.arange(num_tasks, device=rau.device)[:, None] * num_layers + self._segments
        ) * num_buckets + buckets
        counts = torch.zeros(num_tasks * num_layers * num_buckets, device=rau.device, dtype=rau.dtype)
        counts.index_add_(0, index.reshape(-1), moved.expand(num_tasks, -1).reshape(-1))
        counts = counts.view(num_tasks, num_layers, num_buckets)
        counts = torch.cat([counts.sum(1, keepdim=True), counts], dim=1)
        return counts / counts.sum(-1, keepdim=True).clamp_min(1)

    def _labels(self, edges: Sequence[float]) -> list[str]:
        return [f"({a:g}, {b:g}]" for a, b in zip(edges, edges[1:])]

    def bucket_shares(self, task: int | str, edges: Sequence[float] | None = None) -> pd.DataFrame:
        """Share of shared parameter elements per rAU bucket, for all of them (row ``"all"``)
        and for each shared parameter tensor (rows named as in the model). Elements that no
        task has moved yet are left out."""
        edges = self.edges if edges is None else self._check_edges(edges)
        shares = self._shares(edges)[self._task_index(task)].cpu()
        return pd.DataFrame(shares.numpy(), index=["all", *self.names], columns=self._labels(edges))

    def history_frame(self) -> pd.DataFrame:
        """The recorded shares in long form: step, task, layer (``"all"`` or a name), bucket, share."""
        rows = []
        labels = self._labels(self.edges)
        layers = ["all", *self.names]
        for step, shares in self.history:
            values = shares.cpu()
            for k in range(values.shape[0]):
                task = self.task_names[k] if self.task_names else k
                for j, layer in enumerate(layers):
                    for b, label in enumerate(labels):
                        rows.append((step, task, layer, label, float(values[k, j, b])))
        return pd.DataFrame(rows, columns=["step", "task", "layer", "bucket", "share"])

    def results(self, trainer: Any, eval_data: Any = None) -> dict[str, Any]:
        """The record's ``rau_buckets`` (task → tensor → bucket → share, at the end) and
        ``rau_history`` (:meth:`history_frame` as columns)."""
        return {
            "rau_buckets": {t.name: self.bucket_shares(t.name).to_dict(orient="index") for t in trainer.tasks},
            "rau_history": self.history_frame().to_dict(orient="list"),
        }


@DIAGNOSTICS.register("rau")
def rau_diagnostic(total_steps: int) -> RAUTracker:
    """rAU with the default γ, its bucket shares recorded about 50 times over the run."""
    return RAUTracker(record_every=max(1, total_steps // 50))


__all__ = ["DEFAULT_EDGES", "RAUTracker", "rau_diagnostic"]
