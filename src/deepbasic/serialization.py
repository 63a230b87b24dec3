"""Reading and writing the safetensors format, and atomic file writes.

safetensors is a flat, code-free format: an 8-byte little-endian header length, a JSON header
mapping each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (plus an optional
``"__metadata__"`` map of strings), then the raw little-endian bytes. Nothing in the file can run
code, unlike pickle. This implementation reads and writes files compatible with the ``safetensors``
package (and so with PyTorch exports).

Writes are atomic: the file is written to a temporary name in the same directory, flushed to disk
and renamed over the target, so a crash leaves either the old file or the new one, never half.
"""
from __future__ import annotations

import json
import os
import struct
import tempfile
from contextlib import contextmanager

import numpy as np

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_,
}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    """A file that is not valid safetensors, named in the message."""


@contextmanager
def atomic_write(path: str, mode: str = "wb"):
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_file(tensors: dict, path: str, metadata: dict | None = None) -> None:
    """Write ``{name: array}`` (and string ``metadata``) to ``path`` as safetensors, atomically."""
    header, chunks, offset = {}, [], 0
    if metadata:
        bad = [k for k, v in metadata.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise TypeError(f"safetensors metadata must map str to str; bad keys: {bad}")
        header["__metadata__"] = dict(metadata)
    for name in sorted(tensors):
        arr = np.asarray(tensors[name], order="C")  # (ascontiguousarray would make 0-d 1-d)
        if arr.dtype not in _NAMES:
            raise TypeError(f"safetensors: tensor {name!r} has unsupported dtype {arr.dtype}")
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _NAMES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # align the data to 8 bytes, as the reference writer does
    with atomic_write(path) as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for c in chunks:
            f.write(c)


def load_file(path: str) -> tuple[dict, dict]:
    """Read a safetensors file: returns ``({name: array}, metadata)``; validates every field."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise SafetensorsError(f"{path}: too short to be a safetensors file ({len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > min(_MAX_HEADER, len(raw) - 8):
        raise SafetensorsError(f"{path}: header length {n} exceeds the file ({len(raw)} bytes)")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    body = memoryview(raw)[8 + n:]
    tensors = {}
    for name, info in header.items():
        try:
            dtype = np.dtype(_DTYPES[info["dtype"]])
            shape = tuple(int(s) for s in info["shape"])
            begin, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"{path}: bad header entry for {name!r}: {info!r}") from None
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if not 0 <= begin <= end <= len(body) or end - begin != expected:
            raise SafetensorsError(
                f"{path}: tensor {name!r} {shape} {info['dtype']} needs {expected} bytes, "
                f"offsets [{begin}, {end}] in a {len(body)}-byte body"
            )
        arr = np.frombuffer(body[begin:end], dtype=dtype.newbyteorder("<")).reshape(shape)
        tensors[name] = arr.astype(dtype, copy=True)
    return tensors, dict(metadata)


def save_state_dict(module, path: str, metadata: dict | None = None) -> None:
    """Save a module's parameters and buffers to a safetensors file."""
    save_file(module.state_dict(), path, metadata)


def load_state_dict(module, path: str, strict: bool = True):
    """Load a safetensors file written by :func:`save_state_dict` (or PyTorch) into ``module``."""
    tensors, _ = load_file(path)
    return module.load_state_dict(tensors, strict=strict)
