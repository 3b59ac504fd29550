"""Minimal reproductions of the anomalies that need no training (seconds each): each returns a
table of numbers, on this library and, where it has the method, on TorchJD 0.18 (the peer whose
forms several of ours followed) on the same input."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import torch

from mtl_lib.aggregators import IMTLG, MGDA, PCD, CAGrad, DualProj, ExcessMTL, SDMGrad, UPGrad
from mtl_lib.problems.gradient_pair import GRADIENT_PAIR
from mtl_lib.problems.toy import CAGRAD_STARTS, PARETO_X2, toy_objectives


def torchjd() -> Any:
    """TorchJD's aggregation module, or None where it is not installed (it is a test dependency)."""
    try:
        import torchjd.aggregation as tj
    except ImportError:  # pragma: no cover - the project's test extra installs it
        return None
    return tj


def excess_weights() -> pd.DataFrame:
    """ExcessMTL on a pair whose second gradient is 10× the first: the smaller weight after 1, 2
    and 5 steps, ours and TorchJD 0.18's default (the form ours had before the fix)."""
    gen = torch.Generator().manual_seed(0)
    tj, rows = torchjd(), []
    for dtype in (torch.float64, torch.float32):
        jac = torch.randn(2, 500, generator=gen, dtype=dtype) * torch.tensor([[1.0], [10.0]], dtype=dtype)
        ours, theirs = ExcessMTL(), None if tj is None else tj.ExcessMTLWeighting()
        for step in (1, 2, 5):
            while getattr(ours, "steps", 0) < step:
                weights = ours(jac).weights / 2
                their = None if theirs is None else theirs(jac)
            rows.append({"dtype": str(dtype)[6:], "step": step, "smaller weight, ours": float(weights.min()),
                         "smaller weight, TorchJD 0.18": math.nan if their is None else float(their.min())})  # fmt: skip
    return pd.DataFrame(rows)


def _pcd_change(eps: float, factor: float) -> float:
    gen = torch.Generator().manual_seed(0)
    jac = torch.randn(3, 30, generator=gen, dtype=torch.float64)
    jac[1] = -0.9 * jac[0] + 0.3 * jac[1]
    rescaled = jac.clone()
    rescaled[1] *= factor
    base, other = PCD(eps=eps)(jac).direction, PCD(eps=eps)(rescaled).direction
    return float((other - base).norm() / base.norm())


def pcd_rescaling(factors: Sequence[float] = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)) -> pd.DataFrame:
    """PCD's relative direction change when one secondary task is rescaled by c, with the old
    ε = 1e-8 (relative to the largest task) and the current default."""
    default = PCD().eps
    return pd.DataFrame(
        [
            {"c": c, "old ε = 1e-8": _pcd_change(1e-8, c), f"current ε = {default:g}": _pcd_change(default, c)}
            for c in factors
        ]  # fmt: skip
    )


def spread_jacobians(dtype: torch.dtype, count: int = 100) -> list[torch.Tensor]:
    """``count`` random full-rank 3 × 20 Jacobians with row norms 1, 0.1 and 0.01."""
    gen = torch.Generator().manual_seed(0)
    scale = torch.tensor([1.0, 0.1, 0.01], dtype=torch.float64)[:, None]
    out = []
    for _ in range(count):
        jac = torch.randn(3, 20, generator=gen, dtype=torch.float64)
        out.append((jac / jac.norm(dim=1, keepdim=True) * scale).to(dtype))
    return out


def worst_cosine(aggregate: Callable[[torch.Tensor], torch.Tensor], jacobians: Sequence[torch.Tensor]) -> float:
    """min over the Jacobians and tasks of cos(g_k, d)."""
    worst = 1.0
    for jac in jacobians:
        d, rows = aggregate(jac).double(), jac.double()
        worst = min(worst, float(((rows @ d) / (rows.norm(dim=1) * d.norm())).min()))
    return worst


def dual_cone_conflict() -> pd.DataFrame:
    """min_k cos(g_k, d) of UPGrad and DualProj over 100 Jacobians with norms 1 / 0.1 / 0.01:
    the default per-task ridge, TorchJD's trace ridge, no ridge, and TorchJD 0.18 itself."""
    tj, rows = torchjd(), []
    for cls in (UPGrad, DualProj):
        for dtype in (torch.float64, torch.float32):
            jacs = spread_jacobians(dtype)
            rows.append({
                "method": cls.__name__, "dtype": str(dtype)[6:],
                "ours (per-task ridge, default)": worst_cosine(lambda j, c=cls: c()(j).direction, jacs),
                "ours, TorchJD's trace ridge": worst_cosine(lambda j, c=cls: c(regularisation="trace")(j).direction, jacs),
                "ours, no ridge": worst_cosine(lambda j, c=cls: c(reg_eps=0.0)(j).direction, jacs),
                "TorchJD 0.18": math.nan if tj is None else worst_cosine(getattr(tj, cls.__name__)(), jacs),
            })  # fmt: skip
    return pd.DataFrame(rows)


def imtl_g_projections() -> pd.DataFrame:
    """IMTL-G on a K = 3 Jacobian whose Σv is negative once task 3 is rescaled by 0.1: the
    direction's projections on the unit task gradients (equal and positive is the method)."""
    from mtl_lib.studies.method_properties import conflicting_jacobians

    jac = conflicting_jacobians(10)[14].clone()
    jac[2] *= 0.1
    units = jac / jac.norm(dim=1, keepdim=True)
    rows = {"ours (divides by |Σv|)": (units @ IMTLG()(jac).direction).tolist()}
    tj = torchjd()
    if tj is not None:
        rows["TorchJD 0.18 (Σα = 1)"] = (units @ tj.IMTLG()(jac)).tolist()
    return pd.DataFrame(rows, index=[f"task {k + 1}" for k in range(3)]).T


def _pair_summary(direction: torch.Tensor) -> dict[str, float]:
    ew = GRADIENT_PAIR.sum(0)
    angle = math.degrees(math.acos(float(direction @ ew / (direction.norm() * ew.norm()))))
    return {"⟨d,g1⟩": float(direction @ GRADIENT_PAIR[0]), "⟨d,g2⟩": float(direction @ GRADIENT_PAIR[1]),
            "angle to EW (°)": angle}  # fmt: skip


def sdmgrad_pair() -> tuple[pd.DataFrame, dict[str, float]]:
    """SDMGrad's inner momentum SGD on the survey's gradient pair (200 warm-started steps) at
    the authors' lr = 10 and at smaller rates, next to MGDA; and the stability bound on lr."""
    gram = GRADIENT_PAIR @ GRADIENT_PAIR.T
    normalised = gram / float(gram.diagonal().sqrt().mean()) ** 2
    top = float(torch.linalg.eigvalsh(normalised).max())
    rows = []
    for options in ({}, {"lr": 1.0}, {"lr": 0.1, "n_iter": 200}):
        aggregator = SDMGrad(**options)
        for _ in range(200):
            direction = aggregator(GRADIENT_PAIR).direction
        weights = aggregator.simplex_weights.tolist()
        rows.append({"setting": f"SDMGrad {options or '(authors: lr = 10)'}", "w1": weights[0], "w2": weights[1],
                     **_pair_summary(direction)})  # fmt: skip
    rows.append({"setting": "MGDA", "w1": math.nan, "w2": math.nan, **_pair_summary(MGDA()(GRADIENT_PAIR).direction)})
    # heavy ball with momentum μ = 0.5 is stable for lr·λ_max < 2(1 + μ) = 3
    return pd.DataFrame(rows).set_index("setting"), {"lambda_max": top, "largest stable lr": 3 / top}


def cagrad_toy_distance(start: Sequence[float], c: float, lr: float, steps: int, rescale: int) -> float:
    """CAGrad with Adam on its toy from ``start``: distance of the end point to the Pareto set."""
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer, aggregator = torch.optim.Adam([x], lr=lr), CAGrad(c=c, rescale=rescale)
    for _ in range(steps):
        f = toy_objectives(x)
        jac = torch.stack([torch.autograd.grad(f[k], x, retain_graph=k == 0)[0] for k in range(2)])
        optimizer.zero_grad()
        x.grad = aggregator(jac).direction
        optimizer.step()
    x1, x2 = (float(v) for v in x.detach())
    return math.hypot(max(abs(x1) - 7.0, 0.0), x2 - PARETO_X2)


#: (c, Adam lr, steps, rescale): the book's toy budget, then one change at a time.
CAGRAD_SETTINGS = ((0.4, 5e-2, 800, 1), (0.5, 5e-2, 800, 2), (0.4, 5e-2, 2000, 1), (0.5, 1e-2, 10_000, 2))
#: The authors' toy settings (github.com/Cranial-XIX/CAGrad, toy.py): 100,000 steps per start.
CAGRAD_OFFICIAL = (0.5, 1e-3, 100_000, 2)


def cagrad_toy(settings: Sequence[tuple[float, float, int, int]] = CAGRAD_SETTINGS,
               starts: Sequence[Sequence[float]] = (CAGRAD_STARTS[0], CAGRAD_STARTS[2])) -> pd.DataFrame:  # fmt: skip
    """Distance to the Pareto set per start and setting, with the wall time of each run."""
    rows = []
    for start in starts:
        for c, lr, steps, rescale in settings:
            began = time.perf_counter()
            distance = cagrad_toy_distance(start, c, lr, steps, rescale)
            rows.append({"start": tuple(start), "c": c, "Adam lr": lr, "steps": steps, "rescale": rescale,
                         "distance to Pareto set": distance, "wall s": time.perf_counter() - began})  # fmt: skip
    return pd.DataFrame(rows)


def torchjd_properties() -> dict[str, float]:
    """TorchJD 0.18's UPGrad, DualProj and IMTLG (ours before the fixes) on the properties
    table's Jacobians: worst cos(g_k, d), and IMTLG's worst cos(d', d) under rescaling."""
    from mtl_lib.studies.method_properties import _rescaling_cosine, _worst_cosine, conflicting_jacobians

    tj = torchjd()
    if tj is None:
        return {}
    jacobians = conflicting_jacobians(10)
    out = {name: _worst_cosine(lambda j, _, n=name: getattr(tj, n)()(j), jacobians) for name in ("UPGrad", "DualProj")}
    out["IMTLG rescaling"] = _rescaling_cosine(lambda j, _: tj.IMTLG()(j), jacobians)
    return out


__all__ = [
    "CAGRAD_OFFICIAL", "CAGRAD_SETTINGS", "cagrad_toy", "cagrad_toy_distance", "dual_cone_conflict",
    "excess_weights", "imtl_g_projections", "pcd_rescaling", "sdmgrad_pair", "spread_jacobians", "torchjd",
    "torchjd_properties", "worst_cosine",
]  # fmt: skip
