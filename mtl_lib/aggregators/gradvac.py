"""Gradient Vaccine (Wang, Tsvetkov, Firat & Cao, ICLR 2021, "Gradient Vaccine: Investigating
and Improving Multi-task Optimization in Massively Multilingual Models").

GradVac generalises PCGrad: instead of acting only when two task gradients conflict
(cosine < 0), it keeps, for every ordered task pair (i, j) and every parameter block l, a target
similarity φ̂_ijl (an exponential moving average of the observed cosines) and pulls g_i towards
g_j whenever the current cosine falls below the target. For each task i, visiting the other
tasks j in a random order, and in every block l (restricting g_i, g_j to the block):

    φ   = cos(g_i, g_j)                         (g_i: the running, already corrected vector;
                                                 g_j: task j's original gradient)
    if φ < φ̂_ij:
        w   = ‖g_i‖ (φ̂ √(1−φ²) − φ √(1−φ̂²)) / (‖g_j‖ √(1−φ̂²) + ε)
        g_i ← g_i + w g_j                        (makes cos(g_i, g_j) = φ̂ exactly)
    φ̂_ij ← (1−β) φ̂_ij + β φ

The update is Σ_i g_i^GV (sum scale: with no pair below its target, the output is J.sum(0)),
and the corrected per-task rows are exposed for task-aware optimizers (AdaTask).

Defaults and where they come from:
- ``beta = 0.01``: the EMA rate β = 1e-2 given for the paper's experiments (we could not re-read
  the passage in the stored paper text; a third-party port, Pylon's GradVac config, also uses
  0.01). LibMTL (``GradVac_beta``) and TorchJD (``GradVac(beta=...)``) both default to 0.5;
  pass ``beta=0.5`` to reproduce them.
- ``granularity = "layer"``: the paper compares granularities (whole model, encoder/decoder,
  all layers, all matrices — the names LibMTL and TorchJD's grouping examples reuse) and finds
  the finer ones better; LibMTL's ``GradVac_group_type`` defaults to 0 (whole model) and
  TorchJD's aggregator acts on the whole Jacobian it is given. ``"parameter"`` is LibMTL's
  ``all_matrix`` (one block per parameter tensor), ``"whole"`` is one block.
- ``eps = 1e-8`` in both denominators, as in LibMTL and TorchJD.
- φ̂ starts at 0 for every pair (paper, LibMTL, TorchJD). With φ̂ = 0 the weight reduces to
  w = −g_i·g_j / ‖g_j‖², PCGrad's projection, so the first step *is* PCGrad (same visiting
  order; a test checks it on TorchJD's reference Jacobian).
- The EMA is updated after every visit of a pair, whether or not a correction happened
  (TorchJD, and the paper's Algorithm 1 as we read it; the LibMTL version we read updates it
  only inside the ``if`` branch, so its targets only ever move down).

Layer grouping (``granularity="layer"``): the trainer calls :meth:`bind_shared_parameters`
with every shared tensor's name (``"encoder.0.weight"``) and size; consecutive tensors whose
names share the module prefix (``"encoder.0"``, i.e. the name without its last dotted part)
form one block, so a ``Linear``'s weight and bias are one layer, as LibMTL's ``all_layer``
groups by module. Until the trainer (or the user) binds the parameters, the whole Jacobian is
one block.

Randomness: for each task i the order of the *other* tasks is ``randperm(K − 1)`` drawn from
the aggregator's own generator (seed ``seed``, default 0). That is exactly TorchJD's draw, made
from TorchJD's global RNG instead, so seeding ``torch.manual_seed(s)`` and ``GradVac(seed=s)``
gives TorchJD's result (the tests use this).

Gramian space (how it is computed): in every block l each corrected row stays a combination of
the original gradients, g_i^GV = Σ_k W_l,ik g_k (restricted to block l), so cosines and norms
come from the block's K×K Gram matrix G_l = J_l J_lᵀ: ‖g_i^GV‖² = W_l,i G_l W_l,iᵀ and
g_i^GV·g_j = (W_l G_l)_ij. The procedure runs on the L×K×K stack of block Gramians in float64
on the CPU (one copy), and the rows are formed once per block at the end (J_l^GV = W_l J_l).
With one block (``granularity="whole"``) the direction is Jᵀw with w = 1ᵀW a function of G and
the EMA state only, so GradVac then also runs on the representation's Gramian
(``Trainer(..., jacobian_of="representation")``); per layer it needs the parameters' blocks.
:func:`gradvac_rows` is the row-space reference the tests compare against (same draws).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mtl_lib.aggregators.base import AGGREGATORS, Aggregation, GramianWeightedAggregator
from mtl_lib.core.jacobian import GRANULARITIES, parameter_blocks


def gradvac_mixing(
    grams: torch.Tensor, targets: torch.Tensor, beta: float, eps: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-block mixing matrices W (L, K, K) with corrected rows J_l^GV = W_l J_l, and the
    updated targets, from the block Gramians ``grams`` (L, K, K) alone; float64 CPU tensors.
    The arithmetic runs in NumPy: a few dozen operations on arrays of L entries per task pair,
    where each torch call would cost more than the work itself."""
    g = grams.numpy()
    num_blocks, num_tasks, _ = g.shape
    mixing = np.repeat(np.eye(num_tasks)[None], num_blocks, axis=0)
    t = targets.numpy().copy()
    original_norms = np.sqrt(np.clip(np.diagonal(g, axis1=1, axis2=2), 0.0, None))  # (L, K)
    for i in range(num_tasks):
        others = [j for j in range(num_tasks) if j != i]
        for position in torch.randperm(len(others), generator=generator).tolist():
            j = others[position]
            w = mixing[:, i, :]  # (L, K): the running g_i in each block
            gw = np.einsum("lkm,lm->lk", g, w)  # G_l w
            norm_i = np.sqrt(np.clip((w * gw).sum(1), 0.0, None))
            norm_j = original_norms[:, j]
            phi = gw[:, j] / (norm_i * norm_j + eps)
            target = t[:, i, j]
            root_phi = np.sqrt(np.clip(1.0 - phi * phi, 0.0, None))
            root_target = np.sqrt(np.clip(1.0 - target * target, 0.0, None))
            weight = norm_i * (target * root_phi - phi * root_target) / (norm_j * root_target + eps)
            mixing[:, i, j] += np.where(phi < target, weight, 0.0)
            t[:, i, j] = (1 - beta) * target + beta * phi
    return torch.from_numpy(mixing), torch.from_numpy(t)


def gradvac_rows(
    jacobian: torch.Tensor,
    index: torch.Tensor,
    targets: torch.Tensor,
    beta: float,
    eps: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-space GradVac (the textbook form, kept as the reference for the Gramian form):
    corrects full parameter-length rows; ``index`` is every column's block id. Returns the
    corrected rows and the updated targets; draws the same orders as :class:`GradVac`."""
    num_tasks = jacobian.shape[0]
    num_blocks = targets.shape[0]
    targets = targets.clone()

    def block_sum(values: torch.Tensor) -> torch.Tensor:
        return jacobian.new_zeros(num_blocks).index_add_(0, index, values)

    original_norms = torch.stack([block_sum(row.square()) for row in jacobian]).sqrt()  # (K, L)
    corrected = jacobian.clone()
    for i in range(num_tasks):
        others = [j for j in range(num_tasks) if j != i]
        for position in torch.randperm(len(others), generator=generator).tolist():
            j = others[position]
            row, other = corrected[i], jacobian[j]
            norm_i = block_sum(row.square()).sqrt()
            norm_j = original_norms[j]
            phi = block_sum(row * other) / (norm_i * norm_j + eps)
            target = targets[:, i, j]
            root_phi = (1 - phi.square()).clamp_min(0).sqrt()
            root_target = (1 - target.square()).clamp_min(0).sqrt()
            weight = norm_i * (target * root_phi - phi * root_target) / (norm_j * root_target + eps)
            weight = torch.where(phi < target, weight, torch.zeros_like(weight))
            corrected[i] = row + weight[index] * other
            targets[:, i, j] = (1 - beta) * target + beta * phi
    return corrected, targets


@AGGREGATORS.register("gradvac")
class GradVac(GramianWeightedAggregator):
    """Gradient Vaccine with per-block, per-pair EMA targets. Exposes the corrected rows."""

    exposes_task_gradients = True

    def __init__(
        self,
        beta: float = 0.01,
        granularity: str = "layer",
        eps: float = 1e-8,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {beta}")
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        if eps < 0:
            raise ValueError(f"eps must be non-negative, got {eps}")
        self.beta = beta
        self.granularity = granularity
        self.eps = eps
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.blocks: list[tuple[str, int, int]] | None = None
        #: φ̂, shape (L, K, K): entry [l, i, j] is the target similarity of g_i towards g_j in block l.
        self.targets: torch.Tensor | None = None

    def bind_shared_parameters(self, names: list[str], sizes: list[int]) -> None:
        self.blocks = parameter_blocks(names, sizes, self.granularity)
        self.targets = None

    def _blocks(self, num_params: int) -> list[tuple[str, int, int]]:
        blocks = self.blocks if self.blocks is not None else [("all", 0, num_params)]
        if blocks[-1][2] != num_params:
            raise ValueError(f"bound parameters have {blocks[-1][2]} entries, the Jacobian has {num_params} columns")
        return blocks

    def _state(self, num_blocks: int, num_tasks: int) -> torch.Tensor:
        if self.targets is None:
            return torch.zeros(num_blocks, num_tasks, num_tasks, dtype=torch.float64)
        if self.targets.shape != (num_blocks, num_tasks, num_tasks):
            raise ValueError(
                f"GradVac holds targets for {tuple(self.targets.shape)} (blocks, tasks, tasks) but got "
                f"{num_tasks} tasks and {num_blocks} blocks; call reset() to start afresh"
            )
        return self.targets.detach().to(device="cpu", dtype=torch.float64)

    def _mix(self, grams: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        grams = grams.detach().to(device="cpu", dtype=torch.float64)
        grams = 0.5 * (grams + grams.transpose(1, 2))
        targets = self._state(grams.shape[0], grams.shape[1])
        mixing, targets = gradvac_mixing(grams, targets, self.beta, self.eps, self.generator)
        self.targets = targets.to(dtype)
        return mixing

    def check_gram_only(self) -> None:
        """Raise unless the direction is a function of one Gram matrix (one block)."""
        if self.granularity != "whole":
            raise ValueError(
                f"GradVac(granularity={self.granularity!r}) corrects each parameter block with its "
                "own Gram matrix, which the representation's gradients do not have; use "
                "granularity='whole' with jacobian_of='representation', or jacobian_of='parameters'"
            )

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        self.check_gram_only()
        mixing = self._mix(gram.unsqueeze(0), gram.dtype)
        return mixing[0].sum(0).to(device=gram.device, dtype=gram.dtype)

    def aggregate(self, jacobian: torch.Tensor) -> Aggregation:
        num_tasks = jacobian.shape[0]
        # The correction of g_i towards g_j is invariant to g_j's scale and linear in g_i's, so
        # the rows are divided by their largest |entry| and scaled back at the end: products of
        # extreme norms (1e20 in float32) neither overflow nor underflow, and ``eps`` acts on
        # unit-scale rows whatever the scale of the losses.
        scales = jacobian.abs().amax(dim=1, keepdim=True) if jacobian.shape[1] else jacobian.new_ones(num_tasks, 1)
        scales = torch.where(scales > 0, scales, torch.ones_like(scales))
        unit = jacobian / scales
        blocks = self._blocks(jacobian.shape[1])
        grams = torch.stack([unit[:, a:b].double() @ unit[:, a:b].double().T for _, a, b in blocks])
        # _mix works on float64 copies and replaces the EMA targets only once it has succeeded
        mixing = self._mix(grams, jacobian.dtype).to(device=jacobian.device, dtype=jacobian.dtype)
        if len(blocks) == 1:
            corrected = mixing[0] @ unit
        else:
            corrected = torch.empty_like(unit)
            for block, (_, a, b) in enumerate(blocks):
                corrected[:, a:b] = mixing[block] @ unit[:, a:b]
        corrected = corrected * scales
        return Aggregation(direction=corrected.sum(0), task_gradients=corrected)

    def reset(self) -> None:
        self.generator.manual_seed(self.seed)
        self.targets = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "generator": self.generator.get_state(),
            "targets": None if self.targets is None else self.targets.clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = state["seed"]
        self.generator.set_state(state["generator"])
        self.targets = None if state["targets"] is None else state["targets"].clone()

    def __repr__(self) -> str:
        return f"GradVac(beta={self.beta}, granularity={self.granularity!r}, eps={self.eps}, seed={self.seed})"
