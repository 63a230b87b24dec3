"""Timing helpers shared by the benchmarks (run as ``python benchmarks/bench_*.py``, which puts
this folder on ``sys.path``).

Two libraries are compared in one process by running their callables alternately (a, b, a, b,
...), so that a change in the machine's load hits both.
"""
from __future__ import annotations

import statistics
import time

import numpy as np


def alternate(fns: dict, repeats: int, warmup: int = 3, cpu: dict | None = None) -> dict:
    """Run the callables alternately after ``warmup`` rounds: name -> list of wall seconds
    (and, into ``cpu`` when given, name -> list of process CPU seconds, all threads)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {k: [] for k in fns}
    if cpu is not None:
        cpu.update({k: [] for k in fns})
    for _ in range(repeats):
        for k, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
            if cpu is not None:
                cpu[k].append(time.process_time() - c0)
    return times


def median_time(fn, repeats: int, warmup: int = 10) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    return statistics.median(alternate({"fn": fn}, repeats, warmup)["fn"])


def gemm_rate(repeats: int, n: int = 2048) -> tuple[float, float]:
    """Single-precision GEMM GFLOP/s of NumPy and of PyTorch on this machine: the median of
    ``repeats`` n x n x n products each."""
    import torch

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    t = alternate({"numpy": lambda: a @ b, "torch": lambda: ta @ tb}, repeats, warmup=1)
    flops = 2.0 * n ** 3
    return flops / statistics.median(t["numpy"]) / 1e9, flops / statistics.median(t["torch"]) / 1e9
