import torch

from mtl_lib.data import TensorBatches, make_synthetic_regression


def test_shapes_and_determinism():
    a = make_synthetic_regression(50, 20, data_seed=1)
    b = make_synthetic_regression(50, 20, data_seed=1)
    assert a.x_train.shape == (50, 250) and a.x_test.shape == (20, 250)
    assert [y.shape for y in a.y_train] == [(50, 100), (50, 100)]
    assert torch.equal(a.y_train[1], b.y_train[1])
    c = make_synthetic_regression(50, 20, data_seed=2)
    assert not torch.equal(a.y_train[0], c.y_train[0])


def test_task_b_dominates_in_scale():
    data = make_synthetic_regression(2000, 10)
    assert data.target_scale[1] > 1.5 * data.target_scale[0]
    assert data.y_train[1].abs().mean() > 5 * data.y_train[0].abs().mean()


def test_batches_cover_every_sample_once_and_reshuffle():
    x = torch.arange(10).float().unsqueeze(1)
    batches = TensorBatches(x, batch_size=4, seed=0)
    assert len(batches) == 3
    first = torch.cat([b[0] for b in batches]).squeeze(1)
    second = torch.cat([b[0] for b in batches]).squeeze(1)
    assert sorted(first.tolist()) == list(range(10))
    assert not torch.equal(first, second)
    again = TensorBatches(x, batch_size=4, seed=0)
    assert torch.equal(torch.cat([b[0] for b in again]).squeeze(1), first)
