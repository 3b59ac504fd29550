"""The Gramian G = J Jᵀ of the task Jacobian of the shared parameters, layer by layer, without
ever holding the K×P Jacobian J.

Methods whose weights depend on G alone (MGDA, IMTL-G, UPGrad, DualProj, Nash-MTL, Aligned-MTL,
CAGrad's dual, PCGrad's Gramian form, ...) need K² numbers, not K·P. Since the columns of J split
into layers, G = Σ_l J_l J_lᵀ, and J_l (K × p_l, task k's gradient of layer l's parameters) is
formed from the layer's input and the K gradients reaching its output, then dropped. The idea is
the one of TorchJD's "autogram" engine (Quinton & Rey, "Jacobian Descent for Multi-Objective
Optimization", 2024, Algorithm 3); this is an independent implementation:

1. During the forward pass (:meth:`LayerwiseGramian.capture`), a forward hook on every module
   that owns shared parameters routes the module's output through an identity autograd node
   (a *tap*) that also depends on a zero-dimensional *anchor* tensor.
2. One backward pass, vmapped over the K unit vectors, asks only for the anchor's gradient: the
   autograd engine then propagates the K task gradients through every tap (and, between taps,
   through the layers' input gradients only: no parameter gradient is computed there). Each
   tap's backward receives the K gradients of its module's output at once (through a custom
   ``vmap`` rule) and adds its layer's J_l J_lᵀ to G.
3. The caller turns G into weights w and back-propagates Σ_k w_k L_k once (a plain backward).

For ``nn.Linear`` (called once per forward) J_l J_lᵀ has a closed form that never forms J_l
either: with input X (N × in) and output gradients Δ_k (N × out),
``⟨Δ_iᵀX, Δ_jᵀX⟩ = ⟨Δ_i, (XXᵀ) Δ_j⟩``, used whenever it costs fewer operations. Any other module
(convolutions, batch norm, custom layers) gets J_l from autograd on its own sub-graph, which is
exact for any layer. A module called several times in one forward pass (a task-conditioned
trunk) sums its calls' J_l before the product. Products are taken on row-scaled values and
accumulated in float64, so extreme gradient norms neither overflow nor vanish.

What this cannot see: a shared parameter used outside the forward of the module that owns it
(weight tying by hand, ``F.linear(x, other.weight)``). ``verify=True`` (the default) therefore
compares G once, on the first step, with J Jᵀ from :func:`~mtl_lib.core.jacobian.task_jacobians`
and raises if they differ.

When it pays (``benchmarks/saved/task_scaling.json``, CPU, one thread): the vmapped backward
carries K gradients of every activation through the trunk, K×(activations) memory, against the
Jacobian path's K×P. On AdaTask's MLP (P ≈ 56k, batch 100) at K = 40 a step's peak memory is
9.1 MB against 26.8 MB, at the same time per step (0.86–1.00× over six methods). On the leaf CNN
(few convolution weights, 32×64×64 activations) at K = 10 it is the wrong choice: 841 MB against
138 MB, and 2.6–2.9× the time (the engine's default there is K sequential backward passes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from mtl_lib.core.jacobian import vector_jacobian_rows

#: Relative tolerance of the one-time check against the Jacobian path, per dtype.
VERIFY_RTOL = {torch.float64: 1e-9, torch.float32: 1e-4, torch.bfloat16: 5e-2, torch.float16: 5e-2}


class GramianPathError(RuntimeError):
    """The layer-wise Gramian disagreed with J Jᵀ, or the model cannot use the Gramian path."""


def scaled_gram(rows: torch.Tensor) -> torch.Tensor:
    """``rows @ rows.T`` in float64, each row first divided by its largest absolute entry (the
    product is then taken in the rows' dtype on values in [-1, 1] and the scales multiplied back in
    float64). A NaN/inf row gives a NaN diagonal entry."""
    scales = rows.abs().amax(dim=1) if rows.shape[1] else rows.new_zeros(rows.shape[0])
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    unit = rows / scales[:, None]
    s = scales.to(torch.float64)
    return (unit @ unit.T).to(torch.float64) * s[:, None] * s[None, :]


def _row_scales(values: torch.Tensor) -> torch.Tensor:
    """Largest absolute entry of each row of a ``(K, ...)`` tensor (1 where it is 0)."""
    scales = values.reshape(values.shape[0], -1).abs().amax(dim=1)
    return torch.where(scales > 0, scales, torch.ones_like(scales))


def linear_gram(inputs: torch.Tensor, output_grads: torch.Tensor, has_bias: bool) -> torch.Tensor:
    """J_l J_lᵀ of an ``nn.Linear`` layer from its input ``(..., in)`` and the K gradients of its
    output ``(K, ..., out)``, float64 ``(K, K)``, without forming J_l when that is cheaper."""
    x = inputs.reshape(-1, inputs.shape[-1])
    k = output_grads.shape[0]
    d = output_grads.reshape(k, x.shape[0], -1)
    n, fan_in, fan_out = x.shape[0], x.shape[1], d.shape[2]
    d_scale = _row_scales(d)
    x_scale = x.abs().amax().clamp_min(torch.finfo(x.dtype).tiny)
    d_unit = d / d_scale.to(d.dtype)[:, None, None]
    x_unit = x / x_scale
    if n * n * (fan_in + k * fan_out) + k * k * n * fan_out < k * n * fan_out * fan_in + k * k * fan_out * fan_in:
        kernel = x_unit @ x_unit.T  # (N, N): ⟨Δ_iᵀX, Δ_jᵀX⟩ = ⟨Δ_i, XXᵀ Δ_j⟩
        weighted = torch.matmul(kernel, d_unit)
        unit_gram = d_unit.reshape(k, -1) @ weighted.reshape(k, -1).T
        unit_gram = 0.5 * (unit_gram + unit_gram.T)
    else:
        weight_rows = torch.einsum("kno,ni->koi", d_unit, x_unit).reshape(k, -1)
        unit_gram = weight_rows @ weight_rows.T
    s = d_scale.to(torch.float64)
    gram = unit_gram.to(torch.float64) * (float(x_scale) ** 2) * s[:, None] * s[None, :]
    if has_bias:
        bias_rows = d_unit.sum(dim=1)
        gram = gram + (bias_rows @ bias_rows.T).to(torch.float64) * s[:, None] * s[None, :]
    return gram


def verify_gramian(gram: torch.Tensor, rows: torch.Tensor) -> None:
    """Raise :class:`GramianPathError` unless ``gram`` matches ``rows rowsᵀ`` (the Jacobian
    path's Gramian) to :data:`VERIFY_RTOL` of its largest entry. Non-finite values are left to
    the non-finite checks."""
    reference = scaled_gram(rows)
    if not (bool(torch.isfinite(reference).all()) and bool(torch.isfinite(gram).all())):
        return
    rtol = VERIFY_RTOL.get(rows.dtype, 1e-4)
    error = float((gram - reference).abs().max())
    scale = float(reference.abs().max())
    if error > rtol * max(scale, torch.finfo(torch.float64).tiny):
        raise GramianPathError(
            f"the layer-wise Gramian differs from J Jᵀ by {error:.3g} (largest entry {scale:.3g}): a "
            "shared parameter is probably used outside the forward of the module that owns it "
            "(weight tying by hand), or a task's loss reads another task's head. Use "
            "jacobian_of='parameters' for this model."
        )


class _ModuleState:
    """One hooked module: its shared parameters, whether the closed form applies, and this step's
    pending calls (their J_l rows are summed before the product when there are several)."""

    def __init__(self, module: nn.Module, params: list[nn.Parameter], batched: bool) -> None:
        self.module = module
        self.params = params
        self.batched = batched
        own = list(module.parameters(recurse=False))
        self.closed_form = type(module) is nn.Linear and len(params) == len(own)
        self.calls = 0
        self.pending = 0
        self.summed_rows: torch.Tensor | None = None

    def reset(self) -> None:
        self.calls = self.pending = 0
        self.summed_rows = None

    def rows_by_recompute(self, inputs: tuple, grads: torch.Tensor) -> torch.Tensor:
        """This call's share only, for a module called several times: its forward re-run on the
        detached inputs, differentiated with respect to its own parameters (a vjp per task)."""
        detached = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in inputs)
        names = [n for n, p in self.module.named_parameters(recurse=False) if any(p is q for q in self.params)]

        def call(*values: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(self.module, dict(zip(names, values)), detached)

        _, vjp = torch.func.vjp(call, *self.params)
        per_param = torch.vmap(vjp)(grads)
        return torch.cat([g.reshape(grads.shape[0], -1) for g in per_param], dim=1)

    def rows(self, output: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
        """Task k's gradient of this call's parameters, ``(K, p_l)``, by autograd on the
        module's own sub-graph (exact for any layer)."""
        if self.batched:
            per_param = torch.autograd.grad(
                output, self.params, grad_outputs=grads, is_grads_batched=True, retain_graph=True, allow_unused=True
            )
        else:
            per_task = [
                torch.autograd.grad(output, self.params, grad_outputs=g, retain_graph=True, allow_unused=True)
                for g in grads
            ]
            per_param = tuple(
                torch.stack([row[i] if row[i] is not None else torch.zeros_like(p) for row in per_task])
                for i, p in enumerate(self.params)
            )
        k = grads.shape[0]
        return torch.cat(
            [
                (g if g is not None else torch.zeros((k, *p.shape), dtype=p.dtype, device=p.device)).reshape(k, -1)
                for g, p in zip(per_param, self.params)
            ],
            dim=1,
        )


def linear_rows(inputs: torch.Tensor, output_grads: torch.Tensor, has_bias: bool) -> torch.Tensor:
    """Task k's gradient of an ``nn.Linear``'s weight (and bias) for one call, ``(K, p_l)``."""
    x = inputs.reshape(-1, inputs.shape[-1])
    d = output_grads.reshape(output_grads.shape[0], x.shape[0], -1)
    rows = [torch.einsum("kno,ni->koi", d, x).reshape(d.shape[0], -1)]
    if has_bias:
        rows.append(d.sum(dim=1))
    return torch.cat(rows, dim=1)


class _Call:
    """What a tap remembers of one module call: the module, its inputs and its output."""

    def __init__(self, engine: LayerwiseGramian, state: _ModuleState, inputs: tuple, output: torch.Tensor) -> None:
        self.engine, self.state, self.output, self.inputs = engine, state, output, inputs
        self.versions = [a._version for a in inputs if isinstance(a, torch.Tensor)]

    def _check_inputs_unchanged(self) -> None:
        if [a._version for a in self.inputs if isinstance(a, torch.Tensor)] != self.versions:
            raise GramianPathError(
                f"the input of {type(self.state.module).__name__} was modified in place after the "
                "forward pass; the layer-wise Gramian needs it unchanged (avoid in-place ops on "
                "layer inputs, or use jacobian_of='parameters')"
            )

    def add(self, grads: torch.Tensor) -> None:
        """Receive the K gradients of this call's output and add the layer's share of G."""
        engine, state = self.engine, self.state
        if not engine.collecting or engine.inner:
            return  # the final weighted backward, or a layer's own sub-pass reaching this tap
        state.pending -= 1
        self._check_inputs_unchanged()
        if state.closed_form and state.calls == 1:
            engine.add(linear_gram(self.inputs[0].detach(), grads, state.module.bias is not None))
            return
        engine.inner = True
        try:
            rows = self._rows(grads)
        finally:
            engine.inner = False
        state.summed_rows = rows if state.summed_rows is None else state.summed_rows + rows
        if state.pending == 0:
            engine.add(scaled_gram(state.summed_rows))
            state.summed_rows = None

    def _rows(self, grads: torch.Tensor) -> torch.Tensor:
        state = self.state
        if state.closed_form:
            return linear_rows(self.inputs[0].detach(), grads, state.module.bias is not None)
        if state.calls == 1:
            return state.rows(self.output, grads)
        return state.rows_by_recompute(self.inputs, grads)


class _Collect(torch.autograd.Function):
    """Called inside a tap's backward. Under ``torch.vmap`` its ``vmap`` rule sees the K task
    gradients of the module's output as one physical tensor; it returns the anchor's (zero)
    gradient, one per task."""

    @staticmethod
    def forward(grads: torch.Tensor, call: _Call, anchor: torch.Tensor) -> torch.Tensor:
        call.add(grads.unsqueeze(0))  # outside vmap: one task (the sequential fallback)
        return torch.zeros_like(anchor)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
        pass

    @staticmethod
    def vmap(info: Any, in_dims: tuple, grads: torch.Tensor, call: _Call, anchor: torch.Tensor) -> tuple:
        dim = in_dims[0]
        batch = grads.movedim(dim, 0) if dim is not None else grads.expand(info.batch_size, *grads.shape)
        call.add(batch)
        return anchor.new_zeros((info.batch_size, *anchor.shape)), 0


class _Tap(torch.autograd.Function):
    """Identity on a module's output; its backward hands the output's gradient to :class:`_Collect`
    (when the anchor's gradient is asked for) and passes it on unchanged."""

    generate_vmap_rule = True

    @staticmethod
    def forward(anchor: torch.Tensor, output: torch.Tensor, call: _Call) -> torch.Tensor:
        return output.detach()

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
        ctx.call = inputs[2]
        ctx.anchor_shape_dtype = (inputs[0].shape, inputs[0].dtype, inputs[0].device)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:
        anchor_grad = None
        if ctx.needs_input_grad[0]:
            shape, dtype, device = ctx.anchor_shape_dtype
            anchor_grad = _Collect.apply(grad, ctx.call, torch.zeros(shape, dtype=dtype, device=device))
        return anchor_grad, grad, None


class LayerwiseGramian:
    """Exact G = J Jᵀ of the task Jacobian of ``params`` (the shared parameters of ``model``),
    layer by layer (see the module docstring). Build once per model; per step::

        with gramian.capture():
            losses = model_losses(batch)          # (K,), the forward pass
        G = gramian.compute(losses)               # (K, K) float64; the graph is kept
        w = weights_from(G)
        torch.autograd.backward(w @ losses, inputs=shared)   # Σ_k w_k g_k, once

    ``batched_layers`` (generic layers only): J_l by one vmapped backward of the layer (True) or
    by K backward passes (False); ``"auto"`` uses K passes for convolutions and batch norm on the
    CPU, whose vmapped backward is the slower one there.
    """

    def __init__(
        self,
        model: nn.Module,
        params: Sequence[torch.Tensor],
        *,
        verify: bool = True,
        batched_layers: bool | str = "auto",
    ) -> None:
        wanted = {id(p): p for p in params}
        self.params = list(params)
        self._states: list[_ModuleState] = []
        self._handles: list[Any] = []
        covered: set[int] = set()
        for module in model.modules():
            own = [p for p in module.parameters(recurse=False) if id(p) in wanted]
            if not own:
                continue
            covered.update(id(p) for p in own)
            state = _ModuleState(module, own, self._layer_batched(module, own[0], batched_layers))
            self._states.append(state)
            self._handles.append(module.register_forward_hook(self._hook_for(state)))
        missing = [i for i, p in enumerate(self.params) if id(p) not in covered]
        if missing:
            self.close()
            raise GramianPathError(f"parameters {missing} (of {len(self.params)}) belong to no module of the model")
        self.verify = verify
        self.collecting = False
        #: True while a layer's own sub-pass runs (taps it reaches must not count).
        self.inner = False
        self._armed = False
        self._anchor: torch.Tensor | None = None
        self._gram: torch.Tensor | None = None

    @staticmethod
    def _layer_batched(module: nn.Module, param: torch.Tensor, batched: bool | str) -> bool:
        if batched in (True, False):
            return bool(batched)
        slow = (nn.modules.conv._ConvNd, nn.modules.batchnorm._BatchNorm)
        return not (param.device.type == "cpu" and isinstance(module, slow))

    def _hook_for(self, state: _ModuleState) -> Any:
        def hook(module: nn.Module, inputs: tuple, output: Any) -> Any:
            if not self._armed:
                return None
            if not isinstance(output, torch.Tensor):
                raise GramianPathError(
                    f"{type(module).__name__} returns {type(output).__name__}, not one tensor; the "
                    "layer-wise Gramian supports modules with one tensor output (use the Jacobian path)"
                )
            if not output.requires_grad:
                return None
            state.calls += 1
            state.pending += 1
            return _Tap.apply(self._anchor, output, _Call(self, state, inputs, output))

        return hook

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        """Arm the hooks for one forward pass."""
        for state in self._states:
            state.reset()
        first = self.params[0]
        self._anchor = torch.zeros((), dtype=first.dtype, device=first.device, requires_grad=True)
        self._armed = True
        try:
            yield
        finally:
            self._armed = False

    def add(self, gram: torch.Tensor) -> None:
        self._gram = gram if self._gram is None else self._gram + gram

    def compute(self, outputs: torch.Tensor, output_grads: torch.Tensor | None = None) -> torch.Tensor:
        """G (``(K, K)``, float64) for the forward pass captured last.

        ``outputs`` are the K losses (then row k of J is ∂L_k/∂θ), or any tensor z of that
        graph with ``output_grads`` ``(K, *z.shape)``: then row k is (∂z/∂θ)ᵀ output_grads[k]
        (the shared representation and its per-task gradients, :mod:`mtl_lib.core.heads`). The
        graph is kept: the caller back-propagates the weighted losses next, which frees it."""
        if output_grads is None:
            if outputs.dim() != 1:
                raise ValueError(f"losses must be a (K,) vector, got shape {tuple(outputs.shape)}")
            output_grads = torch.eye(outputs.shape[0], dtype=outputs.dtype, device=outputs.device)
        if self._anchor is None:
            raise GramianPathError("no captured forward pass: run the forward inside gramian.capture()")
        anchor, self._anchor = self._anchor, None
        k = output_grads.shape[0]
        self._gram = None
        self.collecting = True
        try:
            torch.vmap(
                lambda v: torch.autograd.grad(outputs, [anchor], grad_outputs=v, retain_graph=True, allow_unused=True)
            )(output_grads)
        finally:
            self.collecting = False
        gram = self._gram
        self._gram = None
        unreached = [type(s.module).__name__ for s in self._states if s.pending]
        for state in self._states:
            state.reset()
        if gram is None:
            gram = torch.zeros((k, k), dtype=torch.float64, device=outputs.device)
        if unreached:
            raise GramianPathError(f"modules {unreached} ran forward but the outputs do not depend on theirs")
        if self.verify:
            self.verify = False
            rows = vector_jacobian_rows(outputs, self.params, output_grads, retain_graph=True)
            verify_gramian(gram, torch.cat([g.reshape(k, -1) for g in rows], dim=1))
        return gram

    def close(self) -> None:
        """Remove the forward hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
