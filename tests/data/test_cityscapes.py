import numpy as np
import pytest
import torch

from mtl_lib.data.cityscapes import (
    CITYSCAPES_CLASSES,
    IGNORE_INDEX,
    REAL_SOURCE,
    STANDIN_SOURCE,
    CityscapesFileError,
    MTANCityscapes,
    load_cityscapes,
    load_cityscapes_split,
    make_cityscapes_standin,
)

H, W = 8, 16
SKY = CITYSCAPES_CLASSES.index("sky")
FLAT = CITYSCAPES_CLASSES.index("flat")
VEHICLE = CITYSCAPES_CLASSES.index("vehicle")


@pytest.fixture(autouse=True, scope="module")
def _one_intra_op_thread():
    """These tensors are small: with several test processes sharing two cores, intra-op
    threads mostly wait on each other (measured 10-40x slower), so run these tests on one."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _sample(index: int):
    """A sample whose values encode (row, column, channel, index), to check orientation."""
    rows = np.arange(H, dtype=np.float32)[:, None] / H
    cols = np.arange(W, dtype=np.float32)[None, :] / W
    image = np.stack(
        [np.broadcast_to(rows, (H, W)), np.broadcast_to(cols, (H, W)), np.full((H, W), index / 10, np.float32)], -1
    )
    rng = np.random.default_rng(index)
    label = rng.integers(-1, 7, size=(H, W)).astype(np.float32)  # MTAN stores labels as floats
    label[0, 0] = -1
    depth = (rows + 2 * cols + index)[..., None].astype(np.float32)
    depth[0, 0, 0] = 0.0
    return image, label, depth


def _write_tree(root, n_train=3, n_val=2):
    for split, n in (("train", n_train), ("val", n_val)):
        for folder in ("image", "label_7", "depth"):
            (root / split / folder).mkdir(parents=True)
        for i in range(n):
            for folder, array in zip(("image", "label_7", "depth"), _sample(i)):
                np.save(root / split / folder / f"{i}.npy", array)
    return root


def test_loader_shapes_dtypes_and_orientation(tmp_path):
    root = _write_tree(tmp_path / "cityscapes")
    dataset = MTANCityscapes(root, "train")
    assert len(dataset) == 3
    image, seg, depth = dataset[2]
    assert image.shape == (3, H, W) and image.dtype == torch.float32
    assert seg.shape == (H, W) and seg.dtype == torch.int64
    assert depth.shape == (1, H, W) and depth.dtype == torch.float32
    ref_image, ref_label, ref_depth = _sample(2)
    # channel c of the tensor is channel c of the file; rows stay rows and columns columns
    torch.testing.assert_close(image[0, :, 0], torch.arange(H) / H)
    torch.testing.assert_close(image[1, 0, :], torch.arange(W) / W)
    torch.testing.assert_close(image, torch.from_numpy(ref_image).permute(2, 0, 1))
    assert torch.equal(seg, torch.from_numpy(ref_label).long())
    assert seg[0, 0] == IGNORE_INDEX  # the ignore label is kept, not remapped
    torch.testing.assert_close(depth[0], torch.from_numpy(ref_depth[..., 0]))
    assert depth[0, 0, 0] == 0


def test_load_split_and_limit(tmp_path):
    root = _write_tree(tmp_path / "cs")
    split = load_cityscapes_split(root, "train", limit=2)
    assert len(split) == 2 and split.source == REAL_SOURCE
    for i in range(2):
        image, seg, depth = MTANCityscapes(root, "train")[i]
        assert (
            torch.equal(split.images[i], image)
            and torch.equal(split.seg[i], seg)
            and torch.equal(split.depth[i], depth)
        )
    data = load_cityscapes(root, height=4, width=8)
    assert data.source == REAL_SOURCE
    assert (len(data.train), len(data.val)) == (3, 2)
    assert data.train.images.shape == (3, 3, 4, 8) and data.val.seg.shape == (2, 4, 8)
    assert set(data.train.seg.unique().tolist()) <= set(range(-1, 7))  # nearest: no new labels


def test_missing_folder_names_the_path_and_the_layout(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        MTANCityscapes(missing)
    message = str(info.value)
    assert str(missing) in message and "label_7" in message and "lorenmt/mtan" in message

    root = _write_tree(tmp_path / "cs")
    for path in (root / "val" / "depth").iterdir():
        path.unlink()
    (root / "val" / "depth").rmdir()
    with pytest.raises(FileNotFoundError, match=str(root / "val" / "depth")):
        load_cityscapes(root)


def test_missing_sample_file_is_named(tmp_path):
    root = _write_tree(tmp_path / "cs")
    # same number of files, but sample 1 is missing: the first missing path is named
    (root / "train" / "image" / "1.npy").rename(root / "train" / "image" / "7.npy")
    with pytest.raises(FileNotFoundError, match=str(root / "train" / "image" / "1.npy")):
        MTANCityscapes(root, "train")


def test_count_mismatch_is_an_error(tmp_path):
    root = _write_tree(tmp_path / "cs")
    (root / "train" / "depth" / "2.npy").unlink()
    with pytest.raises(ValueError, match="disagree"):
        MTANCityscapes(root, "train")


def test_wrong_label_set_is_an_error(tmp_path):
    root = _write_tree(tmp_path / "cs")
    np.save(root / "train" / "label_7" / "0.npy", np.full((H, W), 18.0, np.float32))
    with pytest.raises(ValueError, match="label"):
        MTANCityscapes(root, "train")[0]


def test_label_with_a_channel_axis_is_refused_with_the_fix(tmp_path):
    """Issue 25: a label of shape (H, W, 1) used to load silently; MTAN's label files are (H, W)."""
    root = _write_tree(tmp_path / "cs")
    label_path = root / "train" / "label_7" / "1.npy"
    np.save(label_path, _sample(1)[1][..., None])
    with pytest.raises(CityscapesFileError) as info:
        load_cityscapes(root)
    message = str(info.value)
    assert str(label_path) in message and f"({H}, {W}, 1)" in message
    assert "trailing channel axis" in message and "np.load(path)[..., 0]" in message
    assert info.value.path == label_path


def test_depth_without_its_channel_axis_is_refused_with_the_fix(tmp_path):
    root = _write_tree(tmp_path / "cs")
    depth_path = root / "val" / "depth" / "0.npy"
    np.save(depth_path, _sample(0)[2][..., 0])
    with pytest.raises(CityscapesFileError, match=r"expected depth of shape \(8, 16, 1\).*\[\.\.\., None\]"):
        load_cityscapes(root)


def test_an_image_of_another_size_is_named_beside_its_label(tmp_path):
    """Issue 25: when the image is the file that differs, the error named only the label."""
    root = _write_tree(tmp_path / "cs")
    image_path = root / "train" / "image" / "2.npy"
    np.save(image_path, np.zeros((H + 2, W, 3), np.float32))
    with pytest.raises(CityscapesFileError) as info:
        MTANCityscapes(root, "train")[2]
    message = str(info.value)
    assert str(root / "train" / "label_7" / "2.npy") in message  # the file whose check failed
    assert str(image_path) in message and f"({H + 2}, {W})" in message  # and the image it disagrees with
    assert "share one size" in message


def test_samples_of_different_sizes_name_both_images(tmp_path):
    root = _write_tree(tmp_path / "cs")
    big = [np.zeros((H + 2, W, 3), np.float32), np.zeros((H + 2, W), np.float32), np.ones((H + 2, W, 1), np.float32)]
    for folder, array in zip(("image", "label_7", "depth"), big):
        np.save(root / "train" / folder / "1.npy", array)
    with pytest.raises(ValueError) as info:
        load_cityscapes_split(root, "train")
    message = str(info.value)
    assert str(root / "train" / "image" / "1.npy") in message and str(root / "train" / "image" / "0.npy") in message


# --------------------------------------------------------------------------- stand-in
@pytest.fixture(scope="module")
def standin():
    return make_cityscapes_standin(32, 8, height=32, width=64, seed=0)


def test_standin_is_deterministic_and_prefix_stable(standin):
    again = make_cityscapes_standin(32, 8, height=32, width=64, seed=0)
    for a, b in ((standin.train, again.train), (standin.val, again.val)):
        assert torch.equal(a.images, b.images) and torch.equal(a.seg, b.seg) and torch.equal(a.depth, b.depth)
    small = make_cityscapes_standin(5, 3, height=32, width=64, seed=0)
    assert torch.equal(small.train.images, standin.train.images[:5])
    assert torch.equal(small.val.depth, standin.val.depth[:3])
    other = make_cityscapes_standin(5, 3, height=32, width=64, seed=1)
    assert not torch.equal(other.train.images, small.train.images)
    assert not torch.equal(standin.train.images[:8], standin.val.images)  # splits differ


def test_standin_shapes_and_value_ranges(standin):
    assert standin.source == STANDIN_SOURCE == standin.train.source
    tr = standin.train
    assert tr.images.shape == (32, 3, 32, 64) and tr.images.dtype == torch.float32
    assert tr.seg.shape == (32, 32, 64) and tr.seg.dtype == torch.int64
    assert tr.depth.shape == (32, 1, 32, 64) and tr.depth.dtype == torch.float32
    assert tr.images.min() >= 0 and tr.images.max() <= 1
    assert tr.images.std() > 0.1  # not a flat image
    assert tr.seg.min() >= IGNORE_INDEX and tr.seg.max() < len(CITYSCAPES_CLASSES)
    ignored = (tr.seg == IGNORE_INDEX).float().mean()
    assert 0 < ignored < 0.2
    assert torch.isfinite(tr.depth).all() and tr.depth.min() >= 0 and tr.depth.max() <= 1
    valid = tr.depth[:, 0] > 0
    assert 0.5 < valid.float().mean() < 0.98


def test_standin_class_coverage(standin):
    seg = torch.cat([standin.train.seg, standin.val.seg])
    counts = torch.bincount(seg[seg >= 0], minlength=len(CITYSCAPES_CLASSES))
    assert (counts > 0).all(), dict(zip(CITYSCAPES_CLASSES, counts.tolist()))
    share = counts.double() / counts.sum()
    assert share[FLAT] > 0.2 and share[CITYSCAPES_CLASSES.index("construction")] > 0.1
    per_image = torch.stack([(standin.train.seg == c).flatten(1).any(1) for c in range(7)], 1).float().mean(0)
    assert per_image[FLAT] == 1 and per_image[VEHICLE] > 0.5 and per_image[SKY] > 0.5


def test_standin_depth_follows_geometry(standin):
    seg, depth = standin.train.seg, standin.train.depth[:, 0]
    assert (depth[seg == SKY] == 0).all()  # sky carries no depth
    assert (depth[seg == IGNORE_INDEX] >= 0).all()
    # ground depth grows towards the horizon (upwards in the image)
    rows = torch.arange(seg.shape[1]).view(1, -1, 1).expand_as(seg)
    on_road = (seg == FLAT) & (depth > 0)
    r, d = rows[on_road].double(), depth[on_road].double()
    corr = ((r - r.mean()) * (d - d.mean())).mean() / (r.std() * d.std())
    assert corr < -0.5
    # an object has the depth of where it stands: few distinct depths on vehicle pixels
    for i in range(seg.shape[0]):
        values = depth[i][(seg[i] == VEHICLE) & (depth[i] > 0)].unique()
        assert values.numel() <= 12
