"""Writers of small files in each real dataset format, for the dataset tests."""
import io
import os
import pickle
import struct
import tarfile

import numpy as np

from deepbasic.data import write_idx


def fake_mnist(folder, n_train=24, n_test=12, size=(28, 28), gz=True, label_offset=0, seed=0):
    """Write the four MNIST IDX files into ``folder``; returns (x_train, y_train, x_test, y_test).

    Labels cycle through 0..9 (shifted by ``label_offset`` mod 10) so tests can tell copies apart.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    suffix = ".gz" if gz else ""
    arrays = []
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, *size), dtype=np.uint8)
        y = ((np.arange(n) + label_offset) % 10).astype(np.uint8)
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte{suffix}"), x)
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{suffix}"), y)
        arrays += [x, y]
    return tuple(arrays)


def python2_style_batch(data: np.ndarray, labels) -> bytes:
    """A batch pickle byte-for-byte as Python 2's cPickle (protocol 2) writes CIFAR-10's.

    Strings are Python 2 ``str`` (SHORT_BINSTRING/BINSTRING), and the array goes through
    numpy.core.multiarray._reconstruct, numpy.ndarray and numpy.dtype, as in the real files.
    """
    def pystr(b: bytes) -> bytes:
        return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<i", len(b)) + b)

    def int_(v: int) -> bytes:
        return b"J" + struct.pack("<i", v)

    rows, cols = data.shape
    array = (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + int_(0) + b"\x85"
             + pystr(b"b") + b"\x87R"
             + b"(" + int_(1) + int_(rows) + int_(cols) + b"\x86"
             + b"cnumpy\ndtype\n" + pystr(b"u1") + int_(0) + int_(1) + b"\x87R"
             + b"(" + int_(3) + pystr(b"|") + b"NNN" + int_(-1) + int_(-1) + int_(0) + b"tb"
             + b"\x89" + pystr(data.astype(np.uint8).tobytes()) + b"tb")
    label_list = b"](" + b"".join(int_(int(v)) for v in labels) + b"e"
    return (b"\x80\x02}(" + pystr(b"batch_label") + pystr(b"training batch 1 of 5")
            + pystr(b"data") + array + pystr(b"labels") + label_list + b"u.")


def cifar_batches(n_per_batch=4, seed=0, protocol=2, py2=False):
    """The seven CIFAR-10 files as {name: bytes} plus the arrays they hold.

    Returns (files, x_train uint8 (5n, 3, 32, 32), y_train, x_test, y_test).
    """
    rng = np.random.default_rng(seed)
    files, xs, ys = {}, [], []
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = [(k + i) % 10 for i in range(n_per_batch)]
        if py2:
            files[name] = python2_style_batch(data, labels)
        else:
            batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                     b"filenames": [f"img_{i}.png".encode() for i in range(n_per_batch)]}
            files[name] = pickle.dumps(batch, protocol=protocol)
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.array(labels, dtype=np.int64))
    meta = {b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_cases_per_batch": n_per_batch,
            b"num_vis": 3072}
    files["batches.meta"] = pickle.dumps(meta, protocol=protocol)
    return files, np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5]


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck"]


def write_cifar_archive(path, files, extra_members=()):
    """Write ``cifar-10-python.tar.gz`` holding ``cifar-10-batches-py/<name>`` for each file.

    extra_members: (TarInfo, bytes or None) pairs added first (to build hostile archives).
    """
    with tarfile.open(path, "w:gz") as tar:
        for info, payload in extra_members:
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
        folder = tarfile.TarInfo("cifar-10-batches-py")
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        tar.addfile(folder)
        for name, payload in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return str(path)


def write_cifar_folder(folder, files):
    os.makedirs(folder, exist_ok=True)
    for name, payload in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(payload)
    return str(folder)
