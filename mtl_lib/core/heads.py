"""Per-task gradients at the shared representation, without K² work in the task heads.

A vmapped backward over the K unit vectors (``is_grads_batched``) pushes K gradients through
*every* part of the graph, task heads included: head j's input and weight gradients are
computed for all K tasks although only task j's is non-zero. On AdaTask's synthetic MLP (batch
100, one thread) that is 77 ms of the 80 ms it takes to get the K gradients of the shared
representation at K = 40 (5.4 ms without), and the heads' weight rows are (K−1)/K zeros.

When each task's parameters form one module (its *head*) and every head reads the same shared
tensor z, the split below is exact and cheap:

1. a forward pre-hook hands head k its own alias z_k of z (a view: no copy);
2. one plain backward of Σ_k L_k gives ∂L_k/∂z_k (only head k reads z_k) and, for head k's
   parameters, their own task's gradient;
3. the shared parameters' task gradients are then (∂z/∂θ)ᵀ ∂L_k/∂z, one vmapped backward of
   the trunk only (or its Gramian, :mod:`mtl_lib.core.gramian`).

Which models qualify is decided per step from what the hooks saw (:attr:`HeadSplit.usable`):
every head called once, all on the same tensor, with no other differentiable input. That the
losses depend on the shared parameters through the heads only (and each task's loss on its own
head only) cannot be seen from hooks; callers check it once against the full Jacobian.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn


def find_heads(model: nn.Module, per_task: Sequence[Sequence[torch.Tensor]]) -> list[nn.Module] | None:
    """For each task, the outermost module whose parameters are exactly that task's; ``None``
    when some task has no such module (task parameters inside a task-conditioned trunk)."""
    heads: list[nn.Module] = []
    for params in per_task:
        wanted = {id(p) for p in params}
        if not wanted:
            return None
        match = next(
            (m for m in model.modules() if {id(p) for p in m.parameters() if p.requires_grad} == wanted),
            None,
        )
        if match is None:
            return None
        heads.append(match)
    return heads


class HeadSplit:
    """Forward pre-hooks on the task heads that give each head its own alias of the shared
    representation (see the module docstring). Arm them for one forward pass with
    :meth:`capture`; afterwards :attr:`usable`, :attr:`features` and :attr:`aliases` describe it."""

    def __init__(self, heads: Sequence[nn.Module]) -> None:
        self.heads = list(heads)
        self._armed = False
        self.features: torch.Tensor | None = None
        self.aliases: list[torch.Tensor | None] = [None] * len(self.heads)
        self.reason = ""
        self._handles = [head.register_forward_pre_hook(self._hook_for(k)) for k, head in enumerate(self.heads)]

    @classmethod
    def for_model(cls, model: nn.Module, per_task: Sequence[Sequence[torch.Tensor]]) -> HeadSplit | None:
        heads = find_heads(model, per_task)
        return None if heads is None else cls(heads)

    def _hook_for(self, task: int) -> Any:
        def hook(module: nn.Module, args: tuple) -> Any:
            if not self._armed:
                return None
            tensors = [(i, a) for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.requires_grad]
            if len(tensors) != 1 or self.aliases[task] is not None:
                self._fail(f"head {task} was called twice or has {len(tensors)} differentiable inputs")
                return None
            index, features = tensors[0]
            if self.features is None:
                self.features = features
            elif features is not self.features:
                self._fail("the heads read different tensors")
                return None
            alias = features.view_as(features)
            self.aliases[task] = alias
            return (*args[:index], alias, *args[index + 1 :])

        return hook

    def _fail(self, reason: str) -> None:
        if not self.reason:
            self.reason = reason

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        """Arm the hooks for one forward pass (evaluation passes outside it are untouched)."""
        self.features = None
        self.aliases = [None] * len(self.heads)
        self.reason = ""
        self._armed = True
        try:
            yield
        finally:
            self._armed = False

    @property
    def usable(self) -> bool:
        """Whether the last captured forward pass fits the split."""
        if not self.reason and any(a is None for a in self.aliases):
            self.reason = "a head did not run (or ran without gradients)"
        return not self.reason

    def representation_gradients(
        self, terms: torch.Tensor, own_params: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        """``(ζ, grads)``: ζ (``(K, *z.shape)``) stacks ∂terms_k/∂z through head k, and ``grads``
        are the gradients of Σ_k terms_k for ``own_params`` (task and weighting parameters), all
        from one plain backward pass; the graph is kept for the trunk."""
        aliases = [a for a in self.aliases if a is not None]
        grads = torch.autograd.grad(
            terms.sum(), [*aliases, *own_params], retain_graph=True, allow_unused=True, materialize_grads=False
        )
        features = self.features
        assert features is not None
        zeta = torch.stack([g if g is not None else torch.zeros_like(features) for g in grads[: len(aliases)]])
        return zeta, list(grads[len(aliases) :])

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
