"""Reductions over any set of axes: sum, mean, var, amax/amin, logsumexp, and max/min along a dim.

``axis`` is None (all axes) or a tuple of non-negative axes; ``keepdims`` keeps reduced axes as 1.
Backward broadcasts the output gradient back over the reduced axes.
"""
from __future__ import annotations

import math

import numpy as np

from deepbasic.backend import get_array_module
from deepbasic.tensor import Function, MaxResult, Tensor


def normalize_axis(axis: int, ndim: int, what: str = "dim") -> int:
    """A possibly negative axis as a non-negative one, with a clear error when out of range."""
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what} must be an integer, got {axis!r}")
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise IndexError(
            f"{what} {axis} is out of range for a tensor with {ndim} dimensions "
            f"(expected {-max(ndim, 1)} to {max(ndim, 1) - 1})"
        )
    return int(axis) % max(ndim, 1)


def axes_arg(dim, axis, ndim: int):
    """Normalize PyTorch's ``dim`` (or NumPy's ``axis``) to None or a sorted tuple of axes."""
    if dim is None:
        dim = axis
    if dim is None:
        return None
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    out = tuple(sorted({normalize_axis(d, ndim) for d in dims}))
    if len(out) != len(dims):
        raise ValueError(f"dim {dim} repeats an axis")
    return out if ndim else ()  # a 0-d tensor accepts dim 0 or -1, like PyTorch


def _expand_back(g, shape, axis, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input's ``shape``."""
    if axis is None:
        axis = tuple(range(len(shape)))
    if not keepdims:
        g = g.reshape([1 if i in axis else n for i, n in enumerate(shape)])
    return g


def _count(shape, axis) -> int:
    if axis is None:
        return math.prod(shape)
    return math.prod(shape[i] for i in axis)


class Sum(Function):
    """z = sum over axes of a;  dz/da = 1 (the gradient broadcast back)."""

    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return a.sum(axis=axis, keepdims=keepdims)

    def backward(self, g):
        xp = get_array_module(g)
        return xp.broadcast_to(_expand_back(g, self.shape, self.axis, self.keepdims), self.shape)


class Mean(Function):
    """z = mean over axes of a;  dz/da = 1/n."""

    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return a.mean(axis=axis, keepdims=keepdims)

    def backward(self, g):
        xp = get_array_module(g)
        n = _count(self.shape, self.axis)
        g = _expand_back(g, self.shape, self.axis, self.keepdims) / g.dtype.type(max(n, 1))
        return xp.broadcast_to(g, self.shape)


class Var(Function):
    """z = sum((a - mean)^2) / (n - correction);  dz/da = 2 (a - mean) / (n - correction)."""

    def forward(self, a, axis=None, keepdims=False, correction=1):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        n = _count(a.shape, axis)
        self.denom = max(n - correction, 0)
        self.centered = a - a.mean(axis=axis, keepdims=True)
        sq = (self.centered * self.centered).sum(axis=axis, keepdims=keepdims)
        return sq / a.dtype.type(self.denom) if self.denom else sq * a.dtype.type(np.nan)

    def backward(self, g):
        g = _expand_back(g, self.shape, self.axis, self.keepdims)
        return g * self.centered * (g.dtype.type(2) / g.dtype.type(self.denom or np.nan))


class _Extreme(Function):
    """Shared backward of amax / amin: the gradient is split evenly among tied extremes."""

    reducer = "max"

    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        z = getattr(a, self.reducer)(axis=axis, keepdims=True)
        self.mask = a == z
        return z if keepdims else z.reshape(_reduced_shape(a.shape, axis))

    def backward(self, g):
        g = _expand_back(g, self.shape, self.axis, self.keepdims)
        ties = self.mask.sum(axis=self.axis, keepdims=True).astype(g.dtype)
        return self.mask * (g / ties)


def _reduced_shape(shape, axis):
    if axis is None:
        return ()
    return tuple(n for i, n in enumerate(shape) if i not in axis)


class Amax(_Extreme):
    """z = max over axes;  dz/da = 1/(number of maxima) at the maxima, 0 elsewhere."""

    reducer = "max"


class Amin(_Extreme):
    """z = min over axes;  dz/da = 1/(number of minima) at the minima, 0 elsewhere."""

    reducer = "min"


class LogSumExp(Function):
    """z = log sum exp(a) = m + log sum exp(a - m) with m = max a;  dz/da = softmax(a) = e^(a - z)."""

    def forward(self, a, axis=None, keepdims=False):
        xp = get_array_module(a)
        self.a, self.shape, self.axis, self.keepdims = a, a.shape, axis, keepdims
        m = a.max(axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        self.z = m + xp.log(xp.exp(a - m).sum(axis=axis, keepdims=True))
        return self.z if keepdims else self.z.reshape(_reduced_shape(a.shape, axis))

    def backward(self, g):
        xp = get_array_module(g)
        g = _expand_back(g, self.shape, self.axis, self.keepdims)
        return g * xp.exp(self.a - self.z)


class TakeAlong(Function):
    """z = a[..., idx, ...] picked along ``axis``;  the gradient is scattered back to idx."""

    def forward(self, a, indices=None, axis=0):
        xp = get_array_module(a)
        self.shape, self.indices, self.axis = a.shape, indices, axis
        return xp.take_along_axis(a, indices, axis=axis)

    def backward(self, g):
        xp = get_array_module(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        xp.put_along_axis(out, self.indices, g, axis=self.axis)
        return out


def max_along(t: Tensor, dim: int, keepdim: bool, largest: bool) -> MaxResult:
    """(values, indices) of the max (or min) along ``dim``; the gradient goes to that index."""
    axis = normalize_axis(dim, t.ndim)
    data = t.data
    idx = (data.argmax if largest else data.argmin)(axis=axis)
    idx_k = get_array_module(data).expand_dims(idx, axis)
    values = TakeAlong.apply(t, indices=idx_k, axis=axis)
    if not keepdim:
        values = values.squeeze(axis)
    else:
        idx = idx_k
    return MaxResult(values, Tensor._make(idx.astype(np.int64)))


def arg_reduce(t: Tensor, dim, keepdim: bool, name: str) -> Tensor:
    """argmax / argmin as an int64 tensor (no gradient)."""
    data = t.data
    if dim is None:
        out = get_array_module(data).asarray(getattr(data, name)(), dtype=np.int64)
        return Tensor._make(out.reshape((1,) * data.ndim) if keepdim else out)
    axis = normalize_axis(dim, t.ndim)
    out = getattr(data, name)(axis=axis)
    if keepdim:
        out = get_array_module(data).expand_dims(out, axis)
    return Tensor._make(out.astype(np.int64))
