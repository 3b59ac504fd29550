import io
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mtl_lib.data import leaf
from mtl_lib.data.leaf import (
    CLASS_TABLE,
    REAL_SOURCE,
    STANDIN_SOURCE,
    CorruptImageError,
    LeafData,
    decode_letterboxed,
    load_leaf,
    make_leaf_standin,
    standin_counts,
    stratified_kfold,
)
from mtl_lib.data.leaf.render import render_leaves

Image = pytest.importorskip("PIL.Image")

# An independent copy of ../shared/data/leaf-class-counts.csv (from the TFDS plant_leaves
# file list), so that a typo in the module's table cannot pass unnoticed.
CSV = """\
Mango (P0),0,healthy,0001,170
Mango (P0),0,diseased,0012,265
Arjun (P1),1,healthy,0002,220
Arjun (P1),1,diseased,0013,232
Alstonia Scholaris (P2),2,healthy,0003,179
Alstonia Scholaris (P2),2,diseased,0014,254
Gauva (P3),3,healthy,0004,277
Gauva (P3),3,diseased,0015,142
Bael (P4),4,diseased,0016,118
Jamun (P5),5,healthy,0005,279
Jamun (P5),5,diseased,0017,345
Jatropha (P6),6,healthy,0006,133
Jatropha (P6),6,diseased,0018,124
Pongamia Pinnata (P7),7,healthy,0007,322
Pongamia Pinnata (P7),7,diseased,0019,276
Basil (P8),8,healthy,0008,148
Pomegranate (P9),9,healthy,0009,287
Pomegranate (P9),9,diseased,0020,272
Lemon (P10),10,healthy,0010,159
Lemon (P10),10,diseased,0021,77
Chinar (P11),11,healthy,0011,103
Chinar (P11),11,diseased,0022,120
"""
CSV_COUNTS = {
    (int(k), 0 if health == "healthy" else 1): (plant, prefix, int(count))
    for plant, k, health, prefix, count in (line.split(",") for line in CSV.splitlines())
}

# (relative path, species, health, size WxH) of the fake tree: the dataset's odd spelling,
# spaces in names, upper- and lower-case extensions, a gap in the file index.
FILES = [
    ("Gauva (P3)/healthy/0004_0001.JPG", 3, 0, (60, 40)),
    ("Gauva (P3)/diseased/0015_0002.JPG", 3, 1, (60, 40)),
    ("Bael (P4)/diseased/0016_0001.JPG", 4, 1, (40, 60)),
    ("Pongamia Pinnata (P7)/healthy/0007_0332.jpg", 7, 0, (60, 40)),
    ("Alstonia Scholaris (P2)/diseased/0014_0003.JPG", 2, 1, (90, 60)),
    ("Basil (P8)/healthy/0008_0010.JPG", 8, 0, (60, 40)),
]


def jpeg_bytes(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def make_tree(root: Path, files=FILES) -> Path:
    for i, (rel, _, _, size) in enumerate(files):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes(size, (40 * i % 256, 200, 30 + 30 * i)))
    return root


def make_zip(tree: Path, archive: Path, top: str = "Plant leaves dataset") -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(tree.rglob("*")):
            if path.is_file():
                zf.write(path, f"{top}/{path.relative_to(tree).as_posix()}")
        zf.writestr("__MACOSX/._junk.JPG", b"not an image")
    return archive


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "leaves")


def load(source, cache: Path, **kwargs) -> LeafData:
    """These trees hold a few classes only: load them as an explicit subset (the checks of
    completeness have their own cases in tests/faults/test_leaf_loader.py)."""
    kwargs.setdefault("allow_subset", True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not the complete leaf dataset")
        return load_leaf(source, cache_dir=cache, progress=False, **kwargs)


# ----------------------------------------------------------------------------- real loader
def test_folder_with_real_naming_gives_labels_from_folders(tree, tmp_path):
    data = load(tree, tmp_path / "cache")
    assert data.source.startswith(REAL_SOURCE + " (subset: 6 of 22 classes")
    expected = sorted(FILES)
    assert data.paths == [rel for rel, *_ in expected]
    assert data.species.tolist() == [s for _, s, _, _ in expected]
    assert data.health.tolist() == [h for _, _, h, _ in expected]
    assert data.images.dtype == torch.uint8 and data.images.shape == (len(FILES), 3, 64, 64)
    assert (tmp_path / "cache" / "leaf_chouhan2019_64px.pt").exists()
    # Colours survive: Gauva healthy was drawn with (0, 200, 30).
    i = data.paths.index("Gauva (P3)/healthy/0004_0001.JPG")
    centre = data.images[i, :, 32, 32].int()
    assert abs(centre[1] - 200) < 8 and centre[0] < 10


def test_zip_with_top_level_folder_matches_folder(tree, tmp_path):
    from_folder = load(tree, tmp_path / "cache_a")
    archive = make_zip(tree, tmp_path / "hb74ynkjcn-1.zip")
    from_zip = load(archive, tmp_path / "cache_b", num_workers=2)
    assert from_zip.paths == from_folder.paths
    assert torch.equal(from_zip.images, from_folder.images)
    assert torch.equal(from_zip.species, from_folder.species)


def test_nested_archive_is_named(tmp_path):
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.writestr("Plant_leaves.zip", b"PK")
    with pytest.raises(ValueError, match="Plant_leaves.zip"):
        load(outer, tmp_path / "cache")


def test_corrupt_images_are_all_named(tree, tmp_path):
    garbage = tree / "Lemon (P10)" / "healthy" / "0010_0005.JPG"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(b"this is not a jpeg")
    truncated = tree / "Chinar (P11)" / "diseased" / "0022_0001.JPG"
    truncated.parent.mkdir(parents=True)
    truncated.write_bytes(jpeg_bytes((60, 40), (10, 100, 10))[:200])
    with pytest.raises(CorruptImageError) as info:
        load(tree, tmp_path / "cache")
    message = str(info.value)
    assert str(garbage) in message and str(truncated) in message
    assert sorted(info.value.paths) == [
        "Chinar (P11)/diseased/0022_0001.JPG",
        "Lemon (P10)/healthy/0010_0005.JPG",
    ]
    assert not (tmp_path / "cache" / "leaf_chouhan2019_64px.pt").exists()

    with pytest.warns(UserWarning, match="0010_0005"):
        data = load(tree, tmp_path / "cache", skip_corrupt=True)
    assert len(data) == len(FILES) and len(data.skipped) == 2
    # The cache remembers what it lacks: a strict load refuses it, a lenient one warns again.
    with pytest.raises(CorruptImageError):
        load(tree, tmp_path / "cache")
    with pytest.warns(UserWarning, match="skipped"):
        assert len(load(tree, tmp_path / "cache", skip_corrupt=True)) == len(FILES)


def test_prefix_folder_mismatch_names_file_and_both_labels(tree, tmp_path):
    wrong = tree / "Mango (P0)" / "healthy" / "0012_0001.JPG"
    wrong.parent.mkdir(parents=True)
    wrong.write_bytes(jpeg_bytes((60, 40), (0, 0, 0)))
    with pytest.raises(ValueError) as info:
        load(tree, tmp_path / "cache")
    message = str(info.value)
    assert "Mango (P0)/healthy/0012_0001.JPG" in message
    assert "Mango (P0) diseased" in message and "Mango (P0) healthy" in message


@pytest.mark.parametrize(
    "rel",
    [
        "Bael (P4)/healthy/0016_0001.JPG",
        "Gauva (P3)/healthy/0015_0001.JPG",
        "Gauva (P3)/healthy/IMG_1.JPG",
    ],
)
def test_other_table_violations_raise(tree, tmp_path, rel):
    path = tree / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes((60, 40), (0, 0, 0)))
    with pytest.raises(ValueError, match=rel.replace("(", r"\(").replace(")", r"\)")):
        load(tree, tmp_path / "cache")


def test_missing_source_says_where_to_get_the_data(tmp_path):
    for source in (tmp_path / "nowhere", None):
        with pytest.raises(FileNotFoundError) as info:
            load(source, tmp_path / "cache")
        message = str(info.value)
        assert "hb74ynkjcn" in message and "Mendeley" in message
        assert "python -m mtl_lib.data.leaf prepare" in message and "load_leaf(" in message


def test_cache_is_reused_without_decoding(tree, tmp_path, monkeypatch):
    first = load(tree, tmp_path / "cache")

    def fail(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(leaf.decode, "decode_letterboxed", fail)
    for source in (tree, None):
        again = load(source, tmp_path / "cache")
        assert torch.equal(again.images, first.images) and again.paths == first.paths
        assert again.source == first.source

    # A changed listing invalidates the cache: it is rebuilt (here the decoder fails loudly).
    (tree / "Gauva (P3)" / "healthy" / "0004_0002.JPG").write_bytes(jpeg_bytes((60, 40), (1, 2, 3)))
    with (
        pytest.warns(UserWarning, match="built from different files"),
        pytest.raises(CorruptImageError),
    ):
        load(tree, tmp_path / "cache")


def test_cli_prepare(tree, tmp_path, capsys):
    with pytest.warns(UserWarning, match="not the complete leaf dataset"):
        assert (
            leaf.main(
                ["prepare", str(tree), "--cache-dir", str(tmp_path / "cache"), "--allow-subset"]
            )
            == 0
        )
    assert "6 images" in capsys.readouterr().out
    assert (tmp_path / "cache" / "leaf_chouhan2019_64px.pt").exists()


def png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (255, 255, 255)).save(buffer, "PNG")
    return buffer.getvalue()


def test_letterbox_keeps_aspect_ratio_centred():
    wide = decode_letterboxed(png_bytes(128, 64), 64)  # 2:1 → 64×32 in rows 16..47
    assert wide.shape == (3, 64, 64) and wide.dtype == np.uint8
    rows = wide.max(axis=(0, 2))
    assert (rows[:16] == 0).all() and (rows[48:] == 0).all() and (rows[16:48] == 255).all()
    assert (wide.max(axis=(0, 1)) == 255).all()  # every column is used
    tall = decode_letterboxed(png_bytes(40, 80), 64)
    cols = tall.max(axis=(0, 1))
    assert (cols[:16] == 0).all() and (cols[48:] == 0).all() and (cols[16:48] == 255).all()
    photo = decode_letterboxed(png_bytes(600, 400), 64)  # 3:2 → 43 rows: 10..52, extra pad below
    used = np.nonzero(photo.max(axis=(0, 2)))[0]
    assert used.min() == 10 and used.max() == 52


# ----------------------------------------------------------------------------- stand-in
def test_table_matches_csv():
    assert {(s, h): (p, c) for s, h, p, c in CLASS_TABLE} == {
        k: v[1:] for k, v in CSV_COUNTS.items()
    }
    for (s, _h), (plant, _, _) in CSV_COUNTS.items():
        assert leaf.PLANT_FOLDERS[s] == plant
    assert sum(c for *_, c in CLASS_TABLE) == 4502


def test_standin_full_counts_equal_the_table():
    data = make_leaf_standin(image_size=8)  # full counts; tiny images keep the test fast
    assert data.source == STANDIN_SOURCE and len(data) == 4502
    assert data.class_counts() == {key: count for key, (_, _, count) in CSV_COUNTS.items()}
    assert data.images.shape == (4502, 3, 8, 8)


def test_standin_scaled_counts_and_structure():
    data = make_leaf_standin(scale=0.1, seed=3)
    counts = data.class_counts()
    for key, (_, _, full) in CSV_COUNTS.items():
        assert counts[key] == max(2, round(full * 0.1 + 1e-9)), key
        assert abs(counts[key] - full * 0.1) <= 0.5 or counts[key] == 2
    assert set(counts) == set(CSV_COUNTS)  # hence Bael only diseased, Basil only healthy
    assert (data.health[data.species == 4] == 1).all() and (
        data.health[data.species == 8] == 0
    ).all()
    assert counts == {(s, h): c for s, h, _, c in standin_counts(scale=0.1)}
    tiny = make_leaf_standin(scale=0.001, image_size=8)
    assert tiny.class_counts() == {key: 2 for key in CSV_COUNTS}
    assert len(make_leaf_standin(n_total=450, image_size=8)) == sum(
        c for *_, c in standin_counts(scale=450 / 4502)
    )


def test_standin_images_look_like_letterboxed_scenes():
    data = make_leaf_standin(scale=0.05)
    img = data.images.float()
    assert img.shape[1:] == (3, 64, 64)
    # Zero bands above and below the 3:2 scene (rows 10..52), like a letterboxed 6000×4000 photo.
    assert (img[:, :, :10] == 0).all() and (img[:, :, 53:] == 0).all()
    assert (img[:, :, 10:53].amax(dim=(1, 3)) > 0).all()
    # Leaves are green: inside the scene, green beats red more often than not.
    scene = img[:, :, 10:53]
    assert (scene[:, 1] > scene[:, 0]).float().mean() > 0.5


def test_disease_adds_brown_blemishes_to_the_same_leaf():
    # All random draws happen whatever the labels, so flipping health re-renders the same leaf,
    # pose and background: the difference is the blemishes (browner: red rises against green).
    n = 120
    species = torch.arange(n) % 12
    healthy = render_leaves(
        species, torch.zeros(n), generator=torch.Generator().manual_seed(0)
    ).float()
    diseased = render_leaves(
        species, torch.ones(n), generator=torch.Generator().manual_seed(0)
    ).float()
    browning = ((diseased[:, 0] - diseased[:, 1]) - (healthy[:, 0] - healthy[:, 1])).mean(
        dim=(1, 2)
    )
    assert (browning > 0).float().mean() > 0.85
    changed = ((diseased - healthy).abs().amax(1) > 20).float().mean(dim=(1, 2))
    assert changed.median() < 0.2  # blemishes are local, not a global colour change


def test_standin_is_deterministic_in_the_seed():
    a = make_leaf_standin(scale=0.02, seed=7)
    b = make_leaf_standin(scale=0.02, seed=7)
    c = make_leaf_standin(scale=0.02, seed=8)
    assert torch.equal(a.images, b.images) and a.paths == b.paths
    assert torch.equal(a.species, c.species) and not torch.equal(a.images, c.images)


def test_standin_rejects_bad_sizes():
    with pytest.raises(ValueError):
        make_leaf_standin(n_total=100, scale=0.5)
    with pytest.raises(ValueError):
        make_leaf_standin(scale=0.0)


def test_dataset_protocol_batches_and_grid(tmp_path):
    data = make_leaf_standin(scale=0.02)
    grid = leaf.save_grid(data, tmp_path / "grid.png", rows=2, cols=3, upscale=1)
    with Image.open(grid) as image:
        assert image.size == (3 * 66, 2 * 69)
    x, s, h = data[0]
    assert x.dtype == torch.float32 and x.shape == (3, 64, 64) and 0 <= x.min() and x.max() <= 1
    part = data.subset([0, 5, 9])
    assert len(part) == 3 and part.paths[1] == data.paths[5] and part.source == STANDIN_SOURCE
    xb, sb, hb = next(iter(data.batches(batch_size=8)))
    assert xb.shape == (8, 3, 64, 64) and sb.shape == hb.shape == (8,)
    with pytest.raises(ValueError):
        LeafData(data.images.float(), data.species, data.health, data.paths, "x")


# ----------------------------------------------------------------------------- folds
def test_stratified_folds_partition_and_spread_every_class():
    data = make_leaf_standin(scale=0.1, image_size=8)
    classes = data.classes
    assert classes.min() == 0 and classes.max() == 21 and len(torch.unique(classes)) == 22
    folds = data.stratified_kfold(5, seed=1)
    assert len(folds) == 5
    tests = [test for _, test in folds]
    union = torch.cat(tests)
    assert union.numel() == len(data) and torch.equal(union.sort().values, torch.arange(len(data)))
    for train, test in folds:
        assert not set(train.tolist()) & set(test.tolist())
        assert train.numel() + test.numel() == len(data)
    sizes = [t.numel() for t in tests]
    assert max(sizes) - min(sizes) <= 1
    for c in range(22):
        per_fold = [int((classes[t] == c).sum()) for t in tests]
        assert max(per_fold) - min(per_fold) <= 1, (c, per_fold)
        if (classes == c).sum() >= 5:
            assert min(per_fold) >= 1
    again = data.stratified_kfold(5, seed=1)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(folds, again))
    other = data.stratified_kfold(5, seed=2)
    assert not all(torch.equal(a[1], b[1]) for a, b in zip(folds, other))


def test_stratified_folds_warn_on_tiny_classes_and_reject_bad_arguments():
    labels = [0] * 10 + [1] * 2
    with pytest.warns(UserWarning, match="fewer members"):
        folds = stratified_kfold(labels, 5)
    assert sorted(torch.cat([t for _, t in folds]).tolist()) == list(range(12))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stratified_kfold([0] * 10 + [1] * 5, 5)
    with pytest.raises(ValueError):
        stratified_kfold(labels, 1)
    with pytest.raises(ValueError):
        stratified_kfold([0, 1], 5)
