import torch

from mtl_lib.aggregators.pcgrad_wrapper import PCGradWrapper
from mtl_lib.engine import Trainer
from tests.helpers import regression_batches, regression_tasks, tiny_model


def _reference_port(grads_per_task, shared_mask, generator):
    """A plain re-statement of the port's rule: project full gradients, mean shared, sum rest."""
    projected = []
    for i, g in enumerate(grads_per_task):
        g = g.clone()
        order = torch.randperm(len(grads_per_task), generator=generator).tolist()
        for j in order:
            if j == i:
                continue
            other = grads_per_task[j]
            dot = g @ other
            if dot < 0:
                g = g - dot / (other @ other) * other
        projected.append(g)
    stacked = torch.stack(projected)
    return torch.where(shared_mask, stacked.mean(0), stacked.sum(0))


def test_matches_the_port_rule_on_a_model():
    model = tiny_model(3)
    batch = regression_batches(3)[0]
    x, *ys = batch
    params = model.shared_parameters() + [p for k in range(3) for p in model.task_parameters(k)]
    rows = []
    for k in range(3):
        loss = torch.nn.functional.mse_loss(model(x)[k], ys[k])
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)]))
    n_shared = sum(p.numel() for p in model.shared_parameters())
    shared_mask = torch.arange(rows[0].numel()) < n_shared
    expected = _reference_port(rows, shared_mask, torch.Generator().manual_seed(5))

    trainer = Trainer(
        model,
        regression_tasks(3),
        aggregator=PCGradWrapper(seed=5),
        optimizer="sgd",
        lr=0.0,
        device="cpu",
        progress=False,
    )
    trainer.train_step(batch)
    got = torch.cat([p.grad.reshape(-1) for p in params])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)


def test_no_conflict_means_average_shared_and_own_heads():
    jac = torch.tensor([[1.0, 1.0, 2.0, 0.0], [1.0, 0.0, 0.0, 3.0]])
    agg = PCGradWrapper()
    agg.bind_all_parameters(["w", "h0", "h1"], [2, 1, 1], [True, False, False])
    out = agg(jac).direction
    torch.testing.assert_close(out, torch.tensor([1.0, 0.5, 2.0, 3.0]))
    summed = PCGradWrapper(reduction="sum")
    summed.bind_all_parameters(["w", "h0", "h1"], [2, 1, 1], [True, False, False])
    torch.testing.assert_close(summed(jac).direction, jac.sum(0))


def test_state_round_trip():
    a = PCGradWrapper(seed=3, reduction="sum")
    b = PCGradWrapper()
    b.load_state_dict(a.state_dict())
    assert b.reduction == "sum" and b.seed == 3
