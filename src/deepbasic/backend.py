"""Array backends, default dtype and the global random generator.

deepbasic computes with NumPy arrays on the CPU and with CuPy arrays on a GPU. Ops never import an
array module for array math: they ask :func:`get_array_module` for the module that owns their inputs,
so the same code runs on both.

Randomness (``randn``, dropout masks, weight initialization, shuffling) draws from one global
``numpy.random.Generator`` that :func:`manual_seed` resets, so a seeded run is reproducible.
"""
from __future__ import annotations

import os

import numpy as np

try:  # CuPy is optional: the `gpu` extra.
    import cupy as _cupy  # type: ignore
except Exception:  # pragma: no cover - depends on the machine
    _cupy = None

_default_dtype = np.dtype(np.float32)
_generator = np.random.default_rng()


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # pragma: no cover - depends on the machine
        return False


def get_array_module(*arrays):
    """Return ``cupy`` if any of ``arrays`` is a CuPy array, else ``numpy``."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def device_module(device: str):
    """The array module for a device name: ``"cpu"`` -> numpy, ``"cuda"`` -> cupy."""
    if device == "cpu":
        return np
    if device in ("cuda", "gpu"):
        if _cupy is None:
            raise RuntimeError("device='cuda' needs CuPy: pip install 'deepbasic[gpu]'")
        return _cupy
    raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")


def to_numpy(a) -> np.ndarray:
    """Copy an array to host memory as a NumPy array (no copy for NumPy input)."""
    if _cupy is not None and isinstance(a, _cupy.ndarray):
        return _cupy.asnumpy(a)
    return np.asarray(a)


def to_dtype(dtype) -> np.dtype:
    """Normalize a dtype given as a NumPy dtype, a type or a name (``"float64"``)."""
    if dtype is None:
        return _default_dtype
    try:
        return np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"unknown dtype {dtype!r}: expected a NumPy dtype or its name") from e


def get_default_dtype() -> np.dtype:
    """The floating dtype of new tensors made from Python floats (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the floating dtype of new tensors (``"float32"`` or ``"float64"``)."""
    global _default_dtype
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dt}")
    _default_dtype = dt


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the global generator (and CuPy's, when present); returns the generator."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: expected a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    if _cupy is not None and cupy_available():  # pragma: no cover - GPU only
        _cupy.random.seed(int(seed))
    return _generator


def generator() -> np.random.Generator:
    """The global random generator used by deepbasic (reset by :func:`manual_seed`)."""
    return _generator


def get_rng_state() -> dict:
    """The global generator's state, a JSON-serializable dict (for checkpoints)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore the global generator's state saved by :func:`get_rng_state`."""
    _generator.bit_generator.state = state


def blas_threads() -> str:
    """A best-effort description of the BLAS library and its thread count."""
    try:
        from threadpoolctl import threadpool_info  # type: ignore

        infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if infos:
            i = infos[0]
            return f"{i.get('internal_api')} ({i.get('num_threads')} threads)"
    except Exception:
        pass
    env = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS")
    return f"threads={env or os.cpu_count()}"


def random_uniform(shape, xp=np, dtype=None):
    """Uniform [0, 1) samples from the global generator (NumPy) or CuPy's (on a GPU)."""
    dt = to_dtype(dtype)
    if xp is np:
        return _generator.random(shape, dtype=dt if dt in (np.float32, np.float64) else np.float64).astype(dt, copy=False)
    return xp.random.random(shape).astype(dt)  # pragma: no cover - GPU only
