"""AdaTask's synthetic two-task regression problem (Yang et al., AAAI 2023, Eq. 1).

    y^k(x) = W_1^k x + W_2^k x² + W_3 x³ + ε,   k ∈ {A, B}, powers taken element-wise

with x ∈ R^250, y^k ∈ R^100, the entries of W_1^A, W_2^A drawn from N(1, 1), those of W_1^B,
W_2^B and the shared W_3 from N(10, 10), and ε ~ N(0, 0.1). Task B's own matrices are about
ten times task A's, so task B dominates the summed loss.

Choices the paper leaves open (ours, stated so they can be changed): the second argument of
N(·,·) is read as a variance; the inputs are drawn i.i.d. from U(-1, 1) (bounded, so the
cubic term stays finite); the matrices and the inputs come from one ``data_seed`` that is fixed
across training seeds, so that seeds vary the model and batch order, not the problem.

Raw targets reach the hundreds, which an adaptive optimizer at a usual learning rate (its step
is about ``lr`` per parameter whatever the gradient's size) needs tens of thousands of steps
to reach. ``common_scale=True`` (the default) therefore divides *every* task's targets by one
shared constant, the standard deviation of all training targets pooled: the ratio between the
tasks, and with it task B's dominance, is unchanged, and task-normalized RMSE does not depend
on it at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

TASK_NAMES = ("A", "B")
INPUT_DISTS = ("uniform", "normal")
SPREADS = ("variance", "std")
TARGET_SCALINGS = ("pooled", "per_task", "none")


@dataclass
class SyntheticRegression:
    """Train/test inputs and one target tensor per task, plus each task's target scale (the
    standard deviation of its training targets, used for task-normalized RMSE)."""

    x_train: torch.Tensor
    y_train: tuple[torch.Tensor, ...]
    x_test: torch.Tensor
    y_test: tuple[torch.Tensor, ...]
    target_scale: tuple[float, ...]
    task_names: tuple[str, ...] = TASK_NAMES
    #: Root mean square of each task's training targets (an alternative normaliser for RMSE).
    target_rms: tuple[float, ...] = ()


def make_synthetic_regression(
    n_train: int = 10_000,
    n_test: int = 2_000,
    *,
    data_seed: int = 0,
    input_dim: int = 250,
    output_dim: int = 100,
    noise_var: float = 0.1,
    dominant_mean: float = 10.0,
    dominant_var: float = 10.0,
    common_scale: bool = True,
    input_dist: str = "uniform",
    spread: str = "variance",
    target_scaling: str | None = None,
) -> SyntheticRegression:
    """Generate the problem deterministically from ``data_seed`` (CPU float32 tensors).

    The paper's open choices are options: ``input_dist`` ("uniform": U(-1, 1), "normal":
    N(0, 1)); ``spread`` ("variance" or "std": how the second argument of N(m, s) is read);
    ``target_scaling`` ("pooled": every task divided by one pooled std, the default when
    ``common_scale``; "per_task": each task by its own std; "none": raw targets).
    """
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be positive, got {n_train}, {n_test}")
    if input_dist not in INPUT_DISTS:
        raise ValueError(f"input_dist must be one of {INPUT_DISTS}, got {input_dist!r}")
    if spread not in SPREADS:
        raise ValueError(f"spread must be one of {SPREADS}, got {spread!r}")
    if target_scaling is None:
        target_scaling = "pooled" if common_scale else "none"
    if target_scaling not in TARGET_SCALINGS:
        raise ValueError(f"target_scaling must be one of {TARGET_SCALINGS}, got {target_scaling!r}")
    gen = torch.Generator().manual_seed(data_seed)

    def normal(mean: float, s: float) -> torch.Tensor:
        std = math.sqrt(s) if spread == "variance" else s
        return mean + std * torch.randn(output_dim, input_dim, generator=gen, dtype=torch.float64)

    w1 = {"A": normal(1.0, 1.0), "B": normal(dominant_mean, dominant_var)}
    w2 = {"A": normal(1.0, 1.0), "B": normal(dominant_mean, dominant_var)}
    w3 = normal(dominant_mean, dominant_var)

    def sample(n: int) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        if input_dist == "uniform":
            x = 2.0 * torch.rand(n, input_dim, generator=gen, dtype=torch.float64) - 1.0
        else:
            x = torch.randn(n, input_dim, generator=gen, dtype=torch.float64)
        ys = []
        for task in TASK_NAMES:
            noise = math.sqrt(noise_var) * torch.randn(n, output_dim, generator=gen, dtype=torch.float64)
            ys.append((x @ w1[task].T + (x**2) @ w2[task].T + (x**3) @ w3.T + noise).float())
        return x.float(), tuple(ys)

    x_train, y_train = sample(n_train)
    x_test, y_test = sample(n_test)
    if target_scaling == "pooled":
        pooled = float(torch.cat([y.flatten() for y in y_train]).std())
        y_train = tuple(y / pooled for y in y_train)
        y_test = tuple(y / pooled for y in y_test)
    elif target_scaling == "per_task":
        own = [float(y.std()) for y in y_train]
        y_train = tuple(y / s for y, s in zip(y_train, own))
        y_test = tuple(y / s for y, s in zip(y_test, own))
    scale = tuple(float(y.std()) for y in y_train)
    rms = tuple(float(y.pow(2).mean().sqrt()) for y in y_train)
    return SyntheticRegression(x_train, y_train, x_test, y_test, scale, target_rms=rms)
