import torch

from mtl_lib.experiments.trajectory import toy_trajectory
from mtl_lib.problems.toy import PARETO_X2, pareto_front, toy_objectives


def test_objectives_on_the_pareto_set_trade_off():
    front = pareto_front(50)
    # Along the Pareto set one objective rises while the other falls.
    assert torch.all(torch.diff(front[:, 0]) > 0) or torch.all(torch.diff(front[:, 0]) < 0)
    assert torch.all(torch.diff(front[:, 0]) * torch.diff(front[:, 1]) < 0)


def test_objectives_are_finite_and_scaled():
    theta = torch.tensor([[-8.5, 7.5], [0.0, 0.0], [9.0, -1.0], [3.0, PARETO_X2]], dtype=torch.float64)
    values = toy_objectives(theta)
    assert torch.isfinite(values).all()
    torch.testing.assert_close(toy_objectives(theta, 0.1)[:, 0], 0.1 * values[:, 0])


def test_trajectory_descends_with_ew_and_records():
    traj = toy_trajectory((-8.5, -5.0), steps=2000, record_every=100, lr=1e-2)
    assert traj.thetas.shape == (21, 2)
    assert traj.objectives[-1].sum() < traj.objectives[0].sum()


def test_trajectory_with_an_aggregator_moves():
    traj = toy_trajectory((9.0, 9.0), aggregator="pcgrad", steps=500, record_every=100, lr=1e-2)
    assert not torch.equal(traj.thetas[0], traj.thetas[-1])
