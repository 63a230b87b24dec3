"""``load_dataset``: one call from a dataset's name to float32 train/val/test splits.

================  ======================  =========  ====================================
name              x per split             classes    source
================  ======================  =========  ====================================
``digits``        (N, 1, 8, 8)            10         scikit-learn's bundled copy (offline)
``mnist``         (N, 1, 28, 28)          10         IDX files
``fashion-mnist`` (N, 1, 28, 28)          10         IDX files (Debian: dataset-fashion-mnist)
``cifar10``       (N, 3, 32, 32)          10         CIFAR-10 python version (pickles)
================  ======================  =========  ====================================

Splits: ``test`` is the official test set (for digits, a fixed stratified 20% of the 1,797
images, the same whatever ``seed``); ``val`` is a stratified, seeded ``val_fraction`` of the
training pool and ``train`` the rest. Defaults: digits 0.25 (so 60/20/20 overall: 1078/360/359),
MNIST and Fashion-MNIST 1/12 (55,000/5,000/10,000), CIFAR-10 0.1 (45,000/5,000/10,000).
Where files are looked for and how they are downloaded: see :mod:`deepbasic.data.download`.
"""
from __future__ import annotations

import os

import numpy as np

from deepbasic.data import cifar
from deepbasic.data.download import (ENV_DATA, download_file, mirror_urls, search_dirs,
                                     user_cache_dir)
from deepbasic.data.errors import CorruptFileError, DatasetNotFoundError, DownloadError
from deepbasic.data.idx import read_idx_pair
from deepbasic.data.splits import DatasetSplits, check_fraction, make_splits, stratified_split

KNOWN_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar_10": "cifar10"}

DEFAULT_VAL_FRACTION = {"digits": 0.25, "mnist": 1 / 12, "fashion-mnist": 1 / 12, "cifar10": 0.1}
DIGITS_TEST_FRACTION = 0.2
DIGITS_TEST_SEED = 0

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

#: Official download locations (base URLs), tried in order; ``$DEEPBASIC_MIRROR`` replaces them.
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist",
              "https://storage.googleapis.com/cvdf-datasets/mnist"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
                      "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion"],
    "cifar10": ["https://www.cs.toronto.edu/~kriz"],
}

#: Published MD5 checksums of the files as downloaded.
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "cifar10": {cifar.ARCHIVE: "c58f30108f718f92721af3b95e74349a"},
}

CLASSES = {
    "digits": [str(d) for d in range(10)],
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
}

_APT = {"fashion-mnist": "dataset-fashion-mnist"}


def _canonical(name: str) -> str:
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in KNOWN_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(KNOWN_DATASETS)}")
    return key


def _not_found(name: str, looked: list[str], needed: str, reason: str) -> DatasetNotFoundError:
    looked = list(looked)
    if not os.environ.get(ENV_DATA):
        looked.insert(sum(line.startswith("root") for line in looked), f"${ENV_DATA}: (not set)")
    if not looked[0].startswith("root"):
        looked.insert(0, "root: (not given)")
    cache = user_cache_dir(name)
    ways = ["pass root=DIR (command line: --data-root DIR) naming a folder that holds them",
            f"set DEEPBASIC_DATA=DIR and put them in DIR/{name}"]
    if name in _APT:
        ways.append(f"apt-get install {_APT[name]} (Debian/Ubuntu; installs /usr/share/datasets/{name})")
    ways.append(f"go online and call load_dataset({name!r}, download=True) to download them into {cache}")
    return DatasetNotFoundError(
        f"{name}: dataset files not found ({reason}).\nNeeded: {needed}\nLooked in, in order:\n"
        + "".join(f"  {line}\n" for line in looked)
        + "To get them, any one of:\n" + "\n".join(f"  - {w}" for w in ways))


def _idx_paths(folder: str) -> dict[str, str]:
    """{base name: existing path} for the IDX files in ``folder`` (raw preferred over .gz)."""
    found = {}
    for base in IDX_FILES:
        for candidate in (base, base + ".gz"):
            if os.path.isfile(os.path.join(folder, candidate)):
                found[base] = os.path.join(folder, candidate)
                break
    return found


def _locate_idx(name: str, root, download: bool) -> dict[str, str]:
    looked = []
    for label, folder in search_dirs(name, root):
        found = _idx_paths(folder)
        if len(found) == len(IDX_FILES):
            return found
        note = f" (has {len(found)} of {len(IDX_FILES)} files)" if found else ""
        looked.append(f"{label}: {folder}{note}")
    needed = ", ".join(f"{b}[.gz]" for b in IDX_FILES)
    if not download:
        raise _not_found(name, looked, needed, "download=False")
    cache = user_cache_dir(name)
    found = _idx_paths(cache)
    for base in IDX_FILES:
        if base in found:
            continue
        filename = base + ".gz"
        try:
            found[base] = download_file(mirror_urls(name, filename, MIRRORS[name]),
                                        os.path.join(cache, filename), md5=CHECKSUMS[name][filename])
        except DownloadError as exc:
            raise _not_found(name, looked, needed, f"download failed: {exc}") from exc
    return found


def _locate_cifar(root, download: bool) -> str:
    looked = []
    for label, folder in search_dirs("cifar10", root):
        location = cifar.find_cifar10(folder)
        if location:
            return location
        looked.append(f"{label}: {folder}")
    needed = f"{cifar.ARCHIVE}, or its extracted {cifar.BATCH_DIR}/ folder"
    if not download:
        raise _not_found("cifar10", looked, needed, "download=False")
    dest = os.path.join(user_cache_dir("cifar10"), cifar.ARCHIVE)
    try:
        return download_file(mirror_urls("cifar10", cifar.ARCHIVE, MIRRORS["cifar10"]), dest,
                             md5=CHECKSUMS["cifar10"][cifar.ARCHIVE])
    except DownloadError as exc:
        raise _not_found("cifar10", looked, needed, f"download failed: {exc}") from exc


def _check_labels(y: np.ndarray, n_classes: int, source: str) -> None:
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise CorruptFileError(f"{source}: labels must be in 0..{n_classes - 1}, "
                               f"found {y.min()}..{y.max()}")


def _load_digits(val_fraction: float, seed: int) -> DatasetSplits:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("the digits dataset comes with scikit-learn: pip install scikit-learn "
                          "(or pip install 'deepbasic[data]')") from exc
    bunch = load_digits()
    x = bunch.images.astype(np.float32).reshape(-1, 1, 8, 8)  # values 0..16
    y = bunch.target.astype(np.int64)
    pool, test = stratified_split(y, DIGITS_TEST_FRACTION, DIGITS_TEST_SEED)
    return make_splits("digits", CLASSES["digits"], x[pool], y[pool], x[test], y[test],
                       val_fraction, seed, scale=16.0)


def _load_idx(name: str, root, val_fraction: float, seed: int, download: bool) -> DatasetSplits:
    paths = _locate_idx(name, root, download)
    x_train, y_train = read_idx_pair(paths[IDX_FILES[0]], paths[IDX_FILES[1]])
    x_test, y_test = read_idx_pair(paths[IDX_FILES[2]], paths[IDX_FILES[3]])
    if x_train.shape[1:] != x_test.shape[1:]:
        raise CorruptFileError(f"{paths[IDX_FILES[0]]}: images of size {x_train.shape[1:]}, but "
                               f"{paths[IDX_FILES[2]]} has {x_test.shape[1:]}")
    _check_labels(y_train, 10, paths[IDX_FILES[1]])
    _check_labels(y_test, 10, paths[IDX_FILES[3]])
    return make_splits(name, CLASSES[name], x_train[:, None], y_train, x_test[:, None], y_test,
                       val_fraction, seed, scale=255.0)


def _load_cifar10(root, val_fraction: float, seed: int, download: bool) -> DatasetSplits:
    x_train, y_train, x_test, y_test, classes = cifar.read_cifar10(_locate_cifar(root, download))
    return make_splits("cifar10", classes, x_train, y_train, x_test, y_test, val_fraction, seed,
                       scale=255.0)


def load_dataset(name: str, root=None, val_fraction: float | None = None, seed: int = 0,
                 download: bool = True) -> DatasetSplits:
    """Load dataset ``name`` as float32 images in [0, 1] with int64 labels, split three ways.

    name: one of ``digits``, ``mnist``, ``fashion-mnist``, ``cifar10`` (case-insensitive).
    root: a folder to look in first (itself, then ``root/<name>``); ignored for digits.
    val_fraction: share of the training pool held out as ``val`` (stratified); None picks the
    dataset's default (see the module docstring). seed: which examples are held out.
    download: fetch missing files into the user cache (checksummed, atomic).

    Returns :class:`DatasetSplits` whose ``train``/``val``/``test`` have ``x`` (N, C, H, W)
    float32 and ``y`` (N,) int64. Raises ``ValueError`` for an unknown name,
    :class:`DatasetNotFoundError` when the files are absent and cannot be downloaded, and
    :class:`CorruptFileError` / :class:`UnsafeFileError` for damaged or hostile files.
    """
    key = _canonical(name)
    fraction = check_fraction(DEFAULT_VAL_FRACTION[key] if val_fraction is None else val_fraction)
    seed = int(seed)
    if key == "digits":
        return _load_digits(fraction, seed)
    if key == "cifar10":
        return _load_cifar10(root, fraction, seed, download)
    return _load_idx(key, root, fraction, seed, download)
