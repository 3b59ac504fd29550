import torch

from mtl_lib.problems.pareto import (
    distance_to_front,
    fonseca_fleming,
    fonseca_fleming_front,
    linear,
    preference_grid,
    smooth_tchebycheff,
    tchebycheff,
    trace_front,
)


def test_front_is_concave_and_on_the_pareto_set():
    front = fonseca_fleming_front(101)
    assert torch.all(torch.diff(front[:, 0]) < 0) and torch.all(torch.diff(front[:, 1]) > 0)
    # concave: the midpoint of the chord between the end points lies below the front's middle
    chord_mid = (front[0] + front[-1]) / 2
    assert chord_mid.sum() < front[50].sum()


def test_scalarization_values():
    losses = torch.tensor([0.2, 0.6], dtype=torch.float64)
    pref = torch.tensor([0.5, 0.5], dtype=torch.float64)
    ideal = torch.zeros(2, dtype=torch.float64)
    assert linear(losses, pref, ideal) == 0.4
    assert tchebycheff(losses, pref, ideal) == 0.3
    smooth = smooth_tchebycheff(1e-3)(losses, pref, ideal)
    assert abs(float(smooth) - 0.3) < 1e-3


def test_linear_reaches_only_end_points_tchebycheff_spreads():
    prefs = preference_grid(11)
    front = fonseca_fleming_front(400)
    lin = trace_front("linear", prefs, steps=1500, lr=2e-2)
    tch = trace_front("smooth_tchebycheff", prefs, steps=1500, lr=2e-2)
    assert distance_to_front(tch, front).max() < 0.02

    # linear scalarization's solutions cluster at the two ends of the concave front
    def interior(points):
        return int(((points[:, 0] > 0.05) & (points[:, 0] < 0.95)).sum())

    assert interior(lin) <= 1
    assert interior(tch) >= 5


def test_objectives_shape():
    assert fonseca_fleming(torch.zeros(5, 3)).shape == (5, 2)
