"""DataLoader batching and reproducible shuffling; vectorized batch transforms."""
import numpy as np
import pytest

from deepbasic.data.loader import DataLoader
from deepbasic.data.transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip


def _data(n=10):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return x, np.arange(n, dtype=np.int64)


def test_batches_cover_every_example_once():
    loader = DataLoader(_data(10), batch_size=4, shuffle=True, seed=1)
    ys = [y.numpy() for _, y in loader]
    assert [len(y) for y in ys] == [4, 4, 2] and len(loader) == 3
    assert sorted(np.concatenate(ys).tolist()) == list(range(10))
    for x, y in loader:
        assert np.array_equal(x.numpy()[:, 0], y.numpy() * 2)  # pairs stay together


def test_drop_last_and_no_shuffle_order():
    loader = DataLoader(_data(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert np.concatenate([y.numpy() for _, y in loader]).tolist() == list(range(8))


def test_shuffle_depends_only_on_seed_and_epoch():
    a = DataLoader(_data(50), batch_size=50, shuffle=True, seed=3)
    b = DataLoader(_data(50), batch_size=50, shuffle=True, seed=3)
    first = next(iter(a))[1].numpy()
    a.set_epoch(1)
    second = next(iter(a))[1].numpy()
    assert not np.array_equal(first, second)
    b.set_epoch(1)
    assert np.array_equal(next(iter(b))[1].numpy(), second)


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_data(), batch_size=0)
    with pytest.raises(ValueError, match="10 examples but y has 3"):
        DataLoader((np.zeros((10, 2)), np.zeros(3)))
    with pytest.raises(TypeError, match="expected a dataset"):
        DataLoader([1, 2, 3])


def test_normalize_per_channel():
    x = np.random.default_rng(0).random((8, 3, 4, 4)).astype(np.float32)
    mean, std = [0.1, 0.2, 0.3], [0.5, 1.0, 2.0]
    out = Normalize(mean, std)(x)
    expected = (x - np.array(mean).reshape(1, 3, 1, 1)) / np.array(std).reshape(1, 3, 1, 1)
    assert out.dtype == np.float32 and np.allclose(out, expected, atol=1e-6)
    with pytest.raises(ValueError, match="3 channel means for input with 1"):
        Normalize(mean, std)(x[:, :1])


def test_flip_mirrors_chosen_images_only():
    x = np.random.default_rng(0).random((64, 2, 3, 5)).astype(np.float32)
    out = RandomHorizontalFlip(0.5)(x, np.random.default_rng(1))
    flipped = [np.array_equal(o, xi[:, :, ::-1]) for o, xi in zip(out, x)]
    same = [np.array_equal(o, xi) for o, xi in zip(out, x)]
    assert all(f or s for f, s in zip(flipped, same))
    assert 10 < sum(flipped) < 54
    assert np.array_equal(RandomHorizontalFlip(0.0)(x, np.random.default_rng(1)), x)


def test_random_crop_is_a_window_of_the_padded_image():
    x = np.random.default_rng(0).random((16, 3, 8, 8)).astype(np.float32)
    out = RandomCrop(8, padding=2)(x, np.random.default_rng(2))
    assert out.shape == x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for o, p in zip(out, padded):
        assert any(np.array_equal(o, p[:, i:i + 8, j:j + 8]) for i in range(5) for j in range(5))
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(20, padding=1)(x, np.random.default_rng(0))


def test_compose_applies_in_order():
    x = np.ones((2, 1, 4, 4), np.float32)
    t = Compose([Normalize([1.0], [1.0]), RandomHorizontalFlip(1.0)])
    assert np.array_equal(t(x, np.random.default_rng(0)), np.zeros_like(x))
