"""The IDX file format (MNIST, Fashion-MNIST): read and write, gzip or not, with strict checks.

An IDX file is a 4-byte magic number, then one big-endian uint32 per dimension, then the values
in C order, big-endian::

    bytes 0-1   0x00 0x00
    byte  2     data type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions, ndim
    then        ndim x uint32 (big-endian): the size of each dimension
    then        prod(dims) values of the data type (big-endian)

MNIST's ``train-images-idx3-ubyte`` is uint8 of shape (60000, 28, 28) and
``train-labels-idx1-ubyte`` uint8 of shape (60000,). Files are usually shipped gzip-compressed
(``.gz``); :func:`read_idx` recognises gzip by its first two bytes (0x1f 0x8b), whatever the name.
"""
from __future__ import annotations

import gzip
import math
import os
import tempfile
import zlib

import numpy as np

from deepbasic.data.errors import CorruptFileError

IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_NAMES = ", ".join(f"0x{code:02X} ({dt.name})" for code, dt in IDX_TYPES.items())
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptFileError(f"{path}: damaged gzip data ({exc})") from exc


def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a new native-byte-order array of the stored shape.

    Returns e.g. uint8 (60000, 28, 28) for MNIST training images. Raises
    :class:`CorruptFileError` naming the file when the magic number, the data type, the header or
    the payload length (which must equal prod(dims) * itemsize exactly) is wrong.
    """
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise CorruptFileError(
            f"{path}: not an IDX file: {len(data)} bytes, shorter than the 4-byte magic number")
    if data[0] != 0 or data[1] != 0:
        raise CorruptFileError(
            f"{path}: not an IDX file: magic number starts with 0x{data[0]:02X}{data[1]:02X}, "
            f"expected 0x0000")
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        raise CorruptFileError(
            f"{path}: unknown IDX data type 0x{code:02X}; expected one of {_TYPE_NAMES}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptFileError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header} header bytes, "
            f"the file has {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "followed by extra bytes"
        raise CorruptFileError(
            f"{path}: IDX payload is {found} bytes but the header promises {expected} "
            f"(shape {dims} of {dtype.name}, {dtype.itemsize} bytes each): the file is {what}")
    flat = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header)
    return flat.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def write_idx(path, array) -> str:
    """Write ``array`` (any shape; uint8, int8, int16, int32, float32 or float64) as an IDX file.

    Gzip-compressed when ``path`` ends in ``.gz``. Written to a temporary file in the same folder
    and renamed into place, so a reader never sees half a file. Returns the path.
    """
    path = os.fspath(path)
    array = np.asarray(array)
    target = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    code = next((c for c, dt in IDX_TYPES.items() if dt == target), None)
    if code is None:
        raise ValueError(
            f"write_idx: IDX cannot hold {array.dtype}; use one of uint8, int8, int16, int32, "
            f"float32, float64 (e.g. array.astype(np.int32))")
    if array.ndim > 255 or any(d >= 2**32 for d in array.shape):
        raise ValueError(f"write_idx: shape {array.shape} does not fit an IDX header")
    payload = (bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
               + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes())
    if path.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def read_idx_pair(images_path, labels_path) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST-style pair: uint8 images (N, H, W) and integer labels (N,).

    Raises :class:`CorruptFileError` when the images are not 3-d uint8, the labels not 1-d
    integers, or the two files disagree on N.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise CorruptFileError(
            f"{os.fspath(images_path)}: expected uint8 images of shape (N, H, W), "
            f"found {images.dtype} of shape {images.shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise CorruptFileError(
            f"{os.fspath(labels_path)}: expected integer labels of shape (N,), "
            f"found {labels.dtype} of shape {labels.shape}")
    if len(images) != len(labels):
        raise CorruptFileError(
            f"{os.fspath(images_path)} holds {len(images)} images but {os.fspath(labels_path)} "
            f"holds {len(labels)} labels; the two files must have the same count")
    return images, labels
