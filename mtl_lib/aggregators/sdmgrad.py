"""SDMGrad: stochastic direction-oriented multi-objective gradient descent (Xiao, Ban & Ji,
"Direction-oriented Multi-objective Learning: Simple and Provable Stochastic Algorithms",
NeurIPS 2023; TorchJD's ``SDMGradWeighting``).

The direction stays close to a preferred one (the average gradient, weights w̃ = 1/K) while
improving the worst task; the simplex weights w are found by a few steps of momentum SGD on
½‖Jᵀ(w + λw̃)‖², warm-started from the previous training step:

    Â = A / (mean_k sqrt(A_kk))²                              (scale-free inner problem)
    repeat n_iter times:  v ← μ v + Â (w + λ w̃);   w ← Π_Δ(w − η v)      (v starts at the first
                                                                           gradient, μ = momentum)
    d = K · Jᵀ (w + λ w̃) / (1 + λ)

A is J₁J₂ᵀ from two independent mini-batches in the paper; the engine computes one Jacobian per
step, so here A = G = JJᵀ (as TorchJD's single-batch usage; see MoDo's note).

Defaults (TorchJD 0.18's, after the authors' experiments and LibMTL): ``lambda_ = 0.3``,
``lr = 10``, ``momentum = 0.5``, ``n_iter = 20``, w̃ uniform. Scale: the combined weights sum to
1 (TorchJD); ×K gives the library's sum scale, and d(sJ) = s·d(J) (``scale_equivariance = 1``).

Inner step size (a setting, not a bug): heavy-ball momentum SGD on a quadratic converges only for
lr·λ_max(Â) < 2(1 + μ) = 3, and Â has mean diagonal 1, so λ_max(Â) ≥ 1 and the authors' lr = 10
is always beyond it: the inner iterates bounce between the simplex's vertices instead of
converging. On the survey's gradient pair (λ_max(Â) = 1.69) w sticks at (0, 1) and the direction
conflicts with g₁ (⟨d, g₁⟩ = −0.258, 60.7° from EW); with ``lr=1`` (or 0.1 with 200
iterations) w = (0.232, 0.768), the minimiser, and d decreases both losses (⟨d, g_k⟩ = 1.509,
MGDA's direction here). The default stays the authors'; ``benchmarks/misbehaving.py sdmgrad``.

Normalisation (ours): TorchJD and the authors divide by mean² + 1e-8; that absolute 1e-8 makes
the inner problem vanish once gradient norms fall below ~1e-4 (Â → 0, so w never leaves its
start), so we only guard an exactly zero A (Â = 0). Identical wherever the 1e-8 is negligible.
"""

from __future__ import annotations

from typing import Any

import torch

from mtl_lib.aggregators.base import AGGREGATORS, GramianWeightedAggregator
from mtl_lib.aggregators.moco import project_to_simplex


@AGGREGATORS.register("sdmgrad")
class SDMGrad(GramianWeightedAggregator):
    """Warm-started inner momentum SGD on the simplex weights, pulled towards the mean direction."""

    def __init__(self, lambda_: float = 0.3, lr: float = 10.0, momentum: float = 0.5, n_iter: int = 20) -> None:
        if lambda_ < 0 or lr <= 0 or not 0 <= momentum < 1 or n_iter < 1:
            raise ValueError("need lambda_ >= 0, lr > 0, 0 <= momentum < 1 and n_iter >= 1")
        self.lambda_, self.lr, self.momentum, self.n_iter = lambda_, lr, momentum, n_iter
        self.reset()

    def reset(self) -> None:
        self.simplex_weights: torch.Tensor | None = None

    def weights_from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        k = gram.shape[0]
        w = self.simplex_weights
        if w is None or w.shape[0] != k:
            w = gram.new_full((k,), 1.0 / k)
        w = w.to(gram)
        preferred = gram.new_full((k,), 1.0 / k)
        a = gram.detach()
        size = float(a.diagonal().clamp(min=0.0).sqrt().mean()) ** 2
        a = a / size if size > 0 else torch.zeros_like(a)
        velocity = None
        for _ in range(self.n_iter):
            step = a @ (w + self.lambda_ * preferred)
            velocity = step if velocity is None else self.momentum * velocity + step
            w = project_to_simplex(w - self.lr * velocity)
        self.simplex_weights = w
        return k * (w + self.lambda_ * preferred) / (1.0 + self.lambda_)

    def state_dict(self) -> dict[str, Any]:
        return {"simplex_weights": self.simplex_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.simplex_weights = state["simplex_weights"]

    def __repr__(self) -> str:
        return f"SDMGrad(lambda_={self.lambda_}, lr={self.lr}, momentum={self.momentum}, n_iter={self.n_iter})"
