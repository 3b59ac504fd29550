"""MultiDigits data: disjoint source splits, determinism from the seed, correct labels and
placement on hand-made composites, class balance."""

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")

from mtl_lib.data.multidigits import (  # noqa: E402
    SOURCE,
    compose,
    load_source_digits,
    make_multidigits,
    split_pools,
)

SMALL = {"n_train": 300, "n_val": 100, "n_test": 100}


@pytest.fixture(scope="module")
def data():
    return make_multidigits(**SMALL, third_task=True, data_seed=3)


def test_source_is_the_real_sklearn_digits_and_labelled_so():
    images, labels = load_source_digits()
    assert images.shape == (1797, 8, 8) and images.min() == 0.0 and images.max() == 1.0
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert "REAL" in SOURCE and "UCI" in SOURCE and "ours" in SOURCE


def test_pools_are_disjoint_cover_everything_and_are_stratified():
    _, labels = load_source_digits()
    pools = split_pools(labels, (0.6, 0.2, 0.2), seed=0)
    train, val, test = (set(pools[s].tolist()) for s in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test == set(range(1797))
    for cls in range(10):  # every class is split about 60/20/20
        share = np.mean(labels[pools["train"]] == cls) / np.mean(labels == cls)
        assert 0.95 < share < 1.05


def test_no_source_digit_is_shared_between_splits(data):
    used = {s: set(data.splits[s].sources.flatten().tolist()) for s in ("train", "val", "test")}
    assert not (used["train"] & used["val"])
    assert not (used["train"] & used["test"])
    assert not (used["val"] & used["test"])
    for split, sources in used.items():
        assert sources <= set(data.pools[split].tolist())
    # the two digits of one composite are different source images
    for split in data.splits.values():
        assert (split.sources[:, 0] != split.sources[:, 1]).all()


def test_same_seed_same_data_other_seed_other_data():
    a = make_multidigits(**SMALL, data_seed=5)
    b = make_multidigits(**SMALL, data_seed=5)
    c = make_multidigits(**SMALL, data_seed=6)
    for split in ("train", "val", "test"):
        assert torch.equal(a.splits[split].images, b.splits[split].images)
        assert torch.equal(a.splits[split].sources, b.splits[split].sources)
        assert torch.equal(a.splits[split].labels["left"], b.splits[split].labels["left"])
    assert not torch.equal(a.splits["train"].images, c.splits["train"].images)
    assert not np.array_equal(a.pools["test"], c.pools["test"])


def test_labels_and_pixels_match_the_sources(data):
    images, labels = load_source_digits()
    for split in data.splits.values():
        left, right = split.sources[:, 0].numpy(), split.sources[:, 1].numpy()
        assert np.array_equal(split.labels["left"].numpy(), labels[left])
        assert np.array_equal(split.labels["right"].numpy(), labels[right])
        assert np.array_equal(split.labels["parity"].numpy(), (labels[left] + labels[right]) % 2)
        for i in range(10):  # rebuild each composite from its sources and placements
            (lr, lc), (rr, rc) = split.offsets[i].tolist()
            expected = compose(images[left[i]], images[right[i]], 12, (lr, lc), (rr, rc))
            assert np.array_equal(split.images[i, 0].numpy(), expected)
            assert 0 <= lr <= 1 and 0 <= lc <= 1 and 3 <= rr <= 4 and 3 <= rc <= 4


def test_hand_made_composite():
    left = np.zeros((8, 8), np.float32)
    left[:, 0] = 1.0  # a vertical bar in the left digit's first column
    right = np.zeros((8, 8), np.float32)
    right[7, :] = 0.5  # a horizontal bar in the right digit's last row
    right[0, 0] = 0.25
    image = compose(left, right, 12, (1, 0), (4, 3))
    assert image[1:9, 0].tolist() == [1.0] * 8 and image[0, 0] == 0 and image[9, 0] == 0
    assert image[11, 3:11].tolist() == [0.5] * 8
    assert image[4, 3] == 0.25
    image = compose(left, right, 12, (0, 3), (4, 3))  # overlap: the pixel-wise maximum wins
    assert image[4, 3] == 1.0
    assert image.sum() == pytest.approx(8 * 1.0 + 8 * 0.5 + 0.0)  # right[0,0] lies under the bar
    with pytest.raises(ValueError, match="outside"):
        compose(left, right, 12, (0, 0), (5, 5))


def test_class_balance_table_counts_every_composite(data):
    table = data.class_balance()
    assert table.loc[("train", "left")].sum() == SMALL["n_train"]
    assert table.loc[("test", "parity")].sum() == SMALL["n_test"]
    # stratified pools used about equally: no class is rare
    assert table.loc[("train", "left")].min() > 0.5 * SMALL["n_train"] / 10


def test_bad_options_say_what_is_wrong():
    with pytest.raises(ValueError, match="max_shift"):
        make_multidigits(**SMALL, canvas=12, max_shift=5)
    with pytest.raises(ValueError, match="canvas"):
        make_multidigits(**SMALL, canvas=6)
    with pytest.raises(ValueError, match="n_val"):
        make_multidigits(n_train=10, n_val=0, n_test=10)


def test_data_settings_are_checked_before_anything_is_built():
    """Issue 25: make_multidigits refuses wrong types and ranges with the option's name."""
    from mtl_lib.core.options import OptionError

    with pytest.raises(OptionError, match=r"make_multidigits: option 'n_train' must be an integer, got '64' \(str\)"):
        make_multidigits(n_train="64", n_val=10, n_test=10)
    with pytest.raises(OptionError, match=r"'data_seed' must be an integer >= 0, got -1"):
        make_multidigits(**SMALL, data_seed=-1)
    with pytest.raises(OptionError, match=r"'fractions' must be three positive numbers .* summing to 1"):
        make_multidigits(**SMALL, fractions=(0.5, 0.5))
    with pytest.raises(OptionError, match=r"'fractions' must hold finite real numbers"):
        make_multidigits(**SMALL, fractions=(0.6, float("nan"), 0.2))
