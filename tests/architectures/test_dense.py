import math
import warnings

import pytest
import torch

import mtl_lib.problems.cityscapes  # noqa: F401  (registers "cityscapes")
from mtl_lib.architectures import ARCHITECTURES
from mtl_lib.architectures.dense import SegNetTrunk, dense_segnet, parameter_counts
from mtl_lib.core.jacobian import BatchedJacobianFallbackWarning, task_jacobians
from mtl_lib.engine import Trainer
from mtl_lib.experiments import PROBLEMS
from mtl_lib.problems.cityscapes import depth_loss, segmentation_loss


@pytest.fixture(autouse=True, scope="module")
def _one_intra_op_thread():
    """These tensors are small: with several test processes sharing two cores, intra-op
    threads mostly wait on each other (measured 10-40x slower), so run these tests on one."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("skip", [False, True])
def test_output_shapes(skip):
    torch.manual_seed(0)
    model = ARCHITECTURES.build("dense_segnet", width=8, skip=skip)
    x = torch.randn(2, 3, 32, 64)
    seg, depth = model(x)
    assert seg.shape == (2, 7, 32, 64) and depth.shape == (2, 1, 32, 64)
    assert model.encode(x).shape == (2, 8, 32, 64)
    assert model.task_names == ["segmentation", "depth"]


def test_input_size_must_be_a_multiple_of_eight():
    with pytest.raises(ValueError, match="multiple of 8"):
        SegNetTrunk(width=4)(torch.randn(1, 3, 30, 64))


def test_parameter_partition_and_documented_counts():
    model = dense_segnet()
    model.check_parameter_partition()
    shared = {id(p) for p in model.shared_parameters()}
    assert shared == {id(p) for p in model.encoder.parameters()}
    for k in range(2):
        own = {id(p) for p in model.task_parameters(k)}
        assert own == {id(p) for p in model.heads[k].parameters()} and not own & shared
    # the numbers quoted in the module docstring
    assert parameter_counts(model) == {"shared": 185_712, "segmentation": 2_455, "depth": 2_353, "total": 190_520}
    assert parameter_counts(dense_segnet(skip=True))["shared"] == 211_056


def test_batched_jacobian_needs_no_fallback():
    torch.manual_seed(0)
    model = dense_segnet(width=4)
    x, seg, depth = torch.randn(2, 3, 16, 32), torch.randint(-1, 7, (2, 16, 32)), torch.rand(2, 1, 16, 32)
    params = model.shared_parameters()

    def losses():
        s, d = model(x)
        return torch.stack([segmentation_loss(s, seg), depth_loss(d, depth)])

    with warnings.catch_warnings():
        warnings.simplefilter("error", BatchedJacobianFallbackWarning)
        batched = task_jacobians(losses(), params, batched=True)
    looped = task_jacobians(losses(), params, batched=False)
    for a, b in zip(batched, looped):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_depth_loss_ignores_invalid_pixels():
    target = torch.tensor([[[[0.0, 0.5], [1.0, 0.0]]]])
    pred = torch.tensor([[[[9.0, 0.25], [2.0, -9.0]]]])
    assert depth_loss(pred, target).item() == pytest.approx((0.25 + 1.0) / 2)
    assert depth_loss(pred, torch.zeros_like(target)).item() == 0.0


@pytest.mark.parametrize("aggregator", [None, "pcgrad"])
def test_twenty_steps_on_the_standin(aggregator):
    torch.manual_seed(0)
    problem = PROBLEMS.get("cityscapes")(
        seed=0, batch_size=2, device=torch.device("cpu"), n_train=40, n_val=8, height=32, width=64, model_width=8
    )
    assert "STAND-IN" in problem.description
    trainer = Trainer(problem.model, problem.tasks, aggregator=aggregator, lr=1e-3, device="cpu", progress=False)
    before = [p.detach().clone() for p in problem.model.shared_parameters()]
    history = trainer.fit(problem.train_data, epochs=1, eval_data=problem.eval_data)
    record = history[-1]
    assert record["steps"] == 20
    for key in ("segmentation/train_loss", "depth/train_loss", "segmentation/loss", "depth/loss"):
        assert math.isfinite(record[key]), key
    assert 0 <= record["segmentation/miou"] <= 1 and 0 <= record["segmentation/pix_acc"] <= 1
    assert math.isfinite(record["depth/abs_err"]) and record["depth/abs_err"] >= 0
    assert math.isfinite(record["depth/rel_err"]) and record["depth/rel_err"] >= 0
    assert any(not torch.equal(a, b) for a, b in zip(before, problem.model.shared_parameters()))


def test_unknown_option_is_rejected():
    with pytest.raises(TypeError, match="unknown cityscapes options"):
        PROBLEMS.get("cityscapes")(seed=0, batch_size=2, device=torch.device("cpu"), n_trian=4)
