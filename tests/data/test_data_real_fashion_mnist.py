"""The real Fashion-MNIST as Debian's dataset-fashion-mnist installs it (skipped when absent)."""
import os

import numpy as np
import pytest

import deepbasic.data.download as download
from deepbasic.data import load_dataset

SYSTEM_DIR = "/usr/share/datasets"
FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte"]


def _installed() -> bool:
    folder = os.path.join(SYSTEM_DIR, "fashion-mnist")
    return all(os.path.isfile(os.path.join(folder, f)) or os.path.isfile(os.path.join(folder, f + ".gz"))
               for f in FILES)


def test_real_fashion_mnist_from_the_system_folder(monkeypatch):
    if not _installed():
        pytest.skip("Fashion-MNIST is not installed in /usr/share/datasets/fashion-mnist "
                    "(apt-get install dataset-fashion-mnist)")
    monkeypatch.setattr(download, "SYSTEM_DATA_DIRS", [SYSTEM_DIR])
    d = load_dataset("fashion-mnist", download=False)
    assert len(d.train) + len(d.val) == 60_000 and len(d.test) == 10_000
    assert (len(d.train), len(d.val)) == (55_000, 5_000)
    assert d.train.x.shape[1:] == (1, 28, 28) and d.train.x.dtype == np.float32
    assert 0.0 == d.test.x.min() and d.test.x.max() == 1.0
    assert np.bincount(d.test.y).tolist() == [1000] * 10
    assert np.bincount(d.val.y).tolist() == [500] * 10
