"""Convolutions leave the BLAS on one thread (restoring it after each call woke OpenBLAS's
spinning workers); large matrix products, Trainer.fit and restore_blas_threads give it back."""
import importlib

import numpy as np
import pytest

import deepbasic as db
from deepbasic import nn, optim
from deepbasic.data.loader import DataLoader
from deepbasic.train.trainer import Trainer

im2col_mod = importlib.import_module("deepbasic.ops.im2col")  # the module, not the function

pytestmark = pytest.mark.skipif(not im2col_mod.can_limit_blas(),
                                reason="needs threadpoolctl to set the BLAS's threads")


def _blas_threads() -> int:
    return im2col_mod._blas_libraries()[0].num_threads


@pytest.fixture
def two_blas_threads(monkeypatch):
    """The BLAS on 2 threads and the convolutions split over 2 copy threads, even if small."""
    libs = im2col_mod._blas_libraries()
    saved = [lib.num_threads for lib in libs]
    im2col_mod.restore_blas_threads()
    for lib in libs:
        lib.set_num_threads(2)
    monkeypatch.setattr(im2col_mod, "PARALLEL_MIN_ELEMENTS", 0)
    im2col_mod.set_copy_threads(2)
    yield
    im2col_mod.set_copy_threads(None)
    im2col_mod.restore_blas_threads()
    for lib, n in zip(libs, saved):
        lib.set_num_threads(n)


def _conv(rng):
    x = db.tensor(rng.standard_normal((4, 3, 8, 8)).astype(np.float32))
    return nn.Conv2d(3, 4, 3, padding=1)(x)


def test_conv_keeps_the_blas_on_one_thread_until_a_large_product(two_blas_threads):
    rng = np.random.default_rng(0)
    y = _conv(rng)
    assert _blas_threads() == 1
    y.sum().backward()
    assert _blas_threads() == 1
    small = nn.Linear(8, 4)(db.tensor(np.ones((2, 8), np.float32)))  # far below the threshold
    assert _blas_threads() == 1
    n = int(np.ceil(np.sqrt(im2col_mod.BLAS_THREADS_MIN_WORK / 64)))
    big = nn.Linear(64, n)(db.tensor(np.ones((n, 64), np.float32)))
    assert _blas_threads() == 2
    _conv(rng)
    assert _blas_threads() == 1
    db.tensor(np.ones((n, 64), np.float32)) @ db.tensor(np.ones((64, n), np.float32))
    assert _blas_threads() == 2
    _conv(rng)
    im2col_mod.restore_blas_threads()
    assert _blas_threads() == 2
    assert small.shape == (2, 4) and big.shape == (n, n)


def test_trainer_fit_gives_the_threads_back(two_blas_threads):
    db.manual_seed(0)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 8 * 8, 3))
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                      progress=False, verbose=False)
    seen = []
    original = trainer.train_epoch

    def epoch(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.append(_blas_threads())
        return out

    trainer.train_epoch = epoch
    trainer.fit(DataLoader((x, y), batch_size=8), epochs=1)
    assert seen == [1]  # the convolutions kept it on one thread during training
    assert _blas_threads() == 2
