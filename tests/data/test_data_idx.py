"""IDX: byte layout, round trips raw and gzip, and clear errors for damaged files."""
import gzip
import os

import numpy as np
import pytest

from deepbasic.data import CorruptFileError, read_idx, write_idx
from deepbasic.data.idx import read_idx_pair


def test_header_bytes_match_the_format(tmp_path):
    path = write_idx(tmp_path / "a-idx2-ubyte", np.array([[1, 2, 3], [4, 5, 6]], np.uint8))
    raw = open(path, "rb").read()
    assert raw == bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])


def test_hand_written_file_is_read(tmp_path):
    # int16 values are big-endian in IDX: 0x0102 = 258, 0xFFFE = -2
    path = tmp_path / "h-idx1-short"
    path.write_bytes(bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE]))
    a = read_idx(path)
    assert a.dtype == np.int16 and a.dtype.isnative and a.tolist() == [258, -2]


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8", ">i4", ">f8"])
@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(tmp_path, dtype, gz):
    a = (np.arange(60).reshape(3, 4, 5) * 3 - 7).astype(dtype)
    path = write_idx(tmp_path / ("x.idx" + (".gz" if gz else "")), a)
    b = read_idx(path)
    assert b.shape == a.shape and b.dtype == a.dtype.newbyteorder("=") and np.array_equal(a, b)
    assert b.flags.writeable
    assert (open(path, "rb").read(2) == b"\x1f\x8b") == gz


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    a = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels-idx1-ubyte"  # no .gz suffix, gzip inside
    path.write_bytes(gzip.compress(open(write_idx(tmp_path / "raw", a), "rb").read()))
    assert np.array_equal(read_idx(path), a)


def test_write_refuses_types_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="IDX cannot hold int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
    assert os.listdir(tmp_path) == []


def _bad(tmp_path, payload: bytes, gz=False):
    path = tmp_path / ("bad.gz" if gz else "bad")
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return str(path)


def test_wrong_magic(tmp_path):
    path = _bad(tmp_path, bytes([0x12, 0x34, 0x08, 1, 0, 0, 0, 1, 7]))
    with pytest.raises(CorruptFileError, match=r"not an IDX file: magic number starts with 0x1234, expected 0x0000") as e:
        read_idx(path)
    assert path in str(e.value)


def test_unknown_type_byte(tmp_path):
    with pytest.raises(CorruptFileError, match=r"unknown IDX data type 0x0A.*0x08 \(uint8\)"):
        read_idx(_bad(tmp_path, bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 7])))


def test_too_short_for_magic(tmp_path):
    with pytest.raises(CorruptFileError, match="2 bytes, shorter than the 4-byte magic number"):
        read_idx(_bad(tmp_path, b"\x00\x00"))


def test_truncated_header(tmp_path):
    with pytest.raises(CorruptFileError, match="3 dimensions need 16 header bytes, the file has 10"):
        read_idx(_bad(tmp_path, bytes([0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0])))


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload(tmp_path, gz):
    good = open(write_idx(tmp_path / "good", np.zeros((4, 28, 28), np.uint8)), "rb").read()
    path = _bad(tmp_path, good[:-100], gz=gz)
    with pytest.raises(CorruptFileError, match=r"payload is 3036 bytes but the header promises 3136 "
                                               r"\(shape \(4, 28, 28\) of uint8.*truncated") as e:
        read_idx(path)
    assert path in str(e.value)


def test_trailing_bytes(tmp_path):
    good = open(write_idx(tmp_path / "good", np.zeros(5, np.float32)), "rb").read()
    with pytest.raises(CorruptFileError, match="promises 20.*followed by extra bytes"):
        read_idx(_bad(tmp_path, good + b"\x00"))


def test_truncated_gzip_stream(tmp_path):
    good = gzip.compress(open(write_idx(tmp_path / "good", np.arange(5000, dtype=np.int32)), "rb").read())
    with pytest.raises(CorruptFileError, match="damaged gzip data"):
        read_idx(_bad(tmp_path, good[: len(good) // 2]))


def test_pair_count_mismatch_names_both_files(tmp_path):
    images = write_idx(tmp_path / "img", np.zeros((5, 2, 2), np.uint8))
    labels = write_idx(tmp_path / "lab", np.zeros(4, np.uint8))
    with pytest.raises(CorruptFileError, match="holds 5 images but .*lab holds 4 labels") as e:
        read_idx_pair(images, labels)
    assert images in str(e.value)


def test_pair_shape_checks(tmp_path):
    flat = write_idx(tmp_path / "img", np.zeros((5, 4), np.uint8))
    labels = write_idx(tmp_path / "lab", np.zeros(5, np.uint8))
    with pytest.raises(CorruptFileError, match=r"expected uint8 images of shape \(N, H, W\)"):
        read_idx_pair(flat, labels)
    images = write_idx(tmp_path / "img3", np.zeros((5, 2, 2), np.uint8))
    floats = write_idx(tmp_path / "labf", np.zeros(5, np.float32))
    with pytest.raises(CorruptFileError, match=r"expected integer labels"):
        read_idx_pair(images, floats)
