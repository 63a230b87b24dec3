"""Optimizer updates split over threads give the same numbers as on one thread."""
import numpy as np
import pytest

import deepbasic as db
from deepbasic import optim, parallel


@pytest.fixture
def restore_threads():
    before = parallel.get_num_threads()
    yield
    parallel.set_num_threads(before)


def _run_adam(threads: int, amsgrad: bool = False, weight_decay: float = 0.0, steps: int = 3):
    parallel.set_num_threads(threads)
    rng = np.random.default_rng(0)
    w = db.tensor(rng.standard_normal((700, 600)).astype(np.float32), requires_grad=True)
    opt = optim.Adam([w], lr=1e-2, amsgrad=amsgrad, weight_decay=weight_decay)
    for _ in range(steps):
        w.grad = rng.standard_normal(w.shape).astype(np.float32)
        opt.step()
    return w.data.copy()


@pytest.mark.parametrize("amsgrad,weight_decay", [(False, 0.0), (True, 0.1)])
def test_adam_threads_match_one_thread(restore_threads, amsgrad, weight_decay):
    one = _run_adam(1, amsgrad, weight_decay)
    three = _run_adam(3, amsgrad, weight_decay)
    np.testing.assert_array_equal(one, three)


def test_adam_threaded_matches_torch(restore_threads):
    torch = pytest.importorskip("torch")
    parallel.set_num_threads(2)
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((300, 1000))
    w = db.tensor(w0, dtype="float64", requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)
    opt, topt = optim.Adam([w], lr=1e-2), torch.optim.Adam([tw], lr=1e-2)
    for _ in range(4):
        g = rng.standard_normal(w0.shape)
        w.grad, tw.grad = g.copy(), torch.tensor(g)
        opt.step()
        topt.step()
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_run_split_covers_every_index_once(restore_threads):
    parallel.set_num_threads(4)
    seen = np.zeros(1_000_003, dtype=int)

    def mark(start, stop):
        seen[start:stop] += 1

    parallel.run_split(mark, seen.size, min_chunk=1000)
    assert (seen == 1).all()


def test_run_split_raises_the_workers_error(restore_threads):
    parallel.set_num_threads(2)

    def fail(start, stop):
        if start > 0:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        parallel.run_split(fail, 10, min_chunk=1)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_set_num_threads_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="integer >= 1"):
        parallel.set_num_threads(bad)
