import pytest
import torch
from torch import nn

from mtl_lib.architectures.lass import LaSSSchedule, lass_phases, magnitude_mask, search_masks
from mtl_lib.architectures.leaf_cnn import LeafCNN, MaskedLinear
from mtl_lib.core import Task
from mtl_lib.engine import Trainer

TASKS = [Task("species", nn.functional.cross_entropy), Task("health", nn.functional.cross_entropy)]


def _batches(n=3, size=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [
        (
            torch.rand(8, 3, size, size, generator=gen),
            torch.randint(0, 12, (8,), generator=gen),
            torch.randint(0, 2, (8,), generator=gen),
        )
        for _ in range(n)
    ]


def _model(**kw):
    torch.manual_seed(0)
    return LeafCNN(image_size=16, channels=(8, 16), fc=(32, 16), **kw)


def test_partition_and_shapes():
    model = _model(modulation=True, lass=True)
    model.check_parameter_partition()
    out = model(_batches()[0][0])
    assert [o.shape for o in out] == [(8, 12), (8, 2)]
    assert len(model.task_parameters(0)) == 2 + 2  # head weight+bias, one scale per conv


def test_modulation_weights_get_only_their_tasks_gradient():
    model = _model(modulation=True)
    x, y_species, y_health = _batches()[0]
    out = model(x)
    nn.functional.cross_entropy(out[1], y_health).backward()  # task 1 only
    for m in model.modulations:
        assert m.scales[0].grad is None or torch.count_nonzero(m.scales[0].grad) == 0
        assert torch.count_nonzero(m.scales[1].grad) > 0
    # through the engine with PCGrad, task 0's scales equal task 0's own gradient
    model = _model(modulation=True)
    expected = torch.autograd.grad(nn.functional.cross_entropy(model(x)[0], y_species), model.task_parameters(0))
    trainer = Trainer(model, TASKS, aggregator="pcgrad", optimizer="sgd", lr=0.0, device="cpu", progress=False)
    trainer.train_step((x, y_species, y_health))
    for p, g in zip(model.task_parameters(0), expected):
        torch.testing.assert_close(p.grad, g)


def test_magnitude_mask_exact_sparsity():
    w = torch.randn(10, 7)
    mask = magnitude_mask(w, 0.5)
    assert mask.sum() == 35
    assert w.abs()[~mask].max() <= w.abs()[mask].min()
    with pytest.raises(ValueError):
        magnitude_mask(w, 1.0)


def test_lass_masks_have_sparsity_touch_only_fc_and_block_that_tasks_gradient():
    model = _model(lass=True)
    batches = _batches()
    masks = search_masks(model, TASKS, batches, alpha=0.5, finetune_epochs=1)
    fcs = model.masked_layers()
    assert len(masks) == len(fcs) == 2
    assert not any(isinstance(m, MaskedLinear) for m in model.convs)
    for layer, m in zip(fcs, masks):
        assert m.shape == (2, *layer.weight.shape)
        for t in range(2):
            assert m[t].float().mean().item() == pytest.approx(0.5, abs=1e-3)
        layer.set_masks(m)
    x, y_species, y_health = batches[0]
    nn.functional.cross_entropy(model(x)[0], y_species).backward()
    for layer in fcs:
        assert torch.count_nonzero(layer.weight.grad[~layer.masks[0]]) == 0
        assert torch.count_nonzero(layer.weight.grad[layer.masks[0]]) > 0


def test_masked_weights_of_a_task_receive_no_update_from_it():
    model = _model(lass=True)
    for layer in model.masked_layers():
        masks = torch.ones_like(layer.masks)
        masks[0] = magnitude_mask(torch.randn_like(layer.weight), 0.5)
        masks[1] = ~masks[0]  # disjoint subnetworks
        layer.set_masks(masks)
    before = [layer.weight.detach().clone() for layer in model.masked_layers()]
    trainer = Trainer(model, TASKS, optimizer="sgd", lr=0.1, device="cpu", progress=False)
    x, y_species, _ = _batches()[0]
    # Only task 0 contributes a gradient (task 1's loss is identically zero), so any weight that
    # moves was moved by task 0; with plain SGD nothing else can move it.
    trainer.tasks = [TASKS[0], Task("health", lambda p, t: 0.0 * p.sum())]
    trainer.train_step((x, y_species, torch.zeros(8, dtype=torch.long)))
    for layer, w0 in zip(model.masked_layers(), before):
        changed = layer.weight.detach() != w0
        assert not changed[~layer.masks[0]].any()
        assert changed[layer.masks[0]].any()


def test_schedule_switches_masks_on_at_post_mask():
    model = _model(lass=True)
    batches = _batches()
    schedule = LaSSSchedule(batches, finetune_epochs=1)
    trainer = Trainer(
        model,
        TASKS,
        aggregator="pcgrad_wrapper",
        optimizer="adam",
        lr=5e-4,
        device="cpu",
        progress=False,
        callbacks=[schedule],
    )
    history = trainer.fit(batches, phases=lass_phases(4))
    assert [h["phase"] for h in history] == ["pre_mask", "pre_mask", "post_mask", "post_mask"]
    assert all(layer.masks_active for layer in model.masked_layers())
    assert schedule.masks is not None
    with pytest.raises(ValueError):
        lass_phases(1)
