"""load_dataset: names, search order, the not-found message, splits, digits."""
import os

import numpy as np
import pytest

import deepbasic.data.download as download
from data_helpers import fake_mnist
from deepbasic.data import (CorruptFileError, DatasetNotFoundError, DatasetSplits, Split,
                            load_dataset, search_dirs, stratified_split, user_cache_dir, write_idx)


def _loaded_offset(**kwargs):
    """Which fake_mnist copy was loaded: its label_offset is the first training label."""
    d = load_dataset("mnist", val_fraction=0.0, download=False, **kwargs)
    return int(d.train.y[0])


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; known datasets: digits, mnist, "
                                         "fashion-mnist, cifar10"):
        load_dataset("imagenet")


def test_cache_dir_respects_xdg_and_home(monkeypatch, isolated_data_env):
    assert user_cache_dir("mnist") == os.path.join(str(isolated_data_env), ".cache", "deepbasic", "mnist")
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere/cache")
    assert user_cache_dir("mnist") == "/somewhere/cache/deepbasic/mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec says: ignore it
    assert user_cache_dir() == os.path.join(str(isolated_data_env), ".cache", "deepbasic")


def test_search_order(tmp_path, monkeypatch, isolated_data_env):
    root, env, system = tmp_path / "root", tmp_path / "env", tmp_path / "sys"
    monkeypatch.setenv("DEEPBASIC_DATA", str(env))
    monkeypatch.setattr(download, "SYSTEM_DATA_DIRS", [str(system)])
    cache = user_cache_dir("mnist")
    assert [d for _, d in search_dirs("mnist", root)] == [
        str(root), str(root / "mnist"), str(env / "mnist"), cache, str(system / "mnist")]

    fake_mnist(system / "mnist", label_offset=4)
    assert _loaded_offset() == 4
    fake_mnist(cache, label_offset=3, gz=False)
    assert _loaded_offset() == 3
    fake_mnist(env / "mnist", label_offset=2)
    assert _loaded_offset() == 2
    fake_mnist(root / "mnist", label_offset=1)
    assert _loaded_offset(root=root) == 1
    assert _loaded_offset() == 2  # without root, the env var wins again
    fake_mnist(root, label_offset=5)
    assert _loaded_offset(root=root) == 5  # root itself before root/<name>


def test_incomplete_folder_is_skipped(tmp_path, monkeypatch):
    fake_mnist(tmp_path / "root", label_offset=1)
    os.remove(tmp_path / "root" / "t10k-labels-idx1-ubyte.gz")
    monkeypatch.setenv("DEEPBASIC_DATA", str(tmp_path / "env"))
    fake_mnist(tmp_path / "env" / "mnist", label_offset=2)
    assert _loaded_offset(root=tmp_path / "root") == 2


def test_offline_and_absent_explains_how_to_get_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "SYSTEM_DATA_DIRS", [str(tmp_path / "sys")])
    fake_mnist(tmp_path / "partial")
    os.remove(tmp_path / "partial" / "train-images-idx3-ubyte.gz")
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("fashion-mnist", root=tmp_path / "partial", download=False)
    assert isinstance(e.value, FileNotFoundError)
    msg = str(e.value)
    for needle in ["fashion-mnist: dataset files not found (download=False)",
                   "train-images-idx3-ubyte[.gz]",
                   f"root: {tmp_path / 'partial'} (has 3 of 4 files)",
                   str(tmp_path / "sys" / "fashion-mnist"),
                   "pass root=DIR", "DEEPBASIC_DATA=DIR", "apt-get install dataset-fashion-mnist",
                   f"download them into {user_cache_dir('fashion-mnist')}"]:
        assert needle in msg, needle
    with pytest.raises(DatasetNotFoundError, match="cifar-10-python.tar.gz") as e:
        load_dataset("cifar10", download=False)
    assert "apt-get" not in str(e.value)
    lines = str(e.value).splitlines()
    start = lines.index("Looked in, in order:")
    assert [line.split(":")[0].strip() for line in lines[start + 1:start + 5]] == [
        "root", "$DEEPBASIC_DATA", "user cache", "system"]
    assert "root: (not given)" in lines[start + 1] and "(not set)" in lines[start + 2]


def test_image_label_count_mismatch(tmp_path):
    fake_mnist(tmp_path, n_train=20)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(CorruptFileError, match="holds 20 images but .*train-labels-idx1-ubyte.gz holds 19"):
        load_dataset("mnist", root=tmp_path, download=False)


def test_truncated_file_found_in_search(tmp_path):
    fake_mnist(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(CorruptFileError, match=f"{path}: IDX payload is"):
        load_dataset("mnist", root=tmp_path, download=False)


def test_out_of_range_labels(tmp_path):
    fake_mnist(tmp_path, n_train=20)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(20, 12, np.uint8))
    with pytest.raises(CorruptFileError, match="labels must be in 0..9, found 12..12"):
        load_dataset("mnist", root=tmp_path, download=False)


def test_idx_dataset_shapes_scaling_and_split(tmp_path):
    x_train, y_train, x_test, y_test = fake_mnist(tmp_path, n_train=120, n_test=30)
    d = load_dataset("fashion-mnist", root=tmp_path, download=False)
    assert isinstance(d, DatasetSplits) and d.name == "fashion-mnist"
    assert d.classes[0] == "T-shirt/top" and len(d.classes) == 10
    assert (len(d.train), len(d.val), len(d.test)) == (110, 10, 30)  # default 1/12 held out
    assert d.train.x.shape == (110, 1, 28, 28) and d.train.x.dtype == np.float32
    assert d.train.y.dtype == np.int64 and d.test.x.shape == (30, 1, 28, 28)
    assert np.array_equal(d.test.x[:, 0], x_test / np.float32(255)) and np.array_equal(d.test.y, y_test)
    assert np.bincount(d.val.y).tolist() == [1] * 10  # stratified
    pool_x = np.concatenate([d.train.x, d.val.x])
    assert sorted(pool_x.sum(axis=(1, 2, 3)).tolist()) == sorted(
        (x_train / np.float32(255)).sum(axis=(1, 2)).tolist())
    again = load_dataset("fashion-mnist", root=tmp_path, download=False)
    other = load_dataset("fashion-mnist", root=tmp_path, download=False, seed=1)
    assert np.array_equal(again.val.x, d.val.x) and not np.array_equal(other.val.x, d.val.x)
    assert "float32(110, 1, 28, 28)" in repr(d)


def test_val_fraction_validation(tmp_path):
    fake_mnist(tmp_path)
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="val_fraction must be in"):
            load_dataset("mnist", root=tmp_path, val_fraction=bad, download=False)
    with pytest.raises(TypeError, match="val_fraction must be a number"):
        load_dataset("mnist", root=tmp_path, val_fraction="0.1", download=False)
    d = load_dataset("MNIST", root=tmp_path, val_fraction=0, download=False)
    assert len(d.val) == 0 and d.val.x.shape == (0, 1, 28, 28)


def test_stratified_split_is_exact_and_disjoint():
    y = np.repeat(np.arange(3), [50, 30, 20])
    keep, held = stratified_split(y, 0.25, seed=7)
    assert len(held) == 25 and len(keep) == 75 and not set(keep) & set(held)
    assert np.bincount(y[held]).tolist() == [13, 7, 5]  # 12.5/7.5/5: largest remainder, lower label first
    assert np.array_equal(held, stratified_split(y, 0.25, seed=7)[1])
    assert np.all(np.diff(keep) > 0) and np.all(np.diff(held) > 0)


def test_split_containers():
    s = Split(np.zeros((3, 1, 2, 2), np.float32), np.zeros(3, np.int64))
    assert len(s) == 3 and repr(s) == "Split(x=float32(3, 1, 2, 2), y=int64(3,))"
    with pytest.raises(ValueError, match="x has 3 examples but y has 2"):
        Split(s.x, np.zeros(2, np.int64))
    with pytest.raises(AttributeError):
        s.x = None  # frozen


def test_digits_split_is_fixed_and_deterministic():
    pytest.importorskip("sklearn")
    a, b = load_dataset("digits"), load_dataset("digits")
    assert (len(a.train), len(a.val), len(a.test)) == (1078, 360, 359)
    assert a.train.x.shape == (1078, 1, 8, 8) and a.train.x.dtype == np.float32
    assert a.train.y.dtype == np.int64 and a.classes == [str(k) for k in range(10)]
    assert 0.0 == a.train.x.min() and a.train.x.max() == 1.0
    for s, t in ((a.train, b.train), (a.val, b.val), (a.test, b.test)):
        assert np.array_equal(s.x, t.x) and np.array_equal(s.y, t.y)
    c = load_dataset("digits", seed=1)
    assert np.array_equal(c.test.x, a.test.x)  # the test split never moves
    assert not np.array_equal(c.val.y, a.val.y)
    counts = np.bincount(a.test.y, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: ~20% of each ~180
    from sklearn.datasets import load_digits

    full = load_digits()
    ys = np.concatenate([a.train.y, a.val.y, a.test.y])
    xs = np.concatenate([a.train.x, a.val.x, a.test.x]) * 16
    assert np.array_equal(np.bincount(ys), np.bincount(full.target))
    assert np.isclose(xs.sum(), full.images.sum())  # every image exactly once
