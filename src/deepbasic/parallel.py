"""Elementwise work split over threads.

NumPy's ufuncs release the GIL, so an update of a large array (an optimizer step) can run on
several cores by giving each thread its own contiguous slice. The thread count follows
``DEEPBASIC_NUM_THREADS``, else ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` (so one setting
limits BLAS and deepbasic together), else the number of cores; :func:`set_num_threads` changes it.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_threads: int | None = None


def _threads_from_environment() -> int:
    for name in ("DEEPBASIC_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def get_num_threads() -> int:
    """Threads used for elementwise work on large arrays."""
    global _threads
    if _threads is None:
        _threads = _threads_from_environment()
    return _threads


def set_num_threads(n: int) -> None:
    """Use ``n`` >= 1 threads for elementwise work (1: everything on the calling thread)."""
    global _threads, _pool
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: expected an integer >= 1, got {n!r}")
    with _lock:
        _threads = n
        if _pool is not None:
            _pool.shutdown(wait=False)
            _pool = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, get_num_threads() - 1),
                                       thread_name_prefix="deepbasic")
        return _pool


def run_split(fn, size: int, min_chunk: int = 131072) -> None:
    """Call ``fn(start, stop)`` on consecutive ranges covering ``range(size)``, in parallel.

    At most :func:`get_num_threads` ranges, none shorter than ``min_chunk`` (smaller work is not
    worth a thread switch): a small ``size`` runs as one call on the calling thread. The calling
    thread does the first range itself; exceptions from any range are raised here.
    """
    parts = min(get_num_threads(), max(1, size // min_chunk))
    if parts <= 1:
        fn(0, size)
        return
    bounds = [size * i // parts for i in range(parts + 1)]
    futures = [_executor().submit(fn, bounds[i], bounds[i + 1]) for i in range(1, parts)]
    fn(bounds[0], bounds[1])
    for f in futures:
        f.result()
