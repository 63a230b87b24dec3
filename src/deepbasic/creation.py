"""Tensor factories: zeros, ones, full, arange, and random tensors from the global generator."""
from __future__ import annotations

import numpy as np

from deepbasic import backend
from deepbasic.tensor import Tensor


def _shape(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def _finish(data, dtype, requires_grad, device) -> Tensor:
    data = data.astype(backend.to_dtype(dtype), copy=False)
    if device is not None and device != "cpu":
        data = backend.device_module(device).asarray(data)
    return Tensor(data, requires_grad=requires_grad) if requires_grad else Tensor._make(data)


def zeros(*shape, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return _finish(np.zeros(_shape(shape)), dtype, requires_grad, device)


def ones(*shape, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A tensor of ones."""
    return _finish(np.ones(_shape(shape)), dtype, requires_grad, device)


def full(shape, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``."""
    return _finish(np.full(_shape((shape,)), fill_value), dtype, requires_grad, device)


def zeros_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    """Zeros with the shape, dtype and device of ``t``."""
    xp = backend.get_array_module(t.data)
    data = xp.zeros(t.shape, dtype=t.dtype if dtype is None else backend.to_dtype(dtype))
    return Tensor(data, requires_grad=requires_grad) if requires_grad else Tensor._make(data)


def ones_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    """Ones with the shape, dtype and device of ``t``."""
    xp = backend.get_array_module(t.data)
    data = xp.ones(t.shape, dtype=t.dtype if dtype is None else backend.to_dtype(dtype))
    return Tensor(data, requires_grad=requires_grad) if requires_grad else Tensor._make(data)


def randn(*shape, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Standard normal samples from the global generator (see ``manual_seed``)."""
    dt = backend.to_dtype(dtype)
    data = backend.generator().standard_normal(_shape(shape), dtype=dt if dt.kind == "f" and dt.itemsize >= 4 else np.float64)
    return _finish(data, dt, requires_grad, device)


def rand(*shape, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Uniform samples in [0, 1) from the global generator."""
    dt = backend.to_dtype(dtype)
    data = backend.generator().random(_shape(shape), dtype=dt if dt.kind == "f" and dt.itemsize >= 4 else np.float64)
    return _finish(data, dt, requires_grad, device)


def arange(start, end=None, step=1, dtype=None, device=None) -> Tensor:
    """Evenly spaced values in [start, end): int64 for integer arguments, else the float default."""
    if end is None:
        start, end = 0, start
    ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    if dtype is None:
        dtype = np.int64 if ints else backend.get_default_dtype()
    return _finish(np.arange(start, end, step), dtype, False, device)
