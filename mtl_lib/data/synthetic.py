"""AdaTask's synthetic two-task regression problem (Yang et al., AAAI 2023, Eq. 1).

    y^k(x) = W_1^k x + W_2^k x² + W_3 x³ + ε,   k ∈ {A, B}, powers taken element-wise

with x ∈ R^250, y^k ∈ R^100, the entries of W_1^A, W_2^A drawn from N(1, 1), those of W_1^B,
W_2^B and the shared W_3 from N(10, 10), and ε ~ N(0, 0.1). Task B's own matrices are about
ten times task A's, so task B dominates the summed loss.

Choices the paper leaves open (ours, stated so they can be changed): the second argument of
N(·,·) is read as a variance (``spread`` for the matrices, ``noise_spread`` for ε); the inputs
are drawn i.i.d. from U(-1, 1) (bounded, so the cubic term stays finite); the matrices and the
inputs come from one ``data_seed`` that is fixed across training seeds, so that seeds vary the
model and batch order, not the problem. AdaTask says its data follow GradNorm's toy example
(Chen et al., ICML 2018, §4), whose public ports draw x from U(-1, 1) and divide it by its L2
norm (brianlan/pytorch-grad-norm, ``dataset.py``) or draw it from U(0, 1) unnormalised
(LucasBoTang/GradNorm ``data.py``, jpcastillog/GradNorm-Keras): ``input_dist`` offers both.
:attr:`SyntheticRegression.draw` samples fresh training data from the same matrices (the
brianlan port draws new samples at every step).

Raw targets reach the hundreds, which an adaptive optimizer at a usual learning rate (its step
is about ``lr`` per parameter whatever the gradient's size) needs tens of thousands of steps
to reach. ``common_scale=True`` (the default) therefore divides *every* task's targets by one
shared constant, the standard deviation of all training targets pooled: the ratio between the
tasks, and with it task B's dominance, is unchanged, and task-normalized RMSE does not depend
on it at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

TASK_NAMES = ("A", "B")
#: "uniform": U(-1, 1); "normal": N(0, 1); "uniform_unit_norm": U(-1, 1) divided by its L2 norm;
#: "uniform01": U(0, 1) (see the module docstring for the GradNorm ports behind the last two).
INPUT_DISTS = ("uniform", "normal", "uniform_unit_norm", "uniform01")
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
    #: ``draw(n, generator)``: ``n`` fresh samples (x, targets) of the same problem, scaled as the
    #: training targets are (for training on fresh samples at every step).
    draw: Callable[[int, torch.Generator], tuple[torch.Tensor, tuple[torch.Tensor, ...]]] | None = None


def _check_choices(**choices: tuple[str, tuple[str, ...]]) -> None:
    for name, (value, valid) in choices.items():
        if value not in valid:
            raise ValueError(f"{name} must be one of {valid}, got {value!r}")


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
    noise_spread: str = "variance",
) -> SyntheticRegression:
    """Generate the problem deterministically from ``data_seed`` (CPU float32 tensors).

    The paper's open choices are options: ``input_dist`` ("uniform": U(-1, 1), "normal":
    N(0, 1)); ``spread`` ("variance" or "std": how the second argument of N(m, s) is read);
    ``target_scaling`` ("pooled": every task divided by one pooled std, the default when
    ``common_scale``; "per_task": each task by its own std; "none": raw targets).
    """
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be positive, got {n_train}, {n_test}")
    if target_scaling is None:
        target_scaling = "pooled" if common_scale else "none"
    _check_choices(input_dist=(input_dist, INPUT_DISTS), spread=(spread, SPREADS),
                   noise_spread=(noise_spread, SPREADS), target_scaling=(target_scaling, TARGET_SCALINGS))  # fmt: skip
    gen = torch.Generator().manual_seed(data_seed)

    def normal(mean: float, s: float) -> torch.Tensor:
        std = math.sqrt(s) if spread == "variance" else s
        return mean + std * torch.randn(output_dim, input_dim, generator=gen, dtype=torch.float64)

    w1 = {"A": normal(1.0, 1.0), "B": normal(dominant_mean, dominant_var)}
    w2 = {"A": normal(1.0, 1.0), "B": normal(dominant_mean, dominant_var)}
    w3 = normal(dominant_mean, dominant_var)

    noise_std = math.sqrt(noise_var) if noise_spread == "variance" else noise_var

    def sample(n: int, gen: torch.Generator = gen) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        if input_dist == "normal":
            x = torch.randn(n, input_dim, generator=gen, dtype=torch.float64)
        elif input_dist == "uniform01":
            x = torch.rand(n, input_dim, generator=gen, dtype=torch.float64)
        else:
            x = 2.0 * torch.rand(n, input_dim, generator=gen, dtype=torch.float64) - 1.0
            if input_dist == "uniform_unit_norm":
                x = x / x.norm(dim=1, keepdim=True)
        ys = []
        for task in TASK_NAMES:
            noise = noise_std * torch.randn(n, output_dim, generator=gen, dtype=torch.float64)
            ys.append((x @ w1[task].T + (x**2) @ w2[task].T + (x**3) @ w3.T + noise).float())
        return x.float(), tuple(ys)

    x_train, y_train = sample(n_train)
    x_test, y_test = sample(n_test)
    if target_scaling == "pooled":
        pooled = float(torch.cat([y.flatten() for y in y_train]).std())
        divisors = [pooled] * len(y_train)
    elif target_scaling == "per_task":
        divisors = [float(y.std()) for y in y_train]
    else:
        divisors = [1.0] * len(y_train)
    y_train = tuple(y / d for y, d in zip(y_train, divisors))
    y_test = tuple(y / d for y, d in zip(y_test, divisors))
    scale = tuple(float(y.std()) for y in y_train)
    rms = tuple(float(y.pow(2).mean().sqrt()) for y in y_train)

    def draw(n: int, generator: torch.Generator) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        x, ys = sample(n, generator)
        return x, tuple(y / d for y, d in zip(ys, divisors))

    return SyntheticRegression(x_train, y_train, x_test, y_test, scale, target_rms=rms, draw=draw)
