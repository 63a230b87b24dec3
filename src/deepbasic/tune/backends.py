"""Where trials run: ``"serial"`` (this process), ``"process"`` (a local pool) or ``"ray"``.

A backend's ``run(objective, configs, callback)`` evaluates ``objective(config)`` for every
config and returns one record per config, in the configs' order::

    {"score": float | None, "info": {...}, "seconds": float, "error": str | None}

A trial that raises is recorded with its error message (``score`` None); the search goes on.

- ``SerialBackend``: one trial after another in this process (debugging, tests, tiny searches).
- ``ProcessBackend(workers)``: a ``concurrent.futures.ProcessPoolExecutor`` of ``workers``
  processes started with ``spawn`` (a fresh interpreter, safe beside threads). Each worker's BLAS
  is limited to ``threads = cores // workers`` threads (``OMP_NUM_THREADS`` and friends are set
  before the worker starts, and threadpoolctl enforces it once NumPy is loaded), so the workers
  do not oversubscribe the cores: small matrix products slow down by orders of magnitude when
  several multi-threaded BLAS libraries fight over the same cores.
- ``RayBackend(address)``: Ray tasks, one CPU each, on the cluster at ``address`` (``"auto"``,
  ``"ray://host:10001"``...) or on a local Ray instance started for the search (and shut down
  after). Ray is optional: ``pip install 'deepbasic[tune]'``.

The objective must be picklable for ``process`` (a top-level function, or an instance of a
top-level class such as :class:`deepbasic.tune.trial.MLPObjective`); Ray also accepts closures.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import os
import pickle
import time
import traceback

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

RAY_MISSING = ("the ray backend needs Ray, which is not installed: pip install 'deepbasic[tune]' "
               "(or pip install ray), or use --backend process")


BROKEN_HINT = ("(a worker process died: killed, out of memory, or a crash in native code; a script "
               "that runs a search with the process backend must start it under "
               "`if __name__ == \"__main__\":`, because each worker imports the script)")


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def _limit_threads(threads: int | None):
    """Cap the BLAS / OpenMP thread pools (a context manager; no-op for None)."""
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(threads))


def _score_of(value):
    """Split an objective's return value into (score, info)."""
    if isinstance(value, dict):
        if "score" not in value:
            raise TypeError(f"the objective returned a dict without a 'score' key: "
                            f"keys {sorted(map(str, value))}")
        info = {k: v for k, v in value.items() if k != "score"}
        value = value["score"]
    else:
        info = {}
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"the objective must return a number or a dict with a 'score' number, "
                        f"got {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError("the objective returned a NaN score")
    return value, info


def run_trial(objective, config: dict, threads: int | None = None) -> dict:
    """Evaluate ``objective(config)``, timing it and catching its errors (runs in a worker)."""
    start = time.perf_counter()
    try:
        with _limit_threads(threads):
            score, info = _score_of(objective(dict(config)))
        error = None
    except Exception as e:  # recorded, not raised: one bad trial must not end the search
        score, info = None, {}
        error = f"{type(e).__name__}: {e}"
        frames = traceback.extract_tb(e.__traceback__)
        if frames:
            f = frames[-1]
            error += f" ({os.path.basename(f.filename)}:{f.lineno})"
    return {"score": score, "info": info, "seconds": time.perf_counter() - start, "error": error}


def _failed(message: str) -> dict:
    return {"score": None, "info": {}, "seconds": 0.0, "error": message}


def _check_workers(workers, name: str) -> int | None:
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise ValueError(f"{name}: workers must be a positive integer, got {workers!r}")
    return int(workers)


class SerialBackend:
    """Run trials one after another in this process. threads: cap BLAS threads meanwhile."""

    name = "serial"

    def __init__(self, threads: int | None = None):
        self.threads = threads
        self.workers = 1

    def run(self, objective, configs, callback=None) -> list[dict]:
        out = []
        for i, config in enumerate(configs):
            out.append(run_trial(objective, config, self.threads))
            if callback is not None:
                callback(i, out[-1])
        return out

    def __repr__(self):
        return "SerialBackend()"


def _worker_init(threads: int) -> None:
    for var in THREAD_VARIABLES:
        os.environ[var] = str(threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)  # global, for the life of the worker
    except ImportError:  # pragma: no cover
        pass


@contextlib.contextmanager
def _environ(values: dict):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class ProcessBackend:
    """A pool of ``workers`` processes (default: one per core), each with ``threads`` BLAS
    threads (default ``max(1, cores // workers)``). start_method: ``"spawn"`` (default),
    ``"forkserver"`` or ``"fork"``.

    Each ``run`` starts and stops its own pool, unless the backend is open: inside
    ``with backend:`` (or between ``open()`` and ``close()``) one pool serves every run, so its
    workers start once and keep the datasets they loaded (the searches do this for their rounds,
    and :func:`~deepbasic.tune.search.compare_random_grid` for both searches).
    """

    name = "process"

    def __init__(self, workers: int | None = None, threads: int | None = None,
                 start_method: str = "spawn"):
        cores = available_cores()
        self.workers = _check_workers(workers, "process backend") or cores
        self.threads = int(threads) if threads else max(1, cores // self.workers)
        self.start_method = start_method
        self._pool = None

    # ----- the pool -----------------------------------------------------------------------------
    def _new_pool(self, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context(self.start_method)
        return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                   initargs=(self.threads,))

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    def open(self) -> "ProcessBackend":
        """Start the pool that later runs share (a no-op when it is already open)."""
        if self._pool is None:
            self._pool = self._new_pool(self.workers)
        return self

    def close(self) -> None:
        """Stop the shared pool (its workers finish their current trial first)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    # ----- running ------------------------------------------------------------------------------
    def run(self, objective, configs, callback=None) -> list[dict]:
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        configs = list(configs)
        if not configs:
            return []
        try:
            pickle.dumps(objective)
        except Exception as e:
            raise TypeError(
                f"the process backend sends the objective to other processes, so it must be "
                f"picklable (a top-level function or an instance of a top-level class); "
                f"{objective!r} is not ({type(e).__name__}: {e}). Use backend='serial' or 'ray', "
                f"or move it to module level") from None
        env = {var: str(self.threads) for var in THREAD_VARIABLES}
        out: list = [None] * len(configs)
        shared = self._pool is not None
        # The environment is set while workers start (spawn reads it before NumPy loads); the
        # initializer applies the same limit through threadpoolctl.
        with _environ(env):
            pool = self._pool if shared else self._new_pool(min(self.workers, len(configs)))
            try:
                futures = {pool.submit(run_trial, objective, c): i for i, c in enumerate(configs)}
                for future in as_completed(futures):
                    i = futures[future]
                    try:
                        out[i] = future.result()
                    except BrokenProcessPool as e:
                        out[i] = _failed(f"{type(e).__name__}: {e} {BROKEN_HINT}")
                    except Exception as e:  # the result did not unpickle
                        out[i] = _failed(f"{type(e).__name__}: {e}")
                    if callback is not None:
                        callback(i, out[i])
            finally:
                if not shared:
                    pool.shutdown(wait=True, cancel_futures=True)
                elif any(r is not None and "BrokenProcessPool" in (r["error"] or "") for r in out):
                    self.close()  # a broken pool cannot run anything more; the next run opens one
        return out

    def __repr__(self):
        return f"ProcessBackend(workers={self.workers}, threads={self.threads})"


def import_ray():
    """``import ray``, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError as e:
        raise ImportError(RAY_MISSING) from e
    return ray


class RayBackend:
    """Ray tasks of one CPU each. address: an existing cluster (``"auto"``, ``"ray://..."``);
    None: use Ray if this process already called ``ray.init``, else start a local instance with
    ``workers`` CPUs (default: every core) for the search and shut it down afterwards."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None,
                 threads: int = 1):
        self.ray = import_ray()
        self.address = address
        self.workers = _check_workers(workers, "ray backend")
        self.threads = threads

    def run(self, objective, configs, callback=None) -> list[dict]:
        ray = self.ray
        configs = list(configs)
        if not configs:
            return []
        started = False
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers or available_cores(), include_dashboard=False,
                         log_to_driver=False)
            started = True
        try:
            task = ray.remote(num_cpus=1, max_retries=0)(run_trial)
            objective_ref = ray.put(objective)
            pending = {task.remote(objective_ref, c, self.threads): i for i, c in enumerate(configs)}
            out: list = [None] * len(configs)
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    i = pending.pop(ref)
                    try:
                        out[i] = ray.get(ref)
                    except Exception as e:  # the worker died or the task could not run
                        out[i] = _failed(f"{type(e).__name__}: {str(e).strip().splitlines()[-1]}")
                    if callback is not None:
                        callback(i, out[i])
            return out
        finally:
            if started:
                ray.shutdown()

    def __repr__(self):
        return f"RayBackend(address={self.address!r})"


@contextlib.contextmanager
def session(backend):
    """Keep ``backend`` open (one process pool) for several runs, if it can be opened and is
    not open already; closes it afterwards only if it opened it here."""
    if not hasattr(backend, "open") or getattr(backend, "is_open", True):
        yield backend
        return
    with backend:
        yield backend


BACKENDS = ("process", "serial", "ray")


def make_backend(backend="process", workers: int | None = None, address: str | None = None):
    """A backend object from its name (``"process"``, ``"serial"``, ``"ray"``) or as given."""
    if hasattr(backend, "run"):
        return backend
    if backend == "serial":
        return SerialBackend()
    if backend == "process":
        return ProcessBackend(workers)
    if backend == "ray":
        return RayBackend(address=address, workers=workers)
    raise ValueError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
