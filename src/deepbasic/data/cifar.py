"""CIFAR-10, "python version": ``cifar-10-python.tar.gz`` or its extracted folder.

The archive holds ``cifar-10-batches-py/`` with seven pickles (written by Python 2):

- ``data_batch_1`` .. ``data_batch_5`` (10,000 images each) and ``test_batch`` (10,000): a dict
  with ``b"data"``, uint8 of shape (N, 3072) — each row is the 1024 red, then 1024 green, then
  1024 blue pixels of a 32x32 image, row-major — and ``b"labels"``, a list of N ints in 0..9;
- ``batches.meta``: a dict whose ``b"label_names"`` lists the 10 class names.

Pickles are read with :func:`~deepbasic.data.safepickle.safe_loads`, which runs nothing from the
file. The archive is read in place, member by member in one forward pass, and never extracted,
so no member name can make us write anywhere; members with absolute or ``..`` paths, links or
devices make the whole archive refused as unsafe all the same.
"""
from __future__ import annotations

import os
import posixpath
import tarfile
import zlib

import numpy as np

from deepbasic.data.errors import CorruptFileError, UnsafeFileError
from deepbasic.data.safepickle import safe_loads

ARCHIVE = "cifar-10-python.tar.gz"
BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
FILES = TRAIN_BATCHES + (TEST_BATCH, META)


def find_cifar10(folder) -> str | None:
    """Where CIFAR-10 is inside ``folder``: the batches folder or the archive, or None.

    Looks for ``folder/cifar-10-batches-py/`` holding all seven files, then ``folder`` itself
    holding them, then ``folder/cifar-10-python.tar.gz``.
    """
    folder = os.fspath(folder)
    for candidate in (os.path.join(folder, BATCH_DIR), folder):
        if all(os.path.isfile(os.path.join(candidate, f)) for f in FILES):
            return candidate
    archive = os.path.join(folder, ARCHIVE)
    return archive if os.path.isfile(archive) else None


def _check_member(archive: str, member: tarfile.TarInfo) -> str:
    name = posixpath.normpath(member.name.replace("\\", "/"))
    if member.name.startswith(("/", "\\")) or name == ".." or name.startswith("../"):
        raise UnsafeFileError(f"{archive}: refused archive member {member.name!r} (path outside the archive)")
    if not (member.isfile() or member.isdir()):
        raise UnsafeFileError(
            f"{archive}: refused archive member {member.name!r} (only files and folders are allowed)")
    return name


def read_archive(archive) -> dict[str, bytes]:
    """The seven CIFAR-10 files from ``archive`` (a .tar.gz), as {file name: bytes}.

    One forward pass; nothing is written to disk. Raises :class:`UnsafeFileError` for an unsafe
    member and :class:`CorruptFileError` for a damaged archive or missing files.
    """
    archive = os.fspath(archive)
    wanted = {f"{BATCH_DIR}/{f}": f for f in FILES}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = _check_member(archive, member)
                if name in wanted and member.isfile():
                    found[wanted[name]] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise CorruptFileError(f"{archive}: damaged archive ({type(exc).__name__}: {exc})") from exc
    missing = [f for f in FILES if f not in found]
    if missing:
        raise CorruptFileError(
            f"{archive}: not a CIFAR-10 python archive: {BATCH_DIR}/ lacks {', '.join(missing)}")
    return found


def _field(d: dict, key: str, source: str):
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    raise CorruptFileError(f"{source}: the batch has no {key!r} entry (keys: {sorted(map(str, d))})")


def parse_batch(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch pickle -> images uint8 (N, 3, 32, 32) and labels int64 (N,)."""
    batch = safe_loads(data, source)
    if not isinstance(batch, dict):
        raise CorruptFileError(f"{source}: expected a dict, found {type(batch).__name__}")
    x, y = _field(batch, "data", source), _field(batch, "labels", source)
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        found = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise CorruptFileError(f"{source}: expected data of uint8 (N, 3072), found {found}")
    try:
        y = np.asarray(y, dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise CorruptFileError(f"{source}: labels are not integers ({exc})") from exc
    if y.shape != (len(x),):
        raise CorruptFileError(f"{source}: {len(x)} images but labels of shape {y.shape}")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise CorruptFileError(f"{source}: labels must be in 0..9, found {y.min()}..{y.max()}")
    return x.reshape(-1, 3, 32, 32), y


def parse_meta(data: bytes, source: str) -> list[str]:
    """``batches.meta`` -> the 10 class names."""
    meta = safe_loads(data, source)
    names = _field(meta, "label_names", source) if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != 10:
        raise CorruptFileError(f"{source}: expected 10 label_names")
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]


def read_cifar10(location) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Read CIFAR-10 from a batches folder or the archive (see :func:`find_cifar10`).

    Returns ``(x_train, y_train, x_test, y_test, classes)``: uint8 (50000, 3, 32, 32), int64
    (50000,), uint8 (10000, 3, 32, 32), int64 (10000,) and the 10 class names.
    """
    location = os.fspath(location)
    if os.path.isdir(location):
        files = {}
        for f in FILES:
            with open(os.path.join(location, f), "rb") as fh:
                files[f] = fh.read()
        source = lambda f: os.path.join(location, f)  # noqa: E731
    else:
        files = read_archive(location)
        source = lambda f: f"{location}:{BATCH_DIR}/{f}"  # noqa: E731
    train = [parse_batch(files.pop(f), source(f)) for f in TRAIN_BATCHES]
    x_test, y_test = parse_batch(files.pop(TEST_BATCH), source(TEST_BATCH))
    classes = parse_meta(files.pop(META), source(META))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return x_train, y_train, x_test, y_test, classes
