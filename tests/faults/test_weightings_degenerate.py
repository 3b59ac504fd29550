"""Fault table: every registered loss weighting on degenerate losses.

Each row of the tables is one case, run for every method in ``WEIGHTINGS`` (methods added later
are covered automatically). A case asserts either a correct result or an error naming the task:

- NaN/±inf in one task's loss → :class:`NonFiniteError` naming that task, state untouched;
- extreme but finite losses (1e-20, 1e20, mixed; float32 and float64), zero losses, K = 1 →
  finite terms and a finite, non-negative weight ∂Φ/∂L_k for every task (no task's gradient is
  flipped or lost);
- a negative loss → either a ``ValueError`` naming the task (methods whose formula needs positive
  losses: GLS, STCH's log form) or a non-negative weight for that task;
- a non-finite epoch mean handed to a history (DWA, STCH) → error, history unchanged.
"""

from __future__ import annotations

import copy

import pytest
import torch

from mtl_lib.core import NonFiniteError
from mtl_lib.weighting import STCH, WEIGHTINGS, LossWeighting

METHODS = WEIGHTINGS.names()


class Setup:
    """Losses that depend on a small shared layer W (GradNorm measures gradients there)."""

    def __init__(self, values: list[float], dtype: torch.dtype = torch.float64) -> None:
        self.layer = torch.nn.Parameter(torch.full((len(values), 3), 0.1, dtype=dtype))
        self.values = torch.tensor(values, dtype=dtype, requires_grad=True)

    def losses(self) -> torch.Tensor:
        # L_k · exp(mean W_k − 0.1): the value of L_k (W is 0.1), with a gradient on W.
        return self.values * torch.exp(self.layer.mean(dim=1) - 0.1)


def build(name: str, setup: Setup, **kwargs) -> LossWeighting:
    weighting = WEIGHTINGS.build(name, **kwargs)
    if hasattr(weighting, "bind"):
        weighting.bind(setup.layer)
    return weighting


def loss_weights(weighting: LossWeighting, setup: Setup) -> tuple[torch.Tensor, torch.Tensor]:
    """(terms, ∂Σ terms / ∂L) for one call."""
    terms = weighting(setup.losses())
    (slope,) = torch.autograd.grad(terms.sum(), setup.values)
    return terms.detach(), slope


# ----------------------------------------------------------------------------- non-finite losses
NONFINITE_CASES = [
    ("nan_task1", float("nan"), 1),
    ("inf_task2", float("inf"), 2),
    ("minus_inf_task0", float("-inf"), 0),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("case", "value", "task"), NONFINITE_CASES, ids=[c[0] for c in NONFINITE_CASES])
def test_nonfinite_loss_is_an_error_naming_the_task_and_leaves_state_alone(method, case, value, task):
    setup = Setup([1.0, 2.0, 3.0])
    weighting = build(method, setup)
    loss_weights(weighting, setup)  # one good step: stateful methods now hold state
    before = copy.deepcopy(weighting.state_dict())
    bad = setup.values.detach().clone()
    bad[task] = value
    with pytest.raises(NonFiniteError, match=f"task {task}") as caught:
        weighting(bad)
    assert caught.value.index == task and caught.value.quantity == "losses"
    after = weighting.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert repr(before[key]) == repr(after[key]), key


# ----------------------------------------------------------------------------- extreme scales
SCALE_CASES = [
    ("tiny", [1e-20, 2e-20, 3e-20]),
    ("huge", [1e20, 2e20, 3e20]),
    ("mixed", [1e-20, 1.0, 1e20]),
    ("zero", [0.0, 0.0, 0.0]),
    ("one_zero", [0.0, 1.0, 2.0]),
    ("single_task", [0.7]),
]
DTYPES = [torch.float32, torch.float64]


def _after_warmup(name: str, setup: Setup, values: list[float]) -> LossWeighting:
    """The weighting past its warm-up / history phase where it has one (else as built)."""
    weighting = build(name, setup)
    if hasattr(weighting, "end_epoch"):
        for _ in range(6):
            weighting.end_epoch(torch.tensor(values, dtype=torch.float64))
    return weighting


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(("case", "values"), SCALE_CASES, ids=[c[0] for c in SCALE_CASES])
@pytest.mark.parametrize("phase", ["first_step", "after_history"])
def test_extreme_but_finite_losses_give_finite_non_negative_weights(method, dtype, case, values, phase):
    setup = Setup(values, dtype)
    if phase == "first_step":
        weighting = build(method, setup)
    else:
        weighting = _after_warmup(method, setup, values)
    for _ in range(2):  # twice: stateful methods (GradNorm) use what the first call learned
        terms, slope = loss_weights(weighting, setup)
        assert bool(torch.isfinite(terms).all()), terms
        assert bool(torch.isfinite(slope).all()), slope
        assert bool((slope >= 0).all()), slope


def test_gls_keeps_exact_weights_for_tiny_losses():
    # ∂(K·G)/∂L_k = G/L_k: the clamp must not freeze tasks whose loss is far below 1e-12.
    for values in ([1e-20, 2e-20, 4e-20], [1e-20, 1.0, 1e20]):
        setup = Setup(values)
        _, slope = loss_weights(build("gls", setup), setup)
        losses = torch.tensor(values, dtype=torch.float64)
        geometric = torch.exp(torch.log(losses).mean())
        torch.testing.assert_close(slope, geometric / losses, rtol=1e-9, atol=0)


# ----------------------------------------------------------------------------- negative losses
# Methods whose formula needs positive losses raise; every other one must keep the sign.
NEEDS_POSITIVE = {"gls": "geometric mean", "stch": "log-normalised", "famo": "lower bound m"}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("phase", ["first_step", "after_history"])
def test_negative_loss_is_an_error_or_keeps_the_tasks_gradient(method, phase):
    values = [-1.0, 0.5, 2.0]
    setup = Setup(values)
    weighting = build(method, setup) if phase == "first_step" else _after_warmup(method, setup, [1.0, 0.5, 2.0])
    if method in NEEDS_POSITIVE:
        with pytest.raises(ValueError, match=r"task\(s\) \[0\]") as caught:
            weighting(setup.losses())
        assert NEEDS_POSITIVE[method] in str(caught.value)
        return
    _, slope = loss_weights(weighting, setup)
    assert bool(torch.isfinite(slope).all()) and bool((slope >= 0).all()), slope


STCH_LINEAR_CASES = [
    ("negative_loss_after_warmup", [1.0, 2.0], [-0.5, 1.0], None),
    ("negative_loss_no_warmup", None, [-3.0, 1.0], None),
    ("negative_nadir", [-1.0, 2.0], None, r"task\(s\) \[0\]"),
]


@pytest.mark.parametrize(
    ("case", "warmup", "losses", "error"), STCH_LINEAR_CASES, ids=[c[0] for c in STCH_LINEAR_CASES]
)
def test_stch_linear_form_never_flips_a_gradient(case, warmup, losses, error):
    stch = STCH(log_losses=False, warmup_epochs=0 if warmup is None else 1)
    if warmup is not None:
        if error is not None:
            with pytest.raises(ValueError, match=error):
                stch.end_epoch(torch.tensor(warmup))
            assert stch.nadir is None and stch.epochs_seen == 0  # nothing half-recorded
            return
        stch.end_epoch(torch.tensor(warmup))
    values = torch.tensor(losses, dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(stch(values).sum(), values)
    assert bool((slope > 0).all()), slope


# ----------------------------------------------------------------------------- histories
HISTORY_METHODS = [name for name in METHODS if hasattr(WEIGHTINGS.build(name), "end_epoch")]
HISTORY_CASES = [("nan_mean", float("nan")), ("inf_mean", float("inf"))]


@pytest.mark.parametrize("method", HISTORY_METHODS)
@pytest.mark.parametrize(("case", "value"), HISTORY_CASES, ids=[c[0] for c in HISTORY_CASES])
def test_nonfinite_epoch_mean_is_refused_before_the_history_changes(method, case, value):
    weighting = WEIGHTINGS.build(method)
    weighting.end_epoch(torch.tensor([1.0, 2.0]))
    before = copy.deepcopy(weighting.state_dict())
    with pytest.raises(NonFiniteError, match="task 1"):
        weighting.end_epoch(torch.tensor([1.0, value]))
    after = weighting.state_dict()
    for key in before:
        assert repr(before[key]) == repr(after[key]), key


def test_gradnorm_refuses_nonfinite_layer_gradients_without_touching_its_weights():
    setup = Setup([1.0, 2.0, 3.0])
    gradnorm = build("gradnorm", setup)
    loss_weights(gradnorm, setup)
    weights = gradnorm.weights
    poisoned = setup.values * torch.exp(
        setup.layer.mean(dim=1) * torch.tensor([1.0, float("nan"), 1.0]).nan_to_num(0) - 0.1
    )
    hook = setup.layer.register_hook(lambda grad: torch.full_like(grad, float("nan")))
    with pytest.raises(NonFiniteError, match="task"):
        gradnorm(poisoned)
    hook.remove()
    torch.testing.assert_close(gradnorm.weights, weights, rtol=0, atol=0)


# Losses with a known lower bound −b: ``shift=b`` makes the formulas defined (the CAGrad toy).
SHIFT_CASES = [
    ("gls", {"shift": 20.0}, None),
    ("stch_no_warmup", {"shift": 20.0, "warmup_epochs": 0}, None),
    ("stch_after_warmup", {"shift": 20.0, "warmup_epochs": 1}, [-19.5, -3.0]),
    (
        "stch_linear_after_warmup",
        {"shift": 20.0, "warmup_epochs": 1, "log_losses": False},
        [-19.5, -3.0],
    ),
]


@pytest.mark.parametrize(("case", "kwargs", "warmup"), SHIFT_CASES, ids=[c[0] for c in SHIFT_CASES])
def test_shift_makes_negative_losses_above_the_bound_valid(case, kwargs, warmup):
    weighting = WEIGHTINGS.build(case.split("_")[0], **kwargs)
    if warmup is not None:
        weighting.end_epoch(torch.tensor(warmup))
    values = torch.tensor([-19.9, -0.2], dtype=torch.float64, requires_grad=True)
    terms = weighting(values)
    (slope,) = torch.autograd.grad(terms.sum(), values)
    assert bool(torch.isfinite(terms).all()) and bool((slope > 0).all()), slope
    below = torch.tensor([-20.5, 1.0], dtype=torch.float64)
    if kwargs.get("log_losses", True):  # below the bound: the log form is undefined again
        with pytest.raises(ValueError, match=r"task\(s\) \[0\]"):
            weighting(below)
    else:  # the linear form allows f − z < 0 and keeps the sign
        below.requires_grad_(True)
        (slope,) = torch.autograd.grad(weighting(below).sum(), below)
        assert bool((slope > 0).all()), slope
