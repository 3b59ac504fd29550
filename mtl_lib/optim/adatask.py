"""AdaTask: task-wise adaptive learning rates for the shared parameters.

Yang, Pan, Wang, Yu, Shen, Chen, Xiao, Jiang and Guo, "AdaTask: A Task-Aware Adaptive Learning
Rate Approach to Multi-Task Learning", AAAI 2023 (arXiv 2211.15055). Authors' code (Adam only):
github.com/EnnengYang/AdaTask, ``adatask.py``.

AdaTask (Algorithm 2)
---------------------
A joint adaptive optimizer keeps one accumulator G_i per shared parameter element i, fed with
the summed gradient, so the task with the largest gradients sets every task's learning rate.
AdaTask keeps one accumulator per task, fed with that task's gradient g^k only:

    AdaGrad:  G^k ← G^k + (g^k)²                    Δθ^k = η g^k / D(G^k)
    RMSProp:  G^k ← α G^k + (1−α) (g^k)²            Δθ^k = η g^k / D(G^k)
    Adam:     m^k ← β₁ m^k + (1−β₁) g^k
              G^k ← β₂ G^k + (1−β₂) (g^k)²          Δθ^k = η m̂^k / D(Ĝ^k),
              m̂^k = m^k / (1−β₁ᵗ),  Ĝ^k = G^k / (1−β₂ᵗ)
    all:      θ ← θ − Σ_k Δθ^k

(The paper names the Adam decay rates γ₁ for G and γ₂ for m; we use torch's ``betas=(β₁, β₂)``
with β₁ for m and β₂ for G.) Task-specific parameters, and any other parameter without task
gradients (e.g. UW's log-variances), get the ordinary joint update of the same base optimizer
from their ``.grad``: with a single task AdaTask *is* the base optimizer.

Placement of ε, D(G) — the paper is not consistent
--------------------------------------------------
* Algorithm 2: AdaGrad √G + ε, RMSProp √(G + ε), Adam √Ĝ + ε.
* Algorithm 1 (the joint baselines) and the "Preliminaries" paragraph: √(G + ε) for all three.
* The authors' code (Adam only) and ``torch.optim`` (Adagrad, RMSprop, Adam): √G + ε, with the
  Adam form √G/√(1−β₂ᵗ) + ε.

Default ``eps_placement="outside"`` (√G + ε for every base): it is the authors' code, Algorithm 2
for two of three variants, and torch's convention, so that AdaTask with one task reproduces the
``torch.optim`` baseline the book compares it with, and any difference between "RMSProp" and
"AdaTask-RMSProp" comes from separating the tasks, not from ε. ``eps_placement="paper"`` follows
Algorithm 2 literally (RMSProp inside, the others outside); ``"inside"`` puts ε under the root
for all three. With ε = 1e-8 under the root the floor on the denominator is 1e-4 instead of
1e-8, which matters for tasks with tiny gradients.

Defaults: ``lr`` and ``eps`` as torch's base optimizers (AdaGrad 1e-2 and 1e-10, RMSProp 1e-2 and
1e-8, Adam 1e-3 and 1e-8), ``alpha=0.99`` (torch RMSprop), ``betas=(0.9, 0.999)`` (torch Adam and
the authors' code). The paper gives no values.

Weight decay (L2, coupled as in torch's Adagrad/RMSprop/Adam): a shared parameter's decay
term belongs to no task, so each task's gradient receives an equal share (λ/K)·θ; the task rows
then sum to g + λθ, the gradient a joint optimizer decays with, and one task gives torch's
update. The authors' code ignores ``weight_decay``.

LAdaTask, the layer-wise variant (Eq. 8–9), is in :mod:`mtl_lib.optim.ladatask`.

Using it with the engine
------------------------
``Trainer(model, tasks, optimizer="adatask_rmsprop")`` builds the optimizer from all trainable
parameters, so the optimizer learns which of them are shared from the model at
``on_train_start`` (the trainer calls that hook on its optimizer in ``fit``). Calling
``trainer.train_step`` without ``fit`` needs ``trainer.optimizer.bind_model(model)`` first.
Built by hand, the optimizer is told directly: ``AdaTask(shared, others, base="adam")`` or
``AdaTask(adatask_param_groups(model))``. ``step()`` without task gradients, or before the shared
parameters are known, raises.

The engine feeds AdaTask the per-task rows of the aggregation: the raw Jacobian without an
aggregator, or an aggregator's modified rows (PCGrad, GradVac, GradDrop: "AdaTask + PCGrad").

Direction-only aggregators (the rows the engine passes)
-------------------------------------------------------
CAGrad, MGDA(-UB), IMTL-G, Nash-MTL and Aligned-MTL return one direction d. Each of them is,
or can be written as, a combination of the task gradients, d = Σ_k ω_k g_k (Gramian-weighted
methods: ω = w from the Gram matrix, on the library's sum scale; CAGrad, d = g₀ + √c‖g₀‖/‖g_w‖·g_w
with g₀ the mean gradient and g_w = Σ_k w_k g_k: ω_k = 1/K + √c‖g₀‖/‖g_w‖·w_k, times K on the sum
scale). The rule: feed AdaTask the rows ω_k g_k. They sum
to d, so a plain optimizer and AdaTask see the same combined gradient, and with identical
weights the rule reduces to the plain Jacobian rows. Caveat to state wherever it is used:
AdaTask divides each row by the root of that row's own squared-gradient average, so a weight
that stays constant over time cancels (exactly for AdaGrad/RMSProp up to ε, and for Adam's
m̂/√Ĝ), and only the weights' variation over time (including steps where a method zeroes a
task) survives; "AdaTask + MGDA" is therefore close to AdaTask with time-varying task weights,
not to MGDA's direction. The engine implements this rule
(:func:`mtl_lib.core.jacobian.per_task_rows`, called by the backward pass for every optimizer
that consumes task gradients): an ``Aggregation`` that carries ``weights`` (K,) and no per-task
rows makes it pass ``weights[:, None] * jacobian``; an aggregator that reports neither is refused
with an error naming the fix, and representation-level Jacobians cannot be used (AdaTask needs
parameter-level rows).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from mtl_lib.core.model import parameter_names
from mtl_lib.core.optimizers import OPTIMIZERS

BASES = ("adagrad", "rmsprop", "adam")
EPS_PLACEMENTS = ("outside", "inside", "paper")
#: Algorithm 2 of the paper, read literally.
PAPER_EPS_PLACEMENT = {"adagrad": "outside", "rmsprop": "inside", "adam": "outside"}
#: torch.optim's defaults for the base optimizers (the paper gives none).
BASE_DEFAULTS = {
    "adagrad": {"lr": 1e-2, "eps": 1e-10},
    "rmsprop": {"lr": 1e-2, "eps": 1e-8},
    "adam": {"lr": 1e-3, "eps": 1e-8},
}

ParamsLike = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


def adatask_param_groups(model: nn.Module, extra_params: Iterable[torch.Tensor] = ()) -> list[dict[str, Any]]:
    """Param groups for :class:`AdaTask`: the model's shared parameters (``"shared": True``, in
    ``model.shared_parameters()`` order, the engine's Jacobian column order) and every other
    trainable parameter of the model plus ``extra_params`` (``"shared": False``)."""
    shared = list(model.shared_parameters())  # type: ignore[operator]
    shared_ids = {id(p) for p in shared}
    others = [p for p in model.parameters() if p.requires_grad and id(p) not in shared_ids]
    others += [p for p in extra_params if id(p) not in shared_ids]
    groups: list[dict[str, Any]] = [{"params": shared, "shared": True}]
    if others:
        groups.append({"params": others, "shared": False})
    return groups


def _as_groups(params: ParamsLike) -> list[dict[str, Any]]:
    items = list(params)
    if not items:
        return []
    if isinstance(items[0], dict):
        return [dict(group) for group in items]  # type: ignore[arg-type]
    return [{"params": items}]


class AdaTask(torch.optim.Optimizer):
    """AdaTask over AdaGrad, RMSProp or Adam (``base``); see the module docstring.

    ``params`` is either the shared parameters (then ``other_params`` are the rest), or param
    groups of which those with ``"shared": True`` hold the shared parameters in the engine's
    order (:func:`adatask_param_groups`), or all parameters unmarked, to be sorted out by
    :meth:`bind_model` / ``on_train_start``. ``num_tasks`` is checked against the task
    gradients when given, otherwise taken from the first call of :meth:`set_task_gradients`.

    After each step, ``last_task_updates`` holds, per shared parameter tensor, the ``(K, *shape)``
    per-task updates Δθ^k (θ ← θ − Σ_k Δθ^k); the rAU tracker reads them.
    """

    consumes_task_gradients = True
    #: LAdaTask sets this; used in messages and by diagnostics.
    layerwise = False

    def __init__(
        self,
        params: ParamsLike,
        other_params: Iterable[torch.Tensor] | None = None,
        num_tasks: int | None = None,
        *,
        base: str = "rmsprop",
        lr: float | None = None,
        alpha: float = 0.99,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float | None = None,
        weight_decay: float = 0.0,
        eps_placement: str = "outside",
        record_task_updates: bool = True,
    ) -> None:
        base = base.lower()
        if base not in BASES:
            raise ValueError(f"base must be one of {BASES}, got {base!r}")
        if eps_placement not in EPS_PLACEMENTS:
            raise ValueError(f"eps_placement must be one of {EPS_PLACEMENTS}, got {eps_placement!r}")
        lr = BASE_DEFAULTS[base]["lr"] if lr is None else lr
        eps = BASE_DEFAULTS[base]["eps"] if eps is None else eps
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"lr, eps and weight_decay must be ≥ 0, got {lr}, {eps}, {weight_decay}")
        if not (0.0 <= alpha < 1.0 and 0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"decay rates must lie in [0, 1): alpha={alpha}, betas={betas}")
        if num_tasks is not None and num_tasks < 1:
            raise ValueError(f"num_tasks must be ≥ 1, got {num_tasks}")

        groups = _as_groups(params)
        if other_params is not None:
            if any(group.get("shared") is False for group in groups):
                raise ValueError("params are the shared parameters when other_params is given")
            for group in groups:
                group["shared"] = True
            groups += [dict(group, shared=False) for group in _as_groups(other_params)]
        defaults = dict(lr=lr, alpha=alpha, betas=tuple(betas), eps=eps, weight_decay=weight_decay, shared=None)
        super().__init__(groups, defaults)

        self.base = base
        self.eps_placement = eps_placement
        self.eps_inside = (PAPER_EPS_PLACEMENT[base] if eps_placement == "paper" else eps_placement) == "inside"
        self.num_tasks = num_tasks
        self.record_task_updates = record_task_updates
        self.last_task_updates: list[torch.Tensor] | None = None
        self._task_gradients: torch.Tensor | None = None
        flagged = [group for group in self.param_groups if group["shared"]]
        self._shared: list[torch.Tensor] | None = [p for group in flagged for p in group["params"]] if flagged else None
        #: Names of the shared parameter tensors when bound to a model (else ``None``).
        self.shared_names: list[str] | None = None

    # ----------------------------------------------------------------- which params are shared
    def bind_model(self, model: nn.Module) -> None:
        """Take the shared parameters (and their order) from ``model.shared_parameters()``.

        If param groups already marked parameters as shared, the two sets must agree."""
        shared = list(model.shared_parameters())  # type: ignore[operator]
        mine = {id(p) for group in self.param_groups for p in group["params"]}
        missing = [i for i, p in enumerate(shared) if id(p) not in mine]
        if missing:
            raise ValueError(f"{len(missing)} of the model's shared parameters are not in this optimizer")
        if self._shared is not None and {id(p) for p in self._shared} != {id(p) for p in shared}:
            raise ValueError("the parameters marked 'shared' in the param groups differ from model.shared_parameters()")
        for p in shared:
            state = self.state.get(p)
            if state and not any(key.startswith("task_") for key in state):
                raise ValueError("a shared parameter already has a joint (non-task) optimizer state")
        self._shared = shared
        self.shared_names = parameter_names(model, shared)

    def on_train_start(self, trainer: Any) -> None:
        """Trainer hook: learn the shared parameters from the trainer's model."""
        self.bind_model(trainer.model)

    @property
    def shared_parameters(self) -> list[torch.Tensor]:
        if self._shared is None:
            raise RuntimeError(
                f"{type(self).__name__} does not know which parameters are shared: build it with "
                "AdaTask(shared, others, ...) or adatask_param_groups(model), call "
                "bind_model(model), or train with Trainer.fit (which calls on_train_start)"
            )
        return self._shared

    def set_task_gradients(self, task_gradients: torch.Tensor) -> None:
        """Receive the ``(K, P)`` per-task gradients of the flattened shared parameters (in
        ``shared_parameters`` order) for the next :meth:`step`."""
        if task_gradients.dim() != 2:
            raise ValueError(f"expected a (K, P) tensor, got shape {tuple(task_gradients.shape)}")
        if self.num_tasks is None:
            self.num_tasks = task_gradients.shape[0]
        elif task_gradients.shape[0] != self.num_tasks:
            raise ValueError(f"got {task_gradients.shape[0]} task gradients for {self.num_tasks} tasks")
        self._task_gradients = task_gradients.detach()

    def _split_task_gradients(self, shared: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if self._task_gradients is None:
            raise RuntimeError(
                f"{type(self).__name__}.step() needs the per-task gradients of the shared parameters: "
                "call set_task_gradients(J) first (the engine does this on its Jacobian path)"
            )
        rows = self._task_gradients
        total = sum(p.numel() for p in shared)
        if rows.shape[1] != total:
            raise ValueError(f"task gradients have {rows.shape[1]} columns, the shared parameters {total}")
        out, offset = [], 0
        for p in shared:
            out.append(rows[:, offset : offset + p.numel()].reshape(rows.shape[0], *p.shape))
            offset += p.numel()
        return out

    # ----------------------------------------------------------------- the update
    def _denominator(self, accumulator: torch.Tensor, eps: float, correction: float = 1.0) -> torch.Tensor:
        """D(G/correction): √(G/c) + ε or √(G/c + ε)."""
        if self.eps_inside:
            return (accumulator / correction).add(eps).sqrt()
        if correction == 1.0:
            return accumulator.sqrt().add_(eps)
        return (accumulator.sqrt() / math.sqrt(correction)).add_(eps)

    def _joint_update(
        self, state: dict[str, Any], grad: torch.Tensor, group: dict[str, Any], prefix: str
    ) -> torch.Tensor:
        """Update the base optimizer's state in place with ``grad`` (any shape; a leading task
        axis makes it per-task) and return Δ, the amount to subtract from the parameter."""
        lr, eps = group["lr"], group["eps"]
        if self.base == "adagrad":
            accumulator = state[prefix + "sum"]
            accumulator.addcmul_(grad, grad)
            return lr * grad / self._denominator(accumulator, eps)
        if self.base == "rmsprop":
            accumulator = state[prefix + "square_avg"]
            accumulator.mul_(group["alpha"]).addcmul_(grad, grad, value=1 - group["alpha"])
            return lr * grad / self._denominator(accumulator, eps)
        beta1, beta2 = group["betas"]
        exp_avg, exp_avg_sq = state[prefix + "exp_avg"], state[prefix + "exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = state["step"]
        denom = self._denominator(exp_avg_sq, eps, 1 - beta2**step)
        return (lr / (1 - beta1**step)) * exp_avg / denom

    def _state_keys(self) -> tuple[str, ...]:
        return {"adagrad": ("sum",), "rmsprop": ("square_avg",), "adam": ("exp_avg", "exp_avg_sq")}[self.base]

    def _init_plain_state(self, p: torch.Tensor, state: dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            for key in self._state_keys():
                state[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
        elif any(key.startswith("task_") for key in state):
            raise RuntimeError("a parameter with per-task AdaTask state is being updated as a non-shared one")

    def _plain_step(self, p: torch.Tensor, group: dict[str, Any]) -> None:
        grad = p.grad
        if grad.is_sparse:
            raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
        if group["weight_decay"]:
            grad = grad.add(p, alpha=group["weight_decay"])
        state = self.state[p]
        self._init_plain_state(p, state)
        state["step"] += 1
        p.sub_(self._joint_update(state, grad, group, prefix=""))

    def _init_shared_state(self, p: torch.Tensor, state: dict[str, Any], num_tasks: int) -> None:
        if not state:
            state["step"] = 0
            for key in self._state_keys():
                state["task_" + key] = torch.zeros((num_tasks, *p.shape), dtype=p.dtype, device=p.device)
            return
        first = next((v for k, v in state.items() if k.startswith("task_")), None)
        if first is None:
            raise RuntimeError("a shared parameter has a joint (non-task) state; was it bound late?")
        if first.shape[0] != num_tasks:
            raise RuntimeError(f"state holds {first.shape[0]} tasks, the task gradients {num_tasks}")

    def _begin_shared_step(
        self, p: torch.Tensor, task_grads: torch.Tensor, group: dict[str, Any]
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Each task carries an equal share of the weight decay; the state exists and counts
        this step."""
        num_tasks = task_grads.shape[0]
        if group["weight_decay"]:
            task_grads = task_grads + (group["weight_decay"] / num_tasks) * p
        state = self.state[p]
        self._init_shared_state(p, state, num_tasks)
        state["step"] += 1
        return task_grads, state

    def _shared_step(self, p: torch.Tensor, task_grads: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        task_grads, state = self._begin_shared_step(p, task_grads, group)
        return self._joint_update(state, task_grads, group, prefix="task_")

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        shared = self.shared_parameters
        rows = self._split_task_gradients(shared) if shared else []
        group_of = {id(p): group for group in self.param_groups for p in group["params"]}
        shared_ids = set()
        updates = []
        for p, task_grads in zip(shared, rows):
            shared_ids.add(id(p))
            delta = self._shared_step(p, task_grads.to(p.dtype), group_of[id(p)])
            p.sub_(delta.sum(0))
            updates.append(delta)
        for group in self.param_groups:
            for p in group["params"]:
                if id(p) not in shared_ids and p.grad is not None:
                    self._plain_step(p, group)
        self.last_task_updates = updates if self.record_task_updates else None
        # Task gradients are consumed: a later step without fresh ones must fail, not reuse them.
        self._task_gradients = None
        return loss

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base={self.base!r}, eps_placement={self.eps_placement!r})"


def _named(cls: type[AdaTask], base: str, name: str) -> type[AdaTask]:
    def __init__(
        self: AdaTask,
        params: ParamsLike,
        other_params: Iterable[torch.Tensor] | None = None,
        num_tasks: int | None = None,
        **kwargs: Any,
    ) -> None:
        if "base" in kwargs:
            raise TypeError(f"{name} fixes base={base!r}")
        cls.__init__(self, params, other_params, num_tasks, base=base, **kwargs)

    named = type(name, (cls,), {"__init__": __init__, "__doc__": f"{cls.__name__} with base={base!r}."})
    named.__module__ = cls.__module__
    return named


def _register_bases(cls: type[AdaTask], prefix: str) -> tuple[type[AdaTask], type[AdaTask], type[AdaTask]]:
    """``cls`` with each base fixed (AdaGrad, RMSProp, Adam), registered as ``<prefix>_<base>``."""
    variants = []
    for base, label in (("adagrad", "AdaGrad"), ("rmsprop", "RMSProp"), ("adam", "Adam")):
        named = _named(cls, base, f"{cls.__name__}{label}")
        OPTIMIZERS.register(f"{prefix}_{base}")(named)
        variants.append(named)
    return variants[0], variants[1], variants[2]


AdaTaskAdaGrad, AdaTaskRMSProp, AdaTaskAdam = _register_bases(AdaTask, "adatask")

__all__ = [
    "AdaTask",
    "AdaTaskAdaGrad",
    "AdaTaskAdam",
    "AdaTaskRMSProp",
    "adatask_param_groups",
]
