"""The layer-wise Gramian equals J Jᵀ of the Jacobian path (1e-6 relative in float32, 1e-10 in
float64) on every kind of layer it handles, and refuses the models it cannot see."""

import pytest
import torch
from torch import nn

from mtl_lib.core.gramian import GramianPathError, LayerwiseGramian, linear_gram, scaled_gram
from mtl_lib.core.jacobian import flatten_rows, task_jacobians
from tests.helpers import NaNGradient

RTOL = {torch.float32: 1e-6, torch.float64: 1e-10}


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours - reference).abs().max() / reference.abs().max())


def reference_gram(losses, params):
    rows = flatten_rows(task_jacobians(losses, params, retain_graph=True)).double()
    return rows @ rows.T


class Trunk(nn.Module):
    """Linear layers (both closed-form branches: narrow batch and wide batch), a convolution, a
    batch norm, a layer norm, and a module called twice in one forward pass."""

    def __init__(self, num_tasks: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)
        self.wide = nn.Linear(48, 40)  # batch 4 << fan-in: the X Xᵀ kernel branch
        self.narrow = nn.Linear(40, 2)  # tiny fan-out: the materialised branch
        self.layer_norm = nn.LayerNorm(2)
        self.twice = nn.Linear(2, 2)
        self.heads = nn.ModuleList(nn.Linear(2, 1) for _ in range(num_tasks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        z = torch.relu(self.norm(self.conv(x))).flatten(1)
        z = self.layer_norm(self.narrow(torch.tanh(self.wide(z))))
        z = self.twice(torch.tanh(self.twice(z)))
        return [head(z) for head in self.heads]

    def shared(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("heads")]


def losses_of(model, x, ys):
    return torch.stack([nn.functional.mse_loss(p.squeeze(1), y) for p, y in zip(model(x), ys)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batched_layers", [True, False])
def test_every_layer_kind_matches_the_jacobian_path(dtype, batched_layers):
    torch.manual_seed(0)
    model = Trunk(num_tasks=3).to(dtype)
    x = torch.randn(4, 2, 4, 4, dtype=dtype)
    ys = [torch.randn(4, dtype=dtype) * 10.0**k for k in range(3)]
    gramian = LayerwiseGramian(model, model.shared(), verify=False, batched_layers=batched_layers)
    with gramian.capture():
        losses = losses_of(model, x, ys)
    ours = gramian.compute(losses)
    assert ours.dtype == torch.float64 and ours.shape == (3, 3)
    assert relative_error(ours, reference_gram(losses, model.shared())) < RTOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_tasks", [1, 2, 5, 12])
def test_mlp_gramian_and_weighted_backward_match(dtype, num_tasks):
    torch.manual_seed(num_tasks)
    trunk = nn.Sequential(nn.Linear(30, 20), nn.ELU(), nn.Linear(20, 20), nn.ELU())
    heads = nn.ModuleList(nn.Linear(20, 5) for _ in range(num_tasks))
    model = nn.ModuleDict({"trunk": trunk, "heads": heads}).to(dtype)
    x = torch.rand(16, 30, dtype=dtype)
    ys = [torch.randn(16, 5, dtype=dtype) for _ in range(num_tasks)]
    shared = list(trunk.parameters())
    gramian = LayerwiseGramian(model, shared, verify=False)
    with gramian.capture():
        z = trunk(x)
        losses = torch.stack([nn.functional.mse_loss(h(z), y) for h, y in zip(heads, ys)])
    ours = gramian.compute(losses)
    rows = flatten_rows(task_jacobians(losses, shared, retain_graph=True))
    assert relative_error(ours, rows.double() @ rows.double().T) < RTOL[dtype]
    weights = torch.linspace(0.1, 1.0, num_tasks, dtype=dtype)
    torch.autograd.backward(weights @ losses, inputs=shared)
    direction = torch.cat([p.grad.reshape(-1) for p in shared])
    assert relative_error(direction, weights @ rows) < RTOL[dtype] * 10


def test_linear_gram_branches_agree_and_survive_extreme_scales():
    torch.manual_seed(0)
    x = torch.randn(7, 5)
    d = torch.randn(3, 7, 4) * torch.tensor([1e25, 1.0, 1e-25])[:, None, None]
    rows = torch.cat([torch.einsum("kno,ni->koi", d, x).reshape(3, -1), d.sum(1)], dim=1)
    expected = scaled_gram(rows)
    ours = linear_gram(x, d, has_bias=True)
    assert bool(torch.isfinite(ours).all())
    assert relative_error(ours.diagonal() / expected.diagonal(), torch.ones(3, dtype=torch.float64)) < 1e-5


def test_nan_in_one_task_gives_a_nan_diagonal_entry():
    torch.manual_seed(0)
    model = Trunk(num_tasks=2)
    x = torch.randn(4, 2, 4, 4)
    gramian = LayerwiseGramian(model, model.shared(), verify=False)
    with gramian.capture():
        preds = model(x)
        losses = torch.stack([NaNGradient.apply(preds[0].sum()), preds[1].sum()])
    gram = gramian.compute(losses)
    assert torch.isnan(gram[0, 0]) and torch.isfinite(gram[1, 1])


class TiedHead(nn.Module):
    """A shared weight used outside its module's forward: the layer-wise path cannot see it."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(4, 4)
        self.heads = nn.ModuleList(nn.Linear(4, 1) for _ in range(2))

    def forward(self, x):
        z = self.embed(x)
        z = nn.functional.linear(z, self.embed.weight)  # tying by hand
        return [head(z) for head in self.heads]


def test_verification_catches_a_parameter_used_outside_its_module():
    torch.manual_seed(0)
    model = TiedHead()
    gramian = LayerwiseGramian(model, list(model.embed.parameters()), verify=True)
    with gramian.capture():
        losses = losses_of(model, torch.randn(5, 4), [torch.randn(5), torch.randn(5)])
    with pytest.raises(GramianPathError, match="outside the forward"):
        gramian.compute(losses)


def test_parameters_outside_the_model_are_refused():
    model = nn.Linear(2, 2)
    with pytest.raises(GramianPathError, match="belong to no module"):
        LayerwiseGramian(model, [nn.Parameter(torch.zeros(2))])


def test_compute_without_capture_says_what_to_do():
    model = nn.Linear(2, 2)
    gramian = LayerwiseGramian(model, list(model.parameters()))
    with pytest.raises(GramianPathError, match="capture"):
        gramian.compute(model(torch.randn(3, 2)).sum(0))
