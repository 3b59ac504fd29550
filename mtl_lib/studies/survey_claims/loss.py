"""The loss-balancing side claims of the survey slides: UW's weight as a function of σ and its
regression loss, DWA's temperature, IMTL-L against UW (and against |e^s L − 1|), STCH's warm-up and
its limit μ → 0."""

from __future__ import annotations

import math

import torch

from mtl_lib.problems.toy import CAGRAD_STARTS, toy_objectives
from mtl_lib.studies._common import Claim
from mtl_lib.studies.survey_claims.common import DTYPE, close, fmt, weight_slopes
from mtl_lib.weighting import WEIGHTINGS


# ----------------------------------------------------------------------------- loss balancing
def _uw_at(sigmas: torch.Tensor, losses: torch.Tensor, half: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """UW's objective and per-task weights with its log-variances set to log σ²."""
    uw = WEIGHTINGS.build("uw", num_tasks=len(sigmas), half=half).double()
    with torch.no_grad():
        uw.log_vars.copy_(torch.log(sigmas**2))  # s = log σ²
    return weight_slopes(uw, losses)


def uw_claims() -> list[Claim]:
    """UW: the weight as a function of the learned noise σ, and the slides' regression loss."""
    sigmas = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=DTYPE)
    losses = torch.full_like(sigmas, 3.0)
    _, weights = _uw_at(sigmas, losses, half=False)
    objective, half_weights = _uw_at(sigmas, losses, half=True)
    holds = all(
        bool((w[1:] < w[:-1]).all()) and close(w, scale / sigmas**2)
        for w, scale in ((weights, 1.0), (half_weights, 0.5))
    )
    slides = (losses / (2 * sigmas**2) + torch.log(sigmas)).sum()
    return [
        Claim.check(
            "Survey, UW: the larger a task's learned noise σ, the smaller its weight (the slope of the objective in "
            "that task's loss): 1/σ² in the library's default form, 1/(2σ²) with half=True.",
            "'large uncertainty, small weight'; weights 1/(2σ₁²) and 1/σ₂² in the final loss",
            f"σ = {fmt(sigmas)} → weights {fmt(weights)} (default), {fmt(half_weights)} (half=True)",
            holds,
        ),
        Claim.check(
            "Survey, UW: with half=True the library's objective is the slides' regression loss "
            "L/(2σ²) + log σ, summed over the tasks.",
            "L(W, σ) ≈ L₁/(2σ₁²) + L₂/σ₂² + log σ₁ + log σ₂ (regression term for each task here)",
            f"library {float(objective):.10g}, slides' formula {float(slides):.10g}",
            close(objective, slides),
        ),
    ]


def dwa_claims() -> list[Claim]:
    """DWA: the temperature T flattens the weights; a slower-falling loss gets more weight."""
    before, last = torch.ones(3, dtype=DTYPE), torch.tensor([0.5, 0.9, 1.0], dtype=DTYPE)
    temperatures = (0.5, 2.0, 10.0, 100.0, 1e4)
    deviations, weights_at = [], {}
    for temperature in temperatures:
        dwa = WEIGHTINGS.build("dwa", temperature=temperature)
        dwa.end_epoch(before)
        dwa.end_epoch(last)
        weights_at[temperature] = dwa.weights
        deviations.append(float((dwa.weights - 1).abs().max()))
    shrinking = all(b < a for a, b in zip(deviations, deviations[1:]))
    default = weights_at[2.0]
    return [
        Claim.check(
            "Survey, DWA: raising the temperature T drives every weight to 1 (equal weighting): the largest "
            "|w_k − 1| falls with T and is below 1e-4 at T = 10⁴. (The slides attach 'large T' to many "
            "iterations; in DWA's formula T is the softmax temperature, which is what is varied here.)",
            "'After a large number of iteration (large T) → equal weight'",
            "loss ratios (0.5, 0.9, 1.0); max |w − 1| at T = "
            + ", ".join(f"{t:g}: {d:.2g}" for t, d in zip(temperatures, deviations)),
            shrinking and deviations[-1] < 1e-4,
        ),
        Claim.check(
            "Survey, DWA: a task whose loss fell less over the last epoch (ratio L(t−1)/L(t−2) nearer 1) gets "
            "the larger weight, and the weights sum to K.",
            "w_k: ratio of the last two losses, through K·softmax(w/T)",
            f"ratios (0.5, 0.9, 1.0) → weights {fmt(default)} at T = 2, sum {float(default.sum()):.6g}",
            bool((default[1:] > default[:-1]).all()) and close(default.sum(), 3.0),
        ),
    ]


def _weights_under_adam(name: str, loss_sequence: torch.Tensor, lr: float = 0.05) -> torch.Tensor:
    """The weights (slopes in each loss) of a fresh ``name`` at each step while Adam trains its
    own parameters on ``loss_sequence`` (steps × K)."""
    weighting = WEIGHTINGS.build(name, num_tasks=loss_sequence.shape[1]).double()
    optimizer = torch.optim.Adam(weighting.parameters(), lr=lr)
    history = []
    for losses in loss_sequence:
        optimizer.zero_grad()
        objective, slopes = weight_slopes(weighting, losses)
        history.append(slopes)
        weighting(losses).sum().backward()
        optimizer.step()
    return torch.stack(history)


def _toy_path(name: str, start: tuple[float, float], steps: int, lr: float = 5e-2) -> torch.Tensor:
    """θ along ``steps`` Adam steps on the CAGrad toy problem weighted by a fresh ``name``, Adam
    training θ and the weighting's own scales together (as the trainer does), from ``start``."""
    theta = torch.tensor(list(start), dtype=DTYPE, requires_grad=True)
    weighting = WEIGHTINGS.build(name, num_tasks=2).double()
    optimizer = torch.optim.Adam([theta, *weighting.parameters()], lr=lr)
    path = []
    for _ in range(steps):
        optimizer.zero_grad()
        weighting(toy_objectives(theta)).sum().backward()
        optimizer.step()
        path.append(theta.detach().clone())
    return torch.stack(path)


def imtl_l_claims(toy_steps: int = 200) -> list[Claim]:
    """IMTL-L against UW: the same weights along training, the same toy path, and 1/L at the optimum."""
    steps = torch.arange(60, dtype=DTYPE)[:, None]
    loss_sequence = torch.cat([4.0 * 0.97**steps, 0.5 * 0.9**steps, 2.0 + 0 * steps], dim=1)
    uw, imtl = _weights_under_adam("uw", loss_sequence), _weights_under_adam("imtl_l", loss_sequence)
    weight_gap = float(((uw - imtl).abs() / uw.abs()).max())
    path_gap = 0.0
    for start in CAGRAD_STARTS:
        paths = [_toy_path(w, start, toy_steps) for w in ("uw", "imtl_l")]
        path_gap = max(path_gap, float((paths[0] - paths[1]).abs().max()))
    # the optimum in s of exp(s)·L − s: exp(s*) = 1/L (scaled loss 1) — reached by Adam on s alone
    long_run = _weights_under_adam("imtl_l", torch.tensor([[4.0, 0.5, 2.0]], dtype=DTYPE).repeat(3000, 1))
    final = long_run[-1]
    return [
        Claim.check(
            "Survey, IMTL-L ≈ UW: here '≈' is exact equality up to round-off — trained by Adam on the same loss "
            "sequence, IMTL-L's weights e^s equal UW's e^(−s) at every step (largest relative gap ≤ 1e-12), and "
            f"on the CAGrad toy problem the two follow the same path (largest coordinate gap ≤ 1e-9 over "
            f"{toy_steps} Adam steps from each start). It holds for the library's UW form e^(−s)L + s, "
            "not for UW(half=True), whose weight at the same s is half as large.",
            "'Similar with UW by log(−)'",
            f"weights: largest relative gap {weight_gap:.1e} over {len(loss_sequence)} steps; toy paths: "
            f"largest gap {path_gap:.1e}",
            weight_gap <= 1e-12 and path_gap <= 1e-9,
            test="exact computation: two Adam runs compared step by step",
        ),
        Claim.check(
            "Survey, IMTL-L: at the optimum of its scale s every scaled loss e^s·L equals 1, i.e. the weight is 1/L "
            "(within 1e-6 after 3,000 Adam steps on s alone).",
            "the optimum s* satisfies h(s)L(θ) = 1 for all tasks",
            f"losses (4, 0.5, 2) → weights {fmt(final, 6)}, 1/L = (0.25, 2, 0.5)",
            close(final, torch.tensor([0.25, 2.0, 0.5], dtype=DTYPE), 1e-6),
            test="exact computation: the optimum reached by Adam on the scales",
        ),
    ]


def imtl_l_absolute_value_claim() -> Claim:
    """IMTL-L's argument against minimising |e^s L − 1|: the wrong direction in θ below 1."""
    theta = torch.tensor(0.5, dtype=DTYPE, requires_grad=True)
    imtl = WEIGHTINGS.build("imtl_l", num_tasks=1).double()  # s = 0: e^s L = θ² = 0.25 < 1
    (loss_slope,) = torch.autograd.grad(theta**2, theta)
    (absolute,) = torch.autograd.grad((torch.exp(imtl.log_scales) * theta**2 - 1).abs().sum(), theta)
    (scaled,) = torch.autograd.grad(imtl((theta**2).reshape(1)).sum(), theta)
    return Claim.check(
        "Survey, IMTL-L: where the scaled loss e^s·L is below 1, minimising |e^s·L − 1| would move θ up the "
        "loss (its θ-gradient is −e^s∇L), while IMTL-L's e^s·L − s moves it down (gradient +e^s∇L).",
        "∇θ|f(s)| = −h(s)∇θL(θ) is 'in the opposite direction' when h(s)L(θ) < 1",
        f"L = θ² at θ = 0.5, s = 0: ∇L = {float(loss_slope):+.3f}, ∇|e^s L − 1| = {float(absolute):+.3f}, "
        f"∇(IMTL-L) = {float(scaled):+.3f}",
        close(absolute, -loss_slope) and close(scaled, loss_slope),
    )


def stch_claims() -> list[Claim]:
    """STCH: the warm-up on log losses, and the limit μ → 0 (Tchebycheff's maximum)."""
    losses = torch.tensor([0.5, 2.0, 1.2], dtype=DTYPE)
    warm = WEIGHTINGS.build("stch", warmup_epochs=2)
    warm_terms = warm(losses)
    warm.end_epoch(losses)
    warm.end_epoch(losses)  # the nadir: the mean loss of the last warm-up epoch
    _, after = weight_slopes(warm, losses)
    gaps, tops = [], []
    for mu in (1.0, 0.1, 0.01, 0.001):
        stch = WEIGHTINGS.build("stch", mu=mu, warmup_epochs=0, log_losses=False)
        objective, slopes = weight_slopes(stch, losses)
        gaps.append(float(objective / 3 - losses.max()))  # Φ = K·μ·log Σ exp(L/μ)
        tops.append(float(slopes.max() / slopes.sum()))
    bounded = all(0.0 <= gap <= mu * math.log(3) + 1e-12 for gap, mu in zip(gaps, (1.0, 0.1, 0.01, 0.001)))
    return [
        Claim.check(
            "Survey, STCH: during the warm-up the objective is the sum of the log losses (equal weights on "
            "them); right after it, at losses equal to the warm-up's mean, every normalised log loss gets the same "
            "weight, i.e. task k's loss is weighted 1/L_k.",
            "warm-up epochs with equal weights on log(losses); then losses normalised by the warm-up average",
            f"warm-up terms {fmt(warm_terms)} vs log L {fmt(torch.log(losses))}; weights on L after it "
            f"{fmt(after)} vs 1/L {fmt(1 / losses)}",
            close(warm_terms, torch.log(losses + 1e-20)) and close(after, 1 / losses),
        ),
        Claim.check(
            "Survey, STCH: as μ → 0 the smooth scalarization tends to Tchebycheff's maximum: μ·log Σ exp(f/μ) − "
            "max f lies in [0, μ log K], and the worst task's share of the weight tends to 1.",
            "g_μ^(STCH) = μ log Σ exp(λ_i(f_i − z_i)/μ), the smooth version of max_i λ_i(f_i − z_i)",
            "μ = 1, 0.1, 0.01, 0.001: gap "
            + ", ".join(f"{g:.2g}" for g in gaps)
            + "; worst task's share "
            + ", ".join(f"{t:.3f}" for t in tops),
            bounded and tops[-1] > 1 - 1e-6 and all(b >= a for a, b in zip(tops, tops[1:])),
        ),
    ]


def loss_balancing_claims() -> list[Claim]:
    """The loss-balancing chapter's side claims of the survey slides (UW, DWA, IMTL-L, STCH)."""
    return uw_claims() + dwa_claims() + imtl_l_claims() + [imtl_l_absolute_value_claim()] + stch_claims()


__all__ = [
    "dwa_claims",
    "imtl_l_absolute_value_claim",
    "imtl_l_claims",
    "loss_balancing_claims",
    "stch_claims",
    "uw_claims",
]
