"""What the survey claim modules share: float64, the tolerance of "equal", number formatting,
the slope of a weighting's objective in each loss, and the claims table."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from mtl_lib.problems.toy import toy_objectives
from mtl_lib.studies._common import Claim

#: Relative tolerance of "equal" in float64 computations.
TOL = 1e-9
DTYPE = torch.float64


def close(a: torch.Tensor | float, b: torch.Tensor | float, tol: float = TOL) -> bool:
    """Every entry of ``a`` equals ``b``'s to a relative ``tol`` (absolute below magnitude 1)."""
    a, b = torch.as_tensor(a, dtype=DTYPE), torch.as_tensor(b, dtype=DTYPE)
    return bool(((a - b).abs() <= tol * torch.maximum(a.abs(), b.abs()).clamp_min(1.0)).all())


def fmt(values: torch.Tensor | Sequence[float], digits: int = 4) -> str:
    """``(1, 0.25, 0.0625)``: a vector in a claim's text."""
    return "(" + ", ".join(f"{float(v):.{digits}g}" for v in values) + ")"


def weight_slopes(weighting: torch.nn.Module, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The objective Σ terms at ``losses`` and its slope in each loss (the weight a task gets)."""
    losses = losses.clone().requires_grad_(True)
    objective = weighting(losses).sum()
    (slopes,) = torch.autograd.grad(objective, losses)
    return objective.detach(), slopes


def toy_gradients(theta: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """The CAGrad toy problem's objectives at ``theta`` and their gradients (one row per task)."""
    point = torch.tensor(list(theta), dtype=DTYPE, requires_grad=True)
    values = toy_objectives(point)
    rows = [torch.autograd.grad(values[k], point, retain_graph=True)[0] for k in range(values.numel())]
    return values.detach(), torch.stack(rows)


def claims_table(claims: Sequence[Claim]) -> pd.DataFrame:
    """The claims as a table numbered from 1: claim, paper, ours, verdict, test."""
    frame = pd.DataFrame(
        [{"claim": c.claim, "paper": c.paper, "ours": c.ours, "verdict": c.verdict, "test": c.test} for c in claims],
        columns=["claim", "paper", "ours", "verdict", "test"],
    )
    frame.index = range(1, len(frame) + 1)
    return frame


__all__ = ["DTYPE", "TOL", "claims_table", "close", "fmt", "toy_gradients", "weight_slopes"]
