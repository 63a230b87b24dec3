"""CIFAR-10 python batches: real-format pickles load; hostile pickles and archives are refused."""
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from data_helpers import (CIFAR_CLASSES, cifar_batches, python2_style_batch, write_cifar_archive,
                          write_cifar_folder)
from deepbasic.data import CorruptFileError, UnsafeFileError, load_dataset, safe_loads
from deepbasic.data.cifar import find_cifar10, parse_batch, read_cifar10


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_safe_loads_rebuilds_plain_arrays(protocol):
    obj = {b"a": np.arange(12, dtype=np.uint8).reshape(3, 4), "b": [1, 2.5, "s", b"t", None],
           "f": np.asfortranarray(np.arange(6, dtype=">f8").reshape(2, 3)), "t": (True,),
           "e": np.zeros((0, 3), np.int16), "c": np.array([1 + 2j], np.complex64)}
    out = safe_loads(pickle.dumps(obj, protocol=protocol))
    assert out.keys() == obj.keys() and out["b"] == obj["b"] and out["t"] == (True,)
    for k in (b"a", "f", "e", "c"):
        assert out[k].dtype == obj[k].dtype and np.array_equal(out[k], obj[k])
    assert out["f"].flags.f_contiguous


def test_python2_style_batch_is_read():
    data = np.random.default_rng(0).integers(0, 256, (3, 3072), dtype=np.uint8)
    raw = python2_style_batch(data, [7, 0, 9])
    assert b"numpy.core.multiarray\n_reconstruct" in raw  # the module name the real files use
    x, y = parse_batch(raw, "data_batch_1")
    assert x.shape == (3, 3, 32, 32) and np.array_equal(x.reshape(3, -1), data)
    assert y.dtype == np.int64 and y.tolist() == [7, 0, 9]
    # channel planes: the first 1024 values are the red image, row-major
    assert x[1, 0, 0, 1] == data[1, 1] and x[1, 1, 0, 0] == data[1, 1024]


class _RunsCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Evals:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _RunsCommand(f"touch {marker}"), b"labels": []})
    with pytest.raises(UnsafeFileError, match=r"data_batch_1: refused global (posix|os)\.system"):
        safe_loads(payload, "data_batch_1")
    assert not marker.exists()


def test_eval_pickle_is_refused():
    with pytest.raises(UnsafeFileError, match=r"evil\.pkl: refused global builtins\.eval"):
        safe_loads(pickle.dumps(_Evals()), "evil.pkl")


def test_object_arrays_and_tampering_are_refused():
    with pytest.raises(UnsafeFileError, match="refused dtype"):
        safe_loads(pickle.dumps(np.array([1, "x"], dtype=object)))
    with pytest.raises(UnsafeFileError, match="refused dtype"):
        safe_loads(pickle.dumps(np.zeros(2, dtype=[("a", "u1"), ("b", "f4")])))
    # a bare global, or a BUILD opcode aimed at one, is refused too
    with pytest.raises(UnsafeFileError):
        safe_loads(b"\x80\x02cnumpy\ndtype\n.")
    with pytest.raises(UnsafeFileError, match="refused to set state"):
        safe_loads(b"\x80\x02cnumpy\ndtype\n}b.")


def test_damaged_pickles_are_corrupt_not_crashes():
    good = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, protocol=2)
    with pytest.raises(CorruptFileError, match="batch: not a valid pickle"):
        safe_loads(good[:-40], "batch")
    short = good.replace(b"\x00" * 6144, b"\x00" * 6143 + b"\x01", 1)  # same length: still valid
    assert safe_loads(short)[b"data"].sum() == 1


def test_batch_shape_and_label_checks():
    bad_shape = pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    with pytest.raises(CorruptFileError, match=r"f: expected data of uint8 \(N, 3072\)"):
        parse_batch(bad_shape, "f")
    bad_count = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]})
    with pytest.raises(CorruptFileError, match="2 images but labels of shape"):
        parse_batch(bad_count, "f")
    bad_label = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]})
    with pytest.raises(CorruptFileError, match="labels must be in 0..9"):
        parse_batch(bad_label, "f")


@pytest.mark.parametrize("py2", [False, True])
def test_archive_loads_through_load_dataset(tmp_path, py2):
    files, x_train, y_train, x_test, y_test = cifar_batches(n_per_batch=10, py2=py2)
    write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", files)
    d = load_dataset("cifar10", root=tmp_path, val_fraction=0.2, download=False)
    assert d.name == "cifar10" and d.classes == CIFAR_CLASSES
    assert d.train.x.shape == (40, 3, 32, 32) and d.val.x.shape == (10, 3, 32, 32)
    assert d.test.x.dtype == np.float32 and d.test.y.dtype == np.int64
    assert np.allclose(d.test.x * 255, x_test) and np.array_equal(d.test.y, y_test)
    pool = np.concatenate([d.train.x, d.val.x]) * 255
    assert sorted(pool.reshape(50, -1).sum(1).round().tolist()) == sorted(
        x_train.reshape(50, -1).sum(1).astype(float).tolist())
    assert list(os.listdir(tmp_path)) == ["cifar-10-python.tar.gz"]  # nothing was extracted


def test_extracted_folder_and_archive_agree(tmp_path):
    files, *_ = cifar_batches(n_per_batch=3)
    archive = write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", files)
    folder = write_cifar_folder(tmp_path / "x" / "cifar-10-batches-py", files)
    assert find_cifar10(tmp_path / "x") == folder and find_cifar10(folder) == folder
    assert find_cifar10(tmp_path) == archive
    a, b = read_cifar10(archive), read_cifar10(folder)
    for u, v in zip(a[:4], b[:4]):
        assert np.array_equal(u, v)
    assert a[4] == b[4] == CIFAR_CLASSES


def test_malicious_batch_inside_archive(tmp_path):
    files, *_ = cifar_batches(n_per_batch=2)
    marker = tmp_path / "pwned"
    files["data_batch_3"] = pickle.dumps({b"data": _RunsCommand(f"touch {marker}")})
    archive = write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", files)
    with pytest.raises(UnsafeFileError, match=r"cifar-10-batches-py/data_batch_3: refused global") as e:
        load_dataset("cifar10", root=tmp_path, download=False)
    assert archive in str(e.value) and not marker.exists()


@pytest.mark.parametrize("name", ["../escape", "/abs/path", "cifar-10-batches-py/../../up"])
def test_archive_with_path_traversal_is_refused(tmp_path, name):
    files, *_ = cifar_batches(n_per_batch=2)
    info = tarfile.TarInfo(name)
    info.size = 3
    archive = write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", files, [(info, b"bad")])
    with pytest.raises(UnsafeFileError, match="refused archive member") as e:
        read_cifar10(archive)
    assert name in str(e.value)
    assert sorted(os.listdir(tmp_path)) == ["cifar-10-python.tar.gz"]
    assert not os.path.exists(tmp_path.parent / "escape")


def test_archive_with_symlink_is_refused(tmp_path):
    files, *_ = cifar_batches(n_per_batch=2)
    link = tarfile.TarInfo("cifar-10-batches-py/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive = write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", files, [(link, None)])
    with pytest.raises(UnsafeFileError, match="only files and folders"):
        read_cifar10(archive)


def test_incomplete_or_damaged_archive(tmp_path):
    files, *_ = cifar_batches(n_per_batch=2)
    del files["test_batch"]
    archive = write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", files)
    with pytest.raises(CorruptFileError, match="lacks test_batch"):
        read_cifar10(archive)
    raw = open(archive, "rb").read()
    with open(archive, "wb") as f:
        f.write(raw[: len(raw) // 2])
    with pytest.raises(CorruptFileError, match="damaged archive"):
        read_cifar10(archive)


def test_member_order_and_dot_prefix_do_not_matter(tmp_path):
    files, *_ = cifar_batches(n_per_batch=2)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w|gz") as tar:
        for name, payload in reversed(list(files.items())):
            info = tarfile.TarInfo(f"./cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(buf.getvalue())
    assert read_cifar10(tmp_path / "cifar-10-python.tar.gz")[4] == CIFAR_CLASSES
