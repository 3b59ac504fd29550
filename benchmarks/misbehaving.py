"""The numbers of the book's "When a method misbehaves" page (book/survey/misbehaving.md), issue 24.

Each section is a minimal reproduction of one anomaly, run on this library (and, where it has
the method, TorchJD 0.18 on the same input). Most sections take seconds. The slow ones:
``cagrad --official`` adds CAGrad's own toy settings (100,000 Adam steps per start: 560 s for one
start on the shared 2-core machine); ``properties`` trains every method on the toy (about 14 min
there, under load); ``gradnorm`` and ``multidigits`` train at ``--profile`` (quick: minutes).

    PYTHONPATH=. python benchmarks/misbehaving.py [SECTION ...] [--official] [--profile smoke]

Sections: excess pcd dualcone imtl_g sdmgrad cagrad torchjd_properties gradnorm multidigits
properties. Default: all but gradnorm and multidigits.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import torch

from mtl_lib.aggregators import IMTLG, MGDA, PCD, CAGrad, DualProj, ExcessMTL, SDMGrad, UPGrad
from mtl_lib.problems.gradient_pair import GRADIENT_PAIR
from mtl_lib.problems.toy import CAGRAD_STARTS, PARETO_X2, toy_objectives


def _torchjd():
    try:
        import torchjd.aggregation as tj
    except ImportError:  # pragma: no cover - the project installs it
        return None
    return tj


def section_excess() -> None:
    """ExcessMTL's baseline step on a pair whose second gradient is 10× the first."""
    gen = torch.Generator().manual_seed(0)
    tj = _torchjd()
    print("| dtype | step | smaller weight, ours | smaller weight, TorchJD 0.18 default |")
    for dtype in (torch.float64, torch.float32):
        jac = torch.randn(2, 500, generator=gen, dtype=dtype) * torch.tensor([[1.0], [10.0]], dtype=dtype)
        ours, theirs = ExcessMTL(), None if tj is None else tj.ExcessMTLWeighting()
        for step in (1, 2, 5):
            while getattr(ours, "steps", 0) < step:
                weights = ours(jac).weights / 2
                their = None if theirs is None else theirs(jac)
            theirs_min = "n/a" if their is None else f"{float(their.min()):.3g}"
            print(f"| {str(dtype)[6:]} | {step} | {float(weights.min()):.3g} | {theirs_min} |")


def _pcd_change(eps: float, factor: float) -> float:
    gen = torch.Generator().manual_seed(0)
    jac = torch.randn(3, 30, generator=gen, dtype=torch.float64)
    jac[1] = -0.9 * jac[0] + 0.3 * jac[1]
    rescaled = jac.clone()
    rescaled[1] *= factor
    base, other = PCD(eps=eps)(jac).direction, PCD(eps=eps)(rescaled).direction
    return float((other - base).norm() / base.norm())


def section_pcd() -> None:
    """PCD's direction change when one secondary task is rescaled by c."""
    print("| c | ε = 1e-8 (old default) | ε = 1e-60 (new default) |")
    for factor in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6):
        print(f"| {factor:g} | {_pcd_change(1e-8, factor):.2e} | {_pcd_change(1e-60, factor):.2e} |")


def spread_jacobians(dtype: torch.dtype, count: int = 100) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    scale = torch.tensor([1.0, 0.1, 0.01], dtype=torch.float64)[:, None]
    out = []
    for _ in range(count):
        jac = torch.randn(3, 20, generator=gen, dtype=torch.float64)
        out.append((jac / jac.norm(dim=1, keepdim=True) * scale).to(dtype))
    return out


def worst_cosine(aggregate, jacobians) -> float:
    worst = 1.0
    for jac in jacobians:
        d, rows = aggregate(jac).double(), jac.double()
        worst = min(worst, float(((rows @ d) / (rows.norm(dim=1) * d.norm())).min()))
    return worst


def section_dualcone() -> None:
    """min_k cos(g_k, d) over 100 random full-rank Jacobians, norms 1 / 0.1 / 0.01."""
    tj = _torchjd()
    print("| method | dtype | ours (per-task ridge, default) | ours, TorchJD's ridge | ours, no ridge | TorchJD 0.18 |")
    for cls in (UPGrad, DualProj):
        for dtype in (torch.float64, torch.float32):
            jacs = spread_jacobians(dtype)
            cells = [
                worst_cosine(lambda j, cls=cls: cls()(j).direction, jacs),
                worst_cosine(lambda j, cls=cls: cls(regularisation="trace")(j).direction, jacs),
                worst_cosine(lambda j, cls=cls: cls(reg_eps=0.0)(j).direction, jacs),
                float("nan") if tj is None else worst_cosine(getattr(tj, cls.__name__)(), jacs),
            ]
            print(f"| {cls.__name__} | {str(dtype)[6:]} | " + " | ".join(f"{c:+.4f}" for c in cells) + " |")


def section_imtl_g() -> None:
    """IMTL-G on a K = 3 Jacobian whose weights' sum v is negative once task 3 is rescaled by 0.1."""
    from mtl_lib.studies.method_properties import conflicting_jacobians

    jac = conflicting_jacobians(10)[14].clone()
    jac[2] *= 0.1
    units = jac / jac.norm(dim=1, keepdim=True)
    ours = units @ IMTLG()(jac).direction
    print(f"ours (|Σv|): projections on the unit gradients {[round(v, 4) for v in ours.tolist()]}")
    tj = _torchjd()
    if tj is not None:
        theirs = units @ tj.IMTLG()(jac)
        print(f"TorchJD 0.18 IMTLG (Σα = 1): {[round(v, 4) for v in theirs.tolist()]}")


def _pair_summary(direction: torch.Tensor) -> str:
    ew = GRADIENT_PAIR.sum(0)
    angle = math.degrees(math.acos(float(direction @ ew / (direction.norm() * ew.norm()))))
    return f"⟨d,g1⟩ = {float(direction @ GRADIENT_PAIR[0]):+.3f}, ⟨d,g2⟩ = {float(direction @ GRADIENT_PAIR[1]):+.3f}, {angle:.1f}° from EW"


def section_sdmgrad() -> None:
    """SDMGrad's inner momentum SGD on the survey's gradient pair, 200 warm-started steps."""
    gram = GRADIENT_PAIR @ GRADIENT_PAIR.T
    normalised = gram / float(gram.diagonal().sqrt().mean()) ** 2
    top = float(torch.linalg.eigvalsh(normalised).max())
    print(f"λ_max(Â) = {top:.3f}; heavy-ball (μ = 0.5) is stable for lr·λ_max < 2(1 + μ) = 3, i.e. lr < {3 / top:.2f}")
    for options in ({}, {"lr": 1.0}, {"lr": 0.1, "n_iter": 200}):
        aggregator = SDMGrad(**options)
        for _ in range(200):
            direction = aggregator(GRADIENT_PAIR).direction
        print(
            f"| SDMGrad {options or '(default lr = 10)'} | w = {[round(v, 3) for v in aggregator.simplex_weights.tolist()]} | {_pair_summary(direction)} |"
        )
    print(f"| MGDA | | {_pair_summary(MGDA()(GRADIENT_PAIR).direction)} |")


def _toy_distance(start, c: float, lr: float, steps: int, rescale: int) -> float:
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


def section_cagrad(official: bool) -> None:
    """CAGrad on its own toy: distance of the end point to the Pareto set (Adam, as the authors)."""
    settings = [(0.4, 5e-2, 800, 1), (0.5, 5e-2, 800, 2), (0.4, 5e-2, 2000, 1), (0.5, 1e-2, 10_000, 2)]
    if official:
        settings.append((0.5, 1e-3, 100_000, 2))  # github.com/Cranial-XIX/CAGrad toy.py
    print("| start | c | Adam lr | steps | rescale | distance to Pareto set | wall s |")
    for start in (CAGRAD_STARTS[0], CAGRAD_STARTS[2]):
        for c, lr, steps, rescale in settings:
            began = time.perf_counter()
            distance = _toy_distance(start, c, lr, steps, rescale)
            print(
                f"| {start} | {c} | {lr:g} | {steps} | {rescale} | {distance:.3f} | {time.perf_counter() - began:.0f} |",
                flush=True,
            )


def section_gradnorm(profile: str) -> None:
    """rAU(B) bucket shares of the shared parameters under GradNorm at two α, and EW."""
    from mtl_lib.experiments import run
    from mtl_lib.studies.adatask_rau.buckets import bucket_frame, bucket_table
    from mtl_lib.studies.adatask_rau.config import run_config

    records = []
    for label, options in (("GradNorm α = 1.5 (default)", {}), ("GradNorm α = 0.12", {"alpha": 0.12})):
        config = dataclasses.replace(
            run_config(profile, "GradNorm", 0, "cpu", ("rau",)), weighting_kwargs=options, label=label
        )
        records.append(run(config))
    records.append(run(run_config(profile, "EqualWeight", 0, "cpu", ("rau",))))
    print(bucket_table(bucket_frame(records)).round(1).to_markdown())


#: MultiDigits variants: (label, RunConfig ingredients, learning rate or None for the profile's).
DIGIT_VARIANTS = (
    ("EW", {"weighting": "ew"}, None),
    ("MoCo (defaults)", {"aggregator": "moco"}, None),
    ("MoCo, LibMTL's loss normalisation", {"aggregator": "moco", "aggregator_kwargs": {"normalization": "loss"}}, None),
    ("MoCo, no tracking decay (β_σ = 0)", {"aggregator": "moco", "aggregator_kwargs": {"beta_sigma": 0.0}}, None),
    ("MoCo, lr 3e-3", {"aggregator": "moco"}, 3e-3),
    ("DB-MTL (defaults)", {"aggregator": "db_mtl"}, None),
    ("DB-MTL, lr 3e-3", {"aggregator": "db_mtl"}, 3e-3),
    ("DB-MTL, β = 0 (no gradient EMA)", {"aggregator": "db_mtl", "aggregator_kwargs": {"beta": 0.0}}, None),
)


def section_multidigits(profile: str, seeds: int = 3) -> None:
    """MoCo and DB-MTL on MultiDigits (test split) next to EW, with their variants: mean left /
    right accuracy over ``seeds`` seeds (and the spread, min-max)."""
    from mtl_lib.experiments import run
    from mtl_lib.studies.multidigits.config import Method, _config

    print("| variant | Adam lr | left acc, mean (min-max) | right acc, mean (min-max) | wall s |")
    for label, ingredients, lr in DIGIT_VARIANTS:
        began, scores = time.perf_counter(), {"left/acc": [], "right/acc": []}
        for seed in range(seeds):
            config = _config(profile, Method(label, label, "aggregator", ingredients), seed, "cpu", lr=lr)
            record = run(config)
            for key in scores:
                scores[key].append(float(record["final"][key]))
        cells = [f"{sum(v) / len(v):.3f} ({min(v):.3f}-{max(v):.3f})" for v in scores.values()]
        print(f"| {label} | {config.lr:g} | {cells[0]} | {cells[1]} | {time.perf_counter() - began:.0f} |", flush=True)


def section_torchjd_properties() -> None:
    """TorchJD 0.18's UPGrad, DualProj and IMTLG (the library's forms before this page's fixes) on
    the properties table's Jacobians."""
    from mtl_lib.studies.method_properties import _rescaling_cosine, _worst_cosine, conflicting_jacobians

    tj = _torchjd()
    if tj is None:
        print("TorchJD is not installed")
        return
    jacobians = conflicting_jacobians(10)
    for name in ("UPGrad", "DualProj"):
        print(
            f"TorchJD {name}: worst cos(g_k, d) = {_worst_cosine(lambda j, _, n=name: getattr(tj, n)()(j), jacobians):+.4f}"
        )
    print(
        f"TorchJD IMTLG: rescaling worst cos(d', d) = {_rescaling_cosine(lambda j, _: tj.IMTLG()(j), jacobians):+.4f}"
    )


def section_properties() -> None:
    """How many paper claims the properties table confirms (toy at the survey's quick size)."""
    from mtl_lib.studies.method_properties import claims_summary, method_properties

    table = method_properties()  # toy at the survey's quick budget
    verdicts = [
        "non-conflicting",
        "invariant to rescaling one task",
        "permutation invariant",
        "reaches the Pareto set (toy)",
    ]
    print(table[verdicts + ["toy: distance to Pareto set"]].round(3).to_markdown())
    summary = claims_summary(table)
    print(summary.drop(columns="source").to_markdown(index=False))
    measured = summary[summary.agrees.notna()]
    print(f"\nconfirmed {int(measured.agrees.sum())} of {len(measured)} measurable claims ({len(summary)} claims)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*")
    parser.add_argument("--official", action="store_true", help="add CAGrad's own toy settings (slow)")
    parser.add_argument("--profile", default="smoke", help="profile of the gradnorm and multidigits sections")
    args = parser.parse_args()
    torch.set_num_threads(1)
    quick = ["excess", "pcd", "dualcone", "imtl_g", "sdmgrad", "cagrad", "torchjd_properties", "properties"]
    chosen = args.sections or quick
    for name in chosen:
        print(f"\n## {name}\n")
        if name == "cagrad":
            section_cagrad(args.official)
        elif name == "gradnorm":
            section_gradnorm(args.profile)
        elif name == "multidigits":
            section_multidigits(args.profile)
        else:
            globals()[f"section_{name}"]()


if __name__ == "__main__":
    main()
