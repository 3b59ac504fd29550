import copy
import warnings

import pytest
import torch

from mtl_lib.architectures import ARCHITECTURES, HardSharing
from mtl_lib.architectures.rotograd import RotoGrad, RotoGradRotationStep, RotoGradSkippedWarning
from mtl_lib.engine import Trainer
from tests.helpers import regression_batches, regression_tasks, tiny_model


def _task_gradients_at_z(model, batch):
    """G_k = ∂L_k/∂z computed directly, one task at a time, without the model's hooks."""
    x, *ys = batch
    z = model.encode(x).detach().requires_grad_(True)
    rotations = model.rotations()
    grads = []
    for k, head in enumerate(model.heads):
        loss = torch.nn.functional.mse_loss(head(z @ rotations[k].T), ys[k])
        grads.append(torch.autograd.grad(loss, z)[0])
    return torch.stack(grads)


def _perturb_rotations(model, seed=0):
    with torch.no_grad():
        model.rotation_generator.copy_(
            0.3 * torch.randn(model.rotation_generator.shape, generator=torch.Generator().manual_seed(seed))
        )


def test_builder_and_parameter_partition():
    model = ARCHITECTURES.build("rotograd", base=tiny_model(3))
    assert isinstance(model, RotoGrad) and isinstance(model, HardSharing)
    assert model.latent_dim == 8 and model.rotation_generator.shape == (3, 8, 8)
    model.check_parameter_partition()
    grouped = {id(p) for p in model.shared_parameters()}
    grouped |= {id(p) for k in range(3) for p in model.task_parameters(k)}
    assert id(model.rotation_generator) not in grouped
    trainer = Trainer(model, regression_tasks(3), device="cpu", progress=False)
    in_optimizer = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert id(model.rotation_generator) not in in_optimizer
    default = ARCHITECTURES.build("rotograd")  # wraps synthetic_mlp by name
    assert default.latent_dim == 100


def test_identity_rotations_reproduce_the_wrapped_model():
    base = tiny_model(2)
    model = RotoGrad(copy.deepcopy(base))
    x = torch.randn(4, 6)
    for a, b in zip(model(x), base(x)):
        torch.testing.assert_close(a, b)


def test_homogenised_gradients_reach_z_with_equal_norms():
    model = RotoGrad(tiny_model(3))
    _perturb_rotations(model)
    batch = regression_batches(3)[0]
    expected_grads = _task_gradients_at_z(model, batch)
    norms = expected_grads.flatten(1).norm(dim=1)
    assert norms.max() / norms.min() > 10  # the tasks' scales differ (targets × 10**k)

    x, *ys = batch
    z = model.encode(x)
    z.retain_grad()
    losses = [torch.nn.functional.mse_loss(p, y) for p, y in zip(model.decode(z), ys)]
    sum(losses).backward()
    # First backward: the initial norms are these norms, so α = 1/K and C = mean norm.
    common = norms.mean()
    torch.testing.assert_close(model.last_gradient_norms, common.expand(3))
    expected = torch.einsum("k,k...->...", common / norms, expected_grads)
    torch.testing.assert_close(z.grad, expected, rtol=1e-5, atol=1e-7)
    assert model.homogenised_backwards == 1


def test_relative_progress_weights_after_the_first_step():
    model = RotoGrad(tiny_model(2))
    batches = regression_batches(2)
    x, *ys = batches[0]
    sum(torch.nn.functional.mse_loss(p, y) for p, y in zip(model(x), ys)).backward()
    initial = model.initial_gradient_norms.clone()
    model.pending_rotation_targets = None  # no rotation step in this test
    expected_grads = _task_gradients_at_z(model, batches[1])
    norms = expected_grads.flatten(1).norm(dim=1)
    x, *ys = batches[1]
    sum(torch.nn.functional.mse_loss(p, y) for p, y in zip(model(x), ys)).backward()
    ratios = norms / initial
    common = (ratios / ratios.sum() * norms).sum()
    torch.testing.assert_close(model.last_gradient_norms, common.expand(2), rtol=1e-5, atol=0)


def test_without_homogenisation_z_gets_the_plain_sum():
    model = RotoGrad(tiny_model(2), homogenize=False)
    _perturb_rotations(model, seed=1)
    batch = regression_batches(2)[0]
    expected = _task_gradients_at_z(model, batch).sum(0)
    x, *ys = batch
    z = model.encode(x)
    z.retain_grad()
    sum(torch.nn.functional.mse_loss(p, y) for p, y in zip(model.decode(z), ys)).backward()
    torch.testing.assert_close(z.grad, expected)
    assert model.last_gradient_norms is None and model.pending_rotation_targets is not None


def test_rotation_step_lowers_the_rotation_loss_and_keeps_rotations_orthogonal():
    model = RotoGrad(tiny_model(3))
    x, *ys = regression_batches(3)[0]
    sum(torch.nn.functional.mse_loss(p, y) for p, y in zip(model(x), ys)).backward()
    before = float(model.rotation_loss(model.rotation_generator))
    step = RotoGradRotationStep(optimizer="sgd", lr=1e-4)
    targets = model.pending_rotation_targets
    step.step(model)
    assert model.pending_rotation_targets is None
    model.pending_rotation_targets = targets
    after = float(model.rotation_loss(model.rotation_generator))
    assert after < before
    rotations = model.rotations()
    torch.testing.assert_close(rotations.transpose(-1, -2) @ rotations, torch.eye(8).expand(3, 8, 8), atol=1e-5, rtol=0)


@pytest.mark.parametrize("num_tasks", [2, 3])
def test_trains_through_the_engine(num_tasks):
    model = ARCHITECTURES.build("rotograd", base=tiny_model(num_tasks))
    encoder_before = [p.detach().clone() for p in model.shared_parameters()]
    generator_before = model.rotation_generator.detach().clone()
    step = RotoGradRotationStep()
    trainer = Trainer(model, regression_tasks(num_tasks), device="cpu", progress=False, callbacks=[step])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the plain path needs no fallback
        history = trainer.fit(regression_batches(num_tasks), epochs=5)
    assert trainer.step_count == 20 and step.steps == 20 and model.skipped_backwards == 0
    assert all(torch.isfinite(torch.tensor(v)) for r in history for k, v in r.items() if k.endswith("/train_loss"))
    assert any(not torch.equal(a, p) for a, p in zip(encoder_before, model.shared_parameters()))
    assert not torch.equal(generator_before, model.rotation_generator)
    rotations = model.rotations()
    eye = torch.eye(model.latent_dim).expand_as(rotations)
    torch.testing.assert_close(rotations.transpose(-1, -2) @ rotations, eye, atol=1e-5, rtol=0)
    assert torch.allclose(torch.linalg.det(rotations), torch.ones(num_tasks), atol=1e-5)
    assert not torch.allclose(rotations, eye)
    torch.testing.assert_close(model.last_gradient_norms, model.last_gradient_norms[0].expand(num_tasks))


def test_jacobian_path_trains_but_warns_that_it_cannot_homogenise():
    model = RotoGrad(tiny_model(2))
    trainer = Trainer(
        model,
        regression_tasks(2),
        aggregator="pcgrad",
        device="cpu",
        progress=False,
        callbacks=[RotoGradRotationStep()],
    )
    with pytest.warns(RotoGradSkippedWarning):
        history = trainer.fit(regression_batches(2), epochs=1)
    assert model.skipped_backwards == 4 and model.homogenised_backwards == 0
    assert all(torch.isfinite(torch.tensor(v)) for r in history for k, v in r.items() if k.endswith("/train_loss"))


def test_warns_when_rotations_are_not_trained():
    model = RotoGrad(tiny_model(2))
    trainer = Trainer(model, regression_tasks(2), device="cpu", progress=False)
    with pytest.warns(RuntimeWarning, match="RotoGradRotationStep"):
        trainer.fit(regression_batches(2), epochs=1)


def test_state_dict_round_trip():
    model = RotoGrad(tiny_model(2))
    trainer = Trainer(model, regression_tasks(2), device="cpu", progress=False, callbacks=[RotoGradRotationStep()])
    trainer.fit(regression_batches(2), epochs=1)
    clone = RotoGrad(tiny_model(2, seed=5))
    clone.load_state_dict(model.state_dict())
    torch.testing.assert_close(clone.rotation_generator, model.rotation_generator)
    torch.testing.assert_close(clone.initial_gradient_norms, model.initial_gradient_norms)
    assert clone.homogenised_backwards == model.homogenised_backwards == 4
    x = torch.randn(3, 6)
    for a, b in zip(clone(x), model(x)):
        torch.testing.assert_close(a, b)
