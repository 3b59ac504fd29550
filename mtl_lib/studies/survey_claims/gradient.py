"""The gradient-balancing side claims of the survey slides, each an exact computation on the
library's aggregator (built from :data:`mtl_lib.AGGREGATORS`, float64 inputs)."""

from __future__ import annotations

import math

import torch

from mtl_lib.aggregators import AGGREGATORS
from mtl_lib.diagnostics.conflict import gradient_cosine, magnitude_similarity
from mtl_lib.studies._common import Claim
from mtl_lib.studies.survey_claims.common import DTYPE, close, fmt

#: Three task gradients with unequal norms and mixed angles (rows), used where the slides speak of
#: gradients in general.
MIXED = torch.tensor([[2.0, 0.5, 0.1], [-0.6, 1.0, 0.3], [0.2, 0.1, 3.0]], dtype=DTYPE)


def _nash(jacobian: torch.Tensor) -> torch.Tensor:
    """Nash-MTL's bargaining weights α, unclipped (max_norm = 0 turns the authors' clipping off)."""
    return AGGREGATORS.build("nash_mtl", max_norm=0.0)(jacobian).weights


def nash_claims() -> list[Claim]:
    """Nash-MTL: orthogonal gradients, the bargaining equation, the sign of the interaction."""
    orthogonal = torch.diag(torch.tensor([3.0, 0.5, 20.0], dtype=DTYPE))
    norms = orthogonal.norm(dim=1)
    out = AGGREGATORS.build("nash_mtl", max_norm=0.0)(orthogonal)
    unit_sum = (orthogonal / norms[:, None]).sum(0)
    alpha = _nash(MIXED)
    gains = MIXED @ (MIXED.T @ alpha)
    g1 = torch.tensor([1.0, 0.0], dtype=DTYPE)
    hamper = _nash(torch.stack([g1, torch.tensor([-0.5, 1.0], dtype=DTYPE)]))[0]
    aid = _nash(torch.stack([g1, torch.tensor([0.5, 1.0], dtype=DTYPE)]))[0]
    rescaled = MIXED * torch.tensor([[10.0], [1.0], [0.01]], dtype=DTYPE)
    directions = [AGGREGATORS.build("nash_mtl", max_norm=0.0)(j).direction for j in (MIXED, rescaled)]
    return [
        Claim.check(
            "Survey, Nash-MTL: for mutually orthogonal gradients the weights are α_i = 1/‖g_i‖ and the update "
            "is the sum of the unit gradients, Σ g_i/‖g_i‖ (the authors' clipping of the update turned off, "
            "max_norm = 0, here and below).",
            "'if all g_i are orthogonal we get α_i = 1/‖g_i‖ and Δθ = Σ g_i/‖g_i‖'",
            f"norms {fmt(norms)} → α {fmt(out.weights)}, update {fmt(out.direction)}",
            close(out.weights, 1 / norms) and close(out.direction, unit_sum),
        ),
        Claim.check(
            "Survey, Nash-MTL (Claim 3.1): the weights solve GᵀGα = 1/α with α > 0, so every task's gain "
            "g_iᵀΔθ is 1/α_i (three gradients of unequal norms and mixed angles).",
            "α ∈ ℝ₊ᴷ solves GᵀGα = 1/α; Δθᵀg_i = 1/α_i",
            f"α {fmt(alpha)}, gains {fmt(gains)}, 1/α {fmt(1 / alpha)}",
            bool((alpha > 0).all()) and close(gains, 1 / alpha),
        ),
        Claim.check(
            "Survey, Nash-MTL: when the other task hampers task 1 (negative inner product) α_1 rises above its "
            "orthogonal value 1/‖g_1‖; when it aids task 1 α_1 falls below it.",
            "negative interaction → α_i increases; positive interaction → α_i decreases",
            f"1/‖g_1‖ = 1; α_1 = {float(hamper):.4f} with g_2 = (−0.5, 1), {float(aid):.4f} with g_2 = (0.5, 1)",
            float(hamper) > 1.0 > float(aid),
        ),
        Claim.check(
            "Survey, Nash-MTL: the update does not change when one task's loss is rescaled (gradients of the "
            "three tasks multiplied by 10, 1 and 0.01).",
            "Σ g_i/‖g_i‖ is 'the obvious scale invariant solution'",
            f"update {fmt(directions[0])} before, {fmt(directions[1])} after",
            close(directions[0], directions[1], 1e-8),
        ),
    ]


def cagrad_claims(c: float = 0.4, angles: int = 3600) -> list[Claim]:
    """CAGrad: the worst task's improvement is the largest within the ball around the average."""
    pair = torch.tensor([[2.0, 0.5], [-0.6, 1.0]], dtype=DTYPE)
    k = pair.shape[0]
    average = pair.mean(0)
    radius = c * float(average.norm())
    d = AGGREGATORS.build("cagrad", c=c, rescale=0)(pair).direction / k  # the paper's mean scale
    worst = float((pair @ d).min())
    # the same problem by brute force: min_k g_kᵀd is concave, so its maximum over the ball is on its edge
    t = torch.linspace(0, 2 * math.pi, angles + 1, dtype=DTYPE)
    edge = average + radius * torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    best = float((edge @ pair.T).min(dim=1).values.max())
    inside = float((d - average).norm()) <= radius * (1 + 1e-9)
    at_zero = AGGREGATORS.build("cagrad", c=0.0, rescale=0)(pair).direction / k
    return [
        Claim.check(
            f"Survey, CAGrad: within the ball ‖d − g_0‖ ≤ c‖g_0‖ (c = {c}) around the average gradient g_0, the "
            f"library's update maximises the worst task's improvement min_k g_kᵀd (against a search over "
            f"{angles} directions on the ball's edge), above g_0's own; with c = 0 it is g_0.",
            "max_d min_i g_iᵀd s.t. ‖d − g_0‖ ≤ c‖g_0‖: the worst local improvement, maximised near the average",
            f"worst improvement {worst:.6f} (search {best:.6f}, g_0 {float((pair @ average).min()):.6f}); "
            f"‖d − g_0‖ = {float((d - average).norm()):.4f} ≤ {radius:.4f}; c = 0 gives {fmt(at_zero)}, g_0 = "
            f"{fmt(average)}",
            inside and worst >= best - 1e-6 and worst > float((pair @ average).min()) and close(at_zero, average),
        )
    ]


def _slides_mgda_gamma(theta: torch.Tensor, theta_bar: torch.Tensor) -> float:
    """The slides' Algorithm 1: the γ ∈ [0, 1] minimising ‖γθ + (1 − γ)θ̄‖²."""
    if theta @ theta_bar >= theta @ theta:
        return 1.0
    if theta @ theta_bar >= theta_bar @ theta_bar:
        return 0.0
    return float((theta_bar - theta) @ theta_bar / (theta_bar - theta).square().sum())


def mgda_claims() -> list[Claim]:
    """MGDA's two-task closed form (the slides' Algorithm 1) against the library's solver."""
    pairs = {
        "γ = 1 edge": torch.tensor([[0.5, 0.2], [1.0, 0.0]], dtype=DTYPE),
        "γ = 0 edge": torch.tensor([[1.0, 0.0], [0.5, 0.2]], dtype=DTYPE),
        "interior": torch.tensor([[2.0, 0.5], [-0.6, 1.0]], dtype=DTYPE),
    }
    parts, agree = [], True
    for label, pair in pairs.items():
        out = AGGREGATORS.build("mgda")(pair)
        ours = float(out.weights[0] / out.weights.sum())  # the library's weights are on the sum scale
        slides = _slides_mgda_gamma(pair[0], pair[1])
        agree &= abs(ours - slides) <= TOL_GAMMA
        parts.append(f"{label}: γ {ours:.6f} vs {slides:.6f}")
    interior = pairs["interior"]
    point = AGGREGATORS.build("mgda")(interior).direction
    perpendicular = abs(float(point @ (interior[0] - interior[1]))) <= 1e-9 * float(interior.norm()) ** 2
    return [
        Claim.check(
            "Survey, MGDA: with two tasks the library's min-norm weights equal the slides' closed form (Algorithm 1) "
            "in all three of its cases, and an interior solution is perpendicular to g_1 − g_2.",
            "γ from Algorithm 1; 'the solution is either an edge case or a perpendicular vector'",
            "; ".join(parts) + f"; interior point · (g_1 − g_2) = {float(point @ (interior[0] - interior[1])):.1e}",
            agree and perpendicular,
        )
    ]


#: How close the library's iterative MGDA weights must come to the closed form.
TOL_GAMMA = 1e-8


def pcgrad_claims() -> list[Claim]:
    """PCGrad's magnitude similarity (its Definition 2) and its projection."""
    ratios = (1.0, 10.0, 1000.0)
    similarity = [float(magnitude_similarity(torch.tensor([[1.0, 0.0], [0.0, r]], dtype=DTYPE))[0, 1]) for r in ratios]
    pair = torch.tensor([[2.0, 0.5], [-0.6, 1.0]], dtype=DTYPE)
    rows = AGGREGATORS.build("pcgrad", seed=0)(pair).task_gradients
    dots = (float(rows[0] @ pair[1]), float(rows[1] @ pair[0]))
    return [
        Claim.check(
            "Survey, PCGrad: the gradient magnitude similarity Φ is 1 for equal norms and goes to 0 as the norms "
            "drift apart (norm ratios 1, 10, 1000).",
            "Φ = 2‖g_i‖‖g_j‖/(‖g_i‖² + ‖g_j‖²): 1 when equal, → 0 as they differ",
            "Φ = " + ", ".join(f"{s:.4g}" for s in similarity),
            close(similarity[0], 1.0) and similarity[0] > similarity[1] > similarity[2] and similarity[2] < 0.01,
        ),
        Claim.check(
            "Survey, PCGrad: on a conflicting pair each projected gradient is orthogonal to the other task's "
            "original gradient (the conflicting component is removed).",
            "g_{i⊥j} = g_i − (g_iᵀg_j/‖g_j‖²) g_j",
            f"g_1'·g_2 = {dots[0]:.1e}, g_2'·g_1 = {dots[1]:.1e}",
            max(abs(d) for d in dots) <= 1e-12,
        ),
    ]


def gradvac_claims(cosine: float = 0.1, target: float = 0.8) -> list[Claim]:
    """PCGrad's stall at a small positive cosine, and GradVac's correction to its target."""
    pair = torch.tensor([[1.0, 0.0], [2 * cosine, 2 * math.sqrt(1 - cosine**2)]], dtype=DTYPE)
    pcgrad = AGGREGATORS.build("pcgrad", seed=0)(pair)
    untouched = close(pcgrad.task_gradients, pair)
    gradvac = AGGREGATORS.build("gradvac", beta=0.5, granularity="whole", seed=0)
    aligned = torch.tensor([[1.0, 0.0], [target, math.sqrt(1 - target**2)]], dtype=DTYPE)
    for _ in range(30):  # the EMA targets learn the high similarity of an earlier phase
        gradvac(aligned)
    learned = float(gradvac.targets[0, 0, 1])
    corrected = gradvac(pair).task_gradients
    after = float(gradient_cosine(torch.stack([corrected[0], pair[1]]))[0, 1])
    return [
        Claim.check(
            f"Survey, GradVac vs PCGrad: at a small positive cosine ({cosine}) PCGrad leaves both gradients "
            f"unchanged (it acts only below 0), while GradVac (β = 0.5, one block), whose target similarity was "
            f"learned at {target}, raises the corrected gradient's cosine with the other task to that target.",
            "PCGrad stalls where the cosine similarity is positive but low; GradVac aims at a target φ^T",
            f"PCGrad rows unchanged: {untouched}; GradVac target {learned:.4f}, cosine after its correction "
            f"{after:.4f} (before {cosine})",
            untouched and close(after, learned, 1e-6) and learned > cosine,
        )
    ]


def rotograd_claims() -> list[Claim]:
    """RotoGrad's magnitude homogenisation, read from the survey page's RotoGrad run on the pair."""
    from mtl_lib.studies.survey import rotograd_pair_geometry  # the page's own run (the trainer, RotoGrad)

    geometry = rotograd_pair_geometry()
    norms = geometry.gradients.norm(dim=1)
    # the direction at z in the basis of the unit gradients: each coefficient is that task's magnitude
    magnitudes = torch.linalg.solve((geometry.gradients / norms[:, None]).T.to(DTYPE), geometry.direction.to(DTYPE))
    shared = float(norms.mean())  # C = Σ α_k ‖G_k‖ with α_k = 1/K: the gradients never changed
    return [
        Claim.check(
            "Survey, RotoGrad: the shared representation receives every task's gradient with the same magnitude C "
            "(C·U_k, U_k the unit gradient); with gradients as large as at the start, C is the mean of their norms.",
            "ω_k G_k = C/‖G_k‖ · G_k = C U_k for all k, C = Σ_k α_k ‖G_k‖",
            f"norms {fmt(norms)} → magnitudes at z {fmt(magnitudes)}, mean norm {shared:.4f}",
            close(magnitudes, torch.full_like(magnitudes, shared), 1e-6),
            test="exact computation: the survey page's RotoGrad run on the fixed pair (the trainer)",
        )
    ]


def graddrop_claims() -> list[Claim]:
    """The slides' two worked GradDrop examples, with the library's own sign purity P."""
    seen: list[torch.Tensor] = []

    def record(purity: torch.Tensor) -> torch.Tensor:  # the transfer function f sees P itself
        seen.append(purity.clone())
        return purity

    # column 1: the two tasks' gradients 3 and 1; column 2: 7 and −3
    AGGREGATORS.build("graddrop", f=record, seed=0)(torch.tensor([[3.0, 7.0], [1.0, -3.0]], dtype=DTYPE))
    purity = seen[0]
    return [
        Claim.check(
            "Survey, GradDrop: the sign purity P of task gradients 3 and 1 is 1.0, and of 7 and −3 is 0.7 "
            "(the slide writes the second numerator as 7 + 3, which would give 1.0; 0.7 is (7 − 3)/10).",
            "0.5(1 + (3 + 1)/(|3| + |1|)) = 1.0; 0.5(1 + (7 + 3)/(|7| + |−3|)) = 0.7",
            f"P = {float(purity[0]):.4f} and {float(purity[1]):.4f}",
            close(purity, torch.tensor([1.0, 0.7], dtype=DTYPE)),
        )
    ]


def imtl_g_claims() -> list[Claim]:
    """IMTL-G: equal projections on every unit gradient, weights summing to one (times K)."""
    out = AGGREGATORS.build("imtl_g")(MIXED)
    projections = (MIXED / MIXED.norm(dim=1, keepdim=True)) @ out.direction
    k = MIXED.shape[0]
    return [
        Claim.check(
            "Survey, IMTL-G: the update has the same projection on every task's unit gradient, and its weights "
            "sum to one (K on the library's sum scale).",
            "g u_1ᵀ = g u_tᵀ for all t; Σ_t α_t = 1",
            f"projections {fmt(projections)}, weights {fmt(out.weights)} (sum {float(out.weights.sum()):.6g})",
            close(projections, projections[0].expand_as(projections)) and close(out.weights.sum(), float(k)),
        )
    ]


def aligned_mtl_claims() -> list[Claim]:
    """Aligned-MTL: the aligned system's condition number, orthogonality, Procrustes and descent."""
    aligner = AGGREGATORS.build("aligned_mtl")
    gram = MIXED @ MIXED.T
    aligned = aligner.balance_matrix(gram) @ MIXED
    singular = torch.linalg.svdvals(aligned)
    before = torch.linalg.svdvals(MIXED)
    cosines = gradient_cosine(aligned) - torch.eye(3, dtype=DTYPE)
    u, s, vh = torch.linalg.svd(MIXED, full_matrices=False)
    nearest = u @ vh  # the nearest matrix with orthonormal rows (Procrustes)
    direction = aligner(MIXED).direction
    gains = aligned @ direction
    return [
        Claim.check(
            "Survey, Aligned-MTL: the aligned gradients have condition number 1 — orthogonal (no conflict) and of "
            "equal norm σ_min (no dominance) — they are σ_min times the nearest orthonormal system to the "
            "gradients, and the update descends equally along each of them.",
            "κ(Ĝ) = 1: 'orthogonal with equal singular values'; Ĝ = σ U Vᵀ; 'same descent on the orthogonal basis'",
            f"κ before {float(before.max() / before.min()):.3f}, after {float(singular.max() / singular.min()):.12f}; "
            f"largest |cos| {float(cosines.abs().max()):.1e}; ‖Ĝ/σ_min − UVᵀ‖ "
            f"{float((aligned / s.min() - nearest).abs().max()):.1e}; gains {fmt(gains)}",
            close(singular, s.min().expand(3))
            and close(aligned / s.min(), nearest)
            and close(gains, gains[0].expand(3)),
        )
    ]


def gradient_balancing_claims() -> list[Claim]:
    """The gradient-balancing chapter's side claims of the survey slides."""
    return (
        nash_claims()
        + mgda_claims()
        + pcgrad_claims()
        + gradvac_claims()
        + cagrad_claims()
        + rotograd_claims()
        + graddrop_claims()
        + imtl_g_claims()
        + aligned_mtl_claims()
    )


__all__ = [
    "MIXED",
    "aligned_mtl_claims",
    "cagrad_claims",
    "gradient_balancing_claims",
    "graddrop_claims",
    "gradvac_claims",
    "imtl_g_claims",
    "mgda_claims",
    "nash_claims",
    "pcgrad_claims",
    "rotograd_claims",
]
