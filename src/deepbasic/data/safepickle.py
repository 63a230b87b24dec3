"""Load pickles of plain data and NumPy arrays without running any code from the file.

A pickle is a small program: its GLOBAL opcodes import any callable by name and its REDUCE
opcodes call it, so ``pickle.load`` on an untrusted file can run ``os.system``. CIFAR-10's
"python version" batches are pickles of dicts holding numeric arrays, so we read them with
:func:`safe_loads`, whose unpickler resolves only these names — and even those to inert
stand-ins written here, never to the real NumPy functions:

- ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct``, with
  ``numpy.ndarray`` and ``numpy.dtype``: how NumPy pickles an array with protocols 0-4;
- ``numpy.core.numeric._frombuffer`` / ``numpy._core.numeric._frombuffer``: the same at protocol 5;
- ``_codecs.encode`` (latin-1 only) and ``bytes()`` (no arguments): how Python 3 pickles
  ``bytes`` at protocols 0-2.

Any other global (``os.system``, ``builtins.eval``, ...) raises :class:`UnsafeFileError` naming
the file and the global, before anything is called. The stand-ins accept only numeric dtypes
(bool, integers, floats, complex) whose raw bytes exactly fill the declared shape; the result is
a dict/list/tuple tree with real ``np.ndarray`` leaves. Files written by Python 2 (like the
official CIFAR-10 batches) are read with ``encoding="bytes"``, so their ``str`` keys and values
come back as ``bytes``.
"""
from __future__ import annotations

import io
import math
import pickle

import numpy as np

from deepbasic.data.errors import CorruptFileError, UnsafeFileError

_NUMERIC_KINDS = "biufc"


class _Global:
    """What ``find_class`` hands out: a fresh wrapper per lookup, so a pickle's BUILD opcode can
    never set attributes on our functions or classes (``__setstate__`` refuses)."""

    def __init__(self, name: str, fn=None):
        self.name, self.fn = name, fn

    def __call__(self, *args):
        if self.fn is None:
            raise UnsafeFileError(f"refused call of {self.name}")
        return self.fn(*args)

    def __setstate__(self, state):
        raise UnsafeFileError(f"refused to set state on {self.name}")


class _DTypeStub:
    """Stands for a ``numpy.dtype`` while unpickling; ``dtype`` is the real, numeric one."""

    def __init__(self, spec, align=False, copy=True):
        if isinstance(spec, bytes):
            spec = spec.decode("ascii", "replace")
        if not isinstance(spec, str):
            raise UnsafeFileError(f"dtype spec must be a string, got {type(spec).__name__}")
        try:
            self.dtype = np.dtype(spec)
        except TypeError as exc:
            raise CorruptFileError(f"bad dtype {spec!r}") from exc
        if self.dtype.kind not in _NUMERIC_KINDS or self.dtype.fields or self.dtype.subdtype:
            raise UnsafeFileError(f"refused dtype {spec!r}: only plain numeric arrays are allowed")

    def __setstate__(self, state):
        # (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
        if not isinstance(state, tuple) or len(state) < 5 or any(s is not None for s in state[2:5]):
            raise UnsafeFileError("refused dtype state: only plain numeric dtypes are allowed")
        order = state[1].decode("ascii", "replace") if isinstance(state[1], bytes) else state[1]
        if order not in ("<", ">", "|", "="):
            raise CorruptFileError(f"bad dtype byte order {order!r}")
        if order in "<>":
            self.dtype = self.dtype.newbyteorder(order)


def _as_bytes(raw) -> bytes:
    if isinstance(raw, str):  # Python 2 str read with encoding="latin1"
        raw = raw.encode("latin1")
    if not isinstance(raw, (bytes, bytearray)):
        raise UnsafeFileError(f"array data must be raw bytes, got {type(raw).__name__}")
    return bytes(raw)


def _build_array(shape, dtype, raw, fortran: bool) -> np.ndarray:
    if not isinstance(dtype, _DTypeStub):
        raise UnsafeFileError("array dtype was not built from numpy.dtype")
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise CorruptFileError(f"bad array shape {shape!r}")
    raw = _as_bytes(raw)
    expected = math.prod(shape) * dtype.dtype.itemsize
    if len(raw) != expected:
        raise CorruptFileError(
            f"array of shape {shape} and dtype {dtype.dtype} needs {expected} bytes, "
            f"the pickle holds {len(raw)}")
    flat = np.frombuffer(raw, dtype=dtype.dtype)
    return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")


class _ArrayStub:
    """What ``_reconstruct`` returns; ``__setstate__`` (pickle's BUILD) fills in ``array``."""

    array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise CorruptFileError("bad ndarray state")
        if len(state) == 5:
            state = state[1:]  # drop the version number
        shape, dtype, fortran, raw = state
        self.array = _build_array(shape, dtype, raw, bool(fortran))


def _reconstruct(cls, shape, typecode):
    if not (isinstance(cls, _Global) and cls.name == "numpy.ndarray"):
        raise UnsafeFileError("_reconstruct may only rebuild numpy.ndarray")
    return _ArrayStub()


def _frombuffer(buf, dtype, shape, order):
    order = order.decode("ascii") if isinstance(order, bytes) else order
    stub = _ArrayStub()
    stub.array = _build_array(tuple(shape), dtype, buf, order == "F")
    return stub


def _encode(text, encoding="utf-8"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafeFileError("_codecs.encode is allowed only for latin-1 text")
    return text.encode("latin1")


def _empty_bytes(*args):
    if args:
        raise UnsafeFileError("bytes() is allowed only without arguments")
    return b""


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): None,
    ("numpy", "dtype"): _DTypeStub,
    ("_codecs", "encode"): _encode,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        key = (module, name)
        if key not in _ALLOWED:
            raise UnsafeFileError(f"refused global {module}.{name}")
        return _Global(f"{module}.{name}", _ALLOWED[key])

    def persistent_load(self, pid):
        raise UnsafeFileError("refused persistent id")


def _resolve(obj, depth: int = 0):
    if depth > 100:
        raise CorruptFileError("nesting deeper than 100 levels")
    if isinstance(obj, _ArrayStub):
        if obj.array is None:
            raise CorruptFileError("ndarray without state")
        return obj.array
    if isinstance(obj, (_DTypeStub, _Global)):
        raise UnsafeFileError("a dtype or global outside an array")
    if isinstance(obj, dict):
        return {_resolve(k, depth + 1): _resolve(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v, depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(v, depth + 1) for v in obj)
    return obj


def safe_loads(data: bytes, source: str = "<bytes>"):
    """Unpickle ``data`` allowing only plain containers, scalars, strings/bytes and numeric arrays.

    ``source`` names the file in error messages. Raises :class:`UnsafeFileError` ("<source>:
    refused global os.system ...") for anything else and :class:`CorruptFileError` for a damaged
    pickle. Python 2 strings come back as ``bytes`` (``encoding="bytes"``).
    """
    unpickler = _RestrictedUnpickler(io.BytesIO(data), encoding="bytes")
    try:
        return _resolve(unpickler.load())
    except UnsafeFileError as exc:
        raise UnsafeFileError(
            f"{source}: {exc}; only plain data and numeric NumPy arrays may be unpickled, "
            f"so the file was not loaded and nothing in it was run") from None
    except CorruptFileError as exc:
        raise CorruptFileError(f"{source}: {exc}") from None
    except Exception as exc:  # truncated or garbled pickles raise many different types
        raise CorruptFileError(f"{source}: not a valid pickle ({type(exc).__name__}: {exc})") from None
