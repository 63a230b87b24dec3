"""Property tests (hypothesis): broadcasting binary ops, shape-op round trips, indexing vs NumPy."""
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import deepbasic as db
from helpers import assert_close

SETTINGS = settings(max_examples=40, deadline=None)

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a ** b, np.power),
    "maximum": (lambda a, b: a.maximum(b) if isinstance(a, db.Tensor) else torch.maximum(a, b),
                np.maximum),
}


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       name=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_binary_broadcasting(shapes, name, seed):
    fn, npfn = BINARY[name]
    sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, sa) if name in ("pow",) else rng.standard_normal(sa)
    b = rng.uniform(0.5, 2.0, sb) if name in ("div", "pow") else rng.standard_normal(sb)
    x, y = db.tensor(a, requires_grad=True), db.tensor(b, requires_grad=True)
    out = fn(x, y)
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out.numpy(), npfn(a, b), rtol=1e-12, atol=1e-12)

    g = rng.standard_normal(out.shape)
    out.backward(g)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    fn(tx, ty).backward(torch.tensor(g))
    assert x.grad.shape == sa and y.grad.shape == sb
    assert_close(x.grad, tx.grad, what="grad a")
    assert_close(y.grad, ty.grad, what="grad b")


@st.composite
def shape_op_chains(draw):
    """A random shape and a sequence of reshape / permute / transpose / T / flatten / unsqueeze /
    squeeze steps, each given as (name, args) valid for the shape it is applied to."""
    shape = tuple(draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4)))
    steps, cur = [], shape
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["reshape", "permute", "transpose", "T", "flatten",
                                     "unsqueeze", "squeeze"]))
        n = len(cur)
        if kind == "reshape":
            size = int(np.prod(cur))
            divisors = [d for d in range(1, size + 1) if size % d == 0]
            first = draw(st.sampled_from(divisors))
            new = (first, -1) if draw(st.booleans()) else (first, size // first)
            steps.append((kind, new))
            cur = (first, size // first)
        elif kind == "permute":
            perm = tuple(draw(st.permutations(range(n))))
            steps.append((kind, perm))
            cur = tuple(cur[p] for p in perm)
        elif kind == "transpose":
            d0, d1 = draw(st.integers(-n, n - 1)), draw(st.integers(-n, n - 1))
            steps.append((kind, (d0, d1)))
            c = list(cur)
            c[d0], c[d1] = c[d1], c[d0]
            cur = tuple(c)
        elif kind == "T":
            steps.append((kind, ()))
            cur = cur[::-1]
        elif kind == "flatten":
            s = draw(st.integers(0, n - 1))
            e = draw(st.integers(s, n - 1))
            steps.append((kind, (s, e)))
            cur = cur[:s] + (int(np.prod(cur[s:e + 1])),) + cur[e + 1:]
        elif kind == "unsqueeze":
            d = draw(st.integers(-n - 1, n))
            steps.append((kind, (d,)))
            cur = tuple(np.expand_dims(np.empty(cur), d).shape)
        elif any(s != 1 for s in cur):  # squeeze, unless it would leave a 0-d tensor
            steps.append((kind, ()))
            cur = tuple(s for s in cur if s != 1)
    return shape, steps


def _apply_np(a, kind, args):
    if kind == "reshape":
        return a.reshape(args)
    if kind == "permute":
        return a.transpose(args)
    if kind == "transpose":
        return np.swapaxes(a, *args)
    if kind == "T":
        return a.transpose(tuple(reversed(range(a.ndim))))
    if kind == "flatten":
        s, e = args
        return a.reshape(a.shape[:s] + (int(np.prod(a.shape[s:e + 1])),) + a.shape[e + 1:])
    if kind == "unsqueeze":
        return np.expand_dims(a, args[0])
    return a.squeeze()


def _apply_db(t, kind, args):
    if kind == "T":
        return t.T
    if kind == "squeeze":
        return t.squeeze()
    return getattr(t, kind)(*args)


@SETTINGS
@given(chain=shape_op_chains(), seed=st.integers(0, 2**16))
def test_shape_op_chains_match_numpy_and_grad_is_ones(chain, seed):
    shape, steps = chain
    a = np.random.default_rng(seed).standard_normal(shape)
    x = db.tensor(a, requires_grad=True)
    t, ref = x, a
    for kind, args in steps:
        t, ref = _apply_db(t, kind, args), _apply_np(ref, kind, args)
        assert t.shape == ref.shape, (kind, args)
    np.testing.assert_array_equal(t.numpy(), ref)
    t.sum().backward()
    assert x.grad.shape == shape
    np.testing.assert_array_equal(x.grad, np.ones(shape))


@SETTINGS
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=5))
def test_basic_indexing_matches_numpy(data, shape):
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    a = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    x = db.tensor(a, requires_grad=True)
    out = x[index]
    np.testing.assert_array_equal(out.numpy(), a[index])
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(g)
    expected = np.zeros(shape)
    expected[index] = g
    np.testing.assert_array_equal(x.grad, expected)


@SETTINGS
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
def test_integer_array_indexing_matches_numpy_and_accumulates(data, shape):
    index = data.draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(
        min_dims=1, max_dims=2, max_side=6)))
    a = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    x = db.tensor(a, requires_grad=True)
    out = x[index]
    np.testing.assert_array_equal(out.numpy(), a[index])
    g = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(g)
    expected = np.zeros(shape)
    np.add.at(expected, index, g)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
def test_boolean_mask_indexing_matches_numpy(data, shape):
    mask = data.draw(hnp.arrays(np.bool_, shape))
    a = np.random.default_rng(2).standard_normal(shape)
    x = db.tensor(a, requires_grad=True)
    out = x[mask]
    np.testing.assert_array_equal(out.numpy(), a[mask])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, mask.astype(np.float64))
