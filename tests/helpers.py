"""Shared test helpers: check a deepbasic op against PyTorch, and against centered differences.

The idea (from tinygrad's test_ops ``helper_test_op``): write the op twice, once with deepbasic and
once with torch, give both the same float64 inputs, and compare everything that comes out::

    import torch
    from helpers import check_op, floats, ints

    # binary op with broadcasting: shapes become seeded standard-normal float64 inputs
    check_op(lambda a, b: a * b, lambda a, b: a * b, [(3, 1, 4), (5, 4)])

    # log needs positive inputs: uniform in [0.5, 2)
    check_op(lambda x: x.log(), torch.log, [(2, 3)], positive=True)

    # a loss with integer targets (targets arrive as int64 tensors: deepbasic / torch)
    check_op(lambda x, t: ops.CrossEntropy.apply(x, target=t.data),
             lambda x, t: torch.nn.functional.cross_entropy(x, t),
             [(4, 5), ints((4,), high=5)])

    # non-tensor arguments: anything that is not a shape / array / spec passes through unchanged;
    # wrap a tuple in const() so it is not read as a shape
    check_op(lambda x, d: x.sum(d), lambda x, d: x.sum(d), [(2, 3, 4), const((0, 2))])

What :func:`check_op` does, in order:

1. Builds the inputs from ``inputs`` (one entry per positional argument, see :func:`make_inputs`)
   with a generator seeded by ``seed``, and makes a deepbasic tensor and a torch tensor of the same
   data for each (float inputs require grad unless told otherwise).
2. Runs ``db_fn`` and ``torch_fn``. Either may return one tensor or a tuple / list of tensors
   (``split``, ``max(dim)``'s (values, indices)); outputs are compared pairwise: shape, dtype
   kind and values (``atol`` / ``rtol``, 1e-10 by default: everything runs in float64). Integer and
   boolean outputs must be equal exactly. It also checks that the op did not change its inputs.
3. Draws one random upstream gradient per differentiable output, backpropagates the same one
   through both graphs and compares every input's gradient (an input torch gives no gradient must
   get none or zeros from deepbasic).
4. Runs :func:`deepbasic.gradcheck` (float64 centered differences) on ``db_fn`` with fresh copies
   of the inputs, so the analytic gradient is also checked against the definition.

It returns a :class:`Checked` with the outputs and inputs of both sides for extra assertions.
Keep gradcheck inputs small: it evaluates the op twice per input element.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

import deepbasic as db

ATOL = RTOL = 1e-10


# ----- input specs --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arg:
    """How to make one input. Use the factories :func:`floats`, :func:`ints`, :func:`bools`,
    :func:`const` rather than this class directly."""

    kind: str  # "float", "int", "bool", "const"
    shape: tuple = ()
    array: Any = None  # explicit data (float / int / bool kinds), or the constant itself
    low: float | None = None
    high: float | None = None
    requires_grad: bool | None = None


def floats(shape_or_array, low=None, high=None, requires_grad=True) -> Arg:
    """A float64 input: a shape (standard normal, or uniform in [low, high) when both are given)
    or an explicit array. ``requires_grad=False`` makes it a constant tensor on both sides."""
    if isinstance(shape_or_array, (tuple, list)) and not isinstance(shape_or_array, np.ndarray):
        return Arg("float", tuple(shape_or_array), None, low, high, requires_grad)
    return Arg("float", (), np.asarray(shape_or_array, dtype=np.float64), low, high, requires_grad)


def ints(shape, high, low=0) -> Arg:
    """An int64 input (class targets, indices) uniform in [low, high): never requires grad."""
    return Arg("int", tuple(shape), None, low, high, False)


def bools(shape) -> Arg:
    """A boolean input (masks, conditions) with about half True: never requires grad."""
    return Arg("bool", tuple(shape), None, None, None, False)


def const(value) -> Arg:
    """A value passed unchanged to both functions (dims, shapes, options)."""
    return Arg("const", (), value)


def make_inputs(inputs: Sequence, seed: int = 0, positive: bool = False) -> list:
    """Turn input specs into concrete values: a list of numpy arrays (or constants), plus which
    of them require grad, as ``[(value, requires_grad, is_tensor), ...]``.

    Each entry of ``inputs`` may be:

    * a tuple of ints (a shape): float64 standard normal, requiring grad
      (uniform in [0.5, 2) when ``positive=True``: for log, sqrt, pow, division);
    * a NumPy array: used as given; requires grad iff it is floating point;
    * an :class:`Arg` from :func:`floats`, :func:`ints`, :func:`bools` or :func:`const`;
    * anything else (a Python number, None, a slice, a string): passed through unchanged.
    """
    rng = np.random.default_rng(seed)
    out = []
    for spec in inputs:
        if isinstance(spec, tuple) and all(isinstance(s, (int, np.integer)) for s in spec):
            spec = floats(spec, *((0.5, 2.0) if positive else (None, None)))
        if isinstance(spec, np.ndarray):
            out.append((spec.copy(), spec.dtype.kind == "f", True))
            continue
        if not isinstance(spec, Arg):
            out.append((spec, False, False))
            continue
        if spec.kind == "const":
            out.append((spec.array, False, False))
        elif spec.kind == "float":
            if spec.array is not None:
                arr = spec.array.copy()
            elif spec.low is not None and spec.high is not None:
                arr = rng.uniform(spec.low, spec.high, spec.shape)
            else:
                arr = rng.standard_normal(spec.shape)
            out.append((np.asarray(arr, dtype=np.float64), bool(spec.requires_grad), True))
        elif spec.kind == "int":
            arr = np.asarray(rng.integers(spec.low, spec.high, spec.shape), dtype=np.int64)
            out.append((arr, False, True))
        elif spec.kind == "bool":
            out.append((np.asarray(rng.random(spec.shape) < 0.5), False, True))
        else:  # pragma: no cover - programming error in a test
            raise ValueError(f"unknown Arg kind {spec.kind!r}")
    return out


def _db_inputs(made):
    return [db.tensor(v.copy(), requires_grad=rg) if is_t else v for v, rg, is_t in made]


def _torch_inputs(made):
    return [torch.tensor(v.copy(), requires_grad=rg) if is_t else v for v, rg, is_t in made]


# ----- comparison ---------------------------------------------------------------------------------
def to_numpy(x) -> np.ndarray:
    """A deepbasic tensor, torch tensor, array or number as a NumPy array."""
    if isinstance(x, db.Tensor):
        return x.numpy()
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def assert_close(actual, expected, atol=ATOL, rtol=RTOL, what="") -> None:
    """Same shape and values within ``atol + rtol * |expected|`` (NaNs must match);
    exact equality for integer and boolean data."""
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape}, expected {e.shape}"
    if e.dtype.kind in "biu" or a.dtype.kind in "biu":
        assert a.dtype.kind == e.dtype.kind, f"{what}: dtype {a.dtype}, expected {e.dtype}"
        np.testing.assert_array_equal(a, e, err_msg=what)
    else:
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


def _as_list(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _differentiable(t) -> bool:
    return isinstance(t, db.Tensor) and t.requires_grad and t.dtype.kind == "f"


@dataclass
class Checked:
    """What :func:`check_op` ran: both sides' outputs (lists) and inputs."""

    db_out: list
    torch_out: list
    db_inputs: list
    torch_inputs: list


def check_op(db_fn: Callable, torch_fn: Callable, inputs: Sequence, *, positive: bool = False,
             seed: int = 0, atol: float = ATOL, rtol: float = RTOL, grad: bool = True,
             gradcheck: bool = True, gc_eps: float = 1e-6, gc_atol: float = 1e-5,
             gc_rtol: float = 1e-3) -> Checked:
    """Check ``db_fn`` against ``torch_fn`` (forward and gradients) and against gradcheck.

    db_fn / torch_fn: called with one positional argument per entry of ``inputs`` (deepbasic
        tensors for the first, torch tensors for the second; constants unchanged).
    inputs: shapes, arrays or specs, see :func:`make_inputs`.
    positive: plain shapes give values in [0.5, 2) instead of standard normal.
    seed: seeds the inputs and the upstream gradients.
    atol / rtol: tolerance of the forward and gradient comparisons with torch.
    grad: False to compare the forward only (and skip gradcheck).
    gradcheck: False to skip deepbasic.gradcheck (e.g. a large input, or an op with kinks near
        the inputs); gc_eps / gc_atol / gc_rtol are passed to it.
    """
    made = make_inputs(inputs, seed=seed, positive=positive)
    dbi, thi = _db_inputs(made), _torch_inputs(made)
    before = [v.copy() if is_t else None for v, _, is_t in made]

    db_out, th_out = _as_list(db_fn(*dbi)), _as_list(torch_fn(*thi))
    assert len(db_out) == len(th_out), f"{len(db_out)} outputs, torch gives {len(th_out)}"
    for k, (o, t) in enumerate(zip(db_out, th_out)):
        assert isinstance(o, db.Tensor), f"output {k} is {type(o).__name__}, not a Tensor"
        assert_close(o, t, atol, rtol, what=f"forward output {k}")
        if t.dtype.is_floating_point:
            assert o.dtype == np.float64, f"output {k} has dtype {o.dtype}, expected float64"
            if torch.is_grad_enabled() and any(rg for _, rg, _ in made):
                assert o.requires_grad == t.requires_grad, f"output {k} requires_grad"
    for k, (x, b) in enumerate(zip(dbi, before)):
        if b is not None:
            np.testing.assert_array_equal(x.numpy(), b, err_msg=f"input {k} was changed by the op")

    if not grad or not any(rg for _, rg, _ in made):
        return Checked(db_out, th_out, dbi, thi)

    rng = np.random.default_rng(seed + 1)
    pairs = [(o, t, rng.standard_normal(o.shape)) for o, t in zip(db_out, th_out)
             if _differentiable(o)]
    if not pairs:  # comparisons, argmax: nothing to backpropagate
        assert not any(t.requires_grad for t in th_out), "torch's output requires grad"
        return Checked(db_out, th_out, dbi, thi)
    if len(pairs) == 1:
        o, _, g = pairs[0]
        o.backward(db.tensor(g, dtype=o.dtype))
    else:
        total = None
        for o, _, g in pairs:
            term = (o * db.tensor(g, dtype=o.dtype)).sum()
            total = term if total is None else total + term
        total.backward()
    torch.autograd.backward([t for _, t, _ in pairs], [torch.tensor(g) for _, _, g in pairs])

    for k, (x, tx, (_, rg, _)) in enumerate(zip(dbi, thi, made)):
        if not rg:
            continue
        if tx.grad is None:
            assert x.grad is None or not np.any(x.grad), f"input {k}: torch gives no gradient"
            continue
        assert x.grad is not None, f"input {k} got no gradient"
        assert isinstance(x.grad, np.ndarray), f"input {k}: grad is a {type(x.grad).__name__}"
        assert x.grad.dtype == x.dtype, f"input {k}: grad dtype {x.grad.dtype} != {x.dtype}"
        assert_close(x.grad, tx.grad, atol, rtol, what=f"gradient of input {k}")

    if gradcheck:
        fresh = _db_inputs(made)
        db.gradcheck(db_fn, fresh, eps=gc_eps, atol=gc_atol, rtol=gc_rtol, seed=seed)
    return Checked(db_out, th_out, dbi, thi)


def run_gradcheck(fn: Callable, inputs: Sequence, *, seed: int = 0, positive: bool = False,
                  **kwargs) -> None:
    """Only deepbasic.gradcheck of ``fn`` on inputs built like :func:`check_op`'s (for ops torch
    has no exact match for)."""
    db.gradcheck(fn, _db_inputs(make_inputs(inputs, seed=seed, positive=positive)), seed=seed,
                 **kwargs)
