"""Shape ops: reshape, permute, expand, indexing, concatenation, padding and splitting.

None of these change values, so each backward only moves the gradient back into the input's
layout: reshape it back, permute it back, sum it over expanded axes, scatter it into the indexed
positions (adding where an index repeats), or slice it apart.
"""
from __future__ import annotations

import math

import numpy as np

from deepbasic.backend import get_array_module
from deepbasic.ops.reduce import normalize_axis
from deepbasic.tensor import Function, Tensor, unbroadcast


def _shape_arg(shape) -> tuple:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


class Reshape(Function):
    """z = a viewed with another shape;  dz/da = the gradient reshaped back."""

    def forward(self, a, shape=()):
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        return g.reshape(self.shape)


def reshape(t: Tensor, shape) -> Tensor:
    """``t`` with a new shape of the same number of elements (one entry may be -1)."""
    shape = _shape_arg(shape)
    n = t.data.size
    known = math.prod(s for s in shape if s != -1)
    bad = shape.count(-1) > 1 or any(s < -1 for s in shape)
    if not bad:
        if -1 in shape:
            bad = known == 0 or n % known != 0
        else:
            bad = known != n
    if bad:
        raise ValueError(
            f"reshape: cannot view shape {tuple(t.shape)} ({n} elements) as {shape}"
        )
    return Reshape.apply(t, shape=shape)


def flatten(t: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one: (N, C, H, W).flatten(1) -> (N, C*H*W)."""
    if t.ndim == 0:
        return reshape(t, (1,))
    s = normalize_axis(start_dim, t.ndim)
    e = normalize_axis(end_dim, t.ndim)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = t.shape[:s] + (math.prod(t.shape[s : e + 1]),) + t.shape[e + 1 :]
    return Reshape.apply(t, shape=shape)


def squeeze(t: Tensor, dim=None) -> Tensor:
    """Remove axes of length 1 (all of them, or only ``dim`` if it has length 1)."""
    if dim is None:
        shape = tuple(n for n in t.shape if n != 1)
    else:
        d = normalize_axis(dim, t.ndim)
        shape = t.shape if t.shape[d] != 1 else t.shape[:d] + t.shape[d + 1 :]
    return Reshape.apply(t, shape=shape)


def unsqueeze(t: Tensor, dim: int) -> Tensor:
    """Insert an axis of length 1 at ``dim`` (negative counts from the end of the new shape)."""
    d = normalize_axis(dim, t.ndim + 1)
    return Reshape.apply(t, shape=t.shape[:d] + (1,) + t.shape[d:])


class Permute(Function):
    """z = a with its axes reordered;  dz/da = the gradient with the inverse order."""

    def forward(self, a, axes=()):
        self.inverse = tuple(np.argsort(axes))
        return a.transpose(axes)

    def backward(self, g):
        return g.transpose(self.inverse)


def permute(t: Tensor, dims) -> Tensor:
    dims = _shape_arg(dims)
    axes = tuple(normalize_axis(d, t.ndim) for d in dims)
    if sorted(axes) != list(range(t.ndim)):
        raise ValueError(
            f"permute: dims {dims} are not a permutation of the {t.ndim} axes of shape "
            f"{tuple(t.shape)}"
        )
    return Permute.apply(t, axes=axes)


def transpose(t: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two axes."""
    axes = list(range(t.ndim))
    a, b = normalize_axis(dim0, t.ndim), normalize_axis(dim1, t.ndim)
    axes[a], axes[b] = axes[b], axes[a]
    return Permute.apply(t, axes=tuple(axes))


class Expand(Function):
    """z = a broadcast to a larger shape;  dz/da = the gradient summed over the expanded axes."""

    def forward(self, a, shape=()):
        self.shape = a.shape
        return get_array_module(a).broadcast_to(a, shape)

    def backward(self, g):
        return unbroadcast(g, self.shape)


def expand(t: Tensor, shape) -> Tensor:
    """Broadcast to ``shape`` without copying; -1 keeps a dimension (PyTorch's expand)."""
    shape = _shape_arg(shape)
    lead = len(shape) - t.ndim
    if lead < 0:
        raise ValueError(f"expand: shape {shape} has fewer dims than the tensor {tuple(t.shape)}")
    full = tuple(t.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
    for i, n in enumerate(t.shape):
        if n != 1 and n != full[i + lead]:
            raise ValueError(
                f"expand: cannot expand shape {tuple(t.shape)} to {shape}: size {n} at dim {i} "
                f"must be 1 or {full[i + lead]}"
            )
    return Expand.apply(t, shape=full)


def plain_index(index):
    """Replace tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_basic(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts
    )


class GetItem(Function):
    """z = a[index];  dz/da = zeros with the gradient added at the indexed positions.

    Integer-array indices may repeat a position; their gradients are summed (scatter-add).
    """

    def forward(self, a, index=None):
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        return a[index]

    def backward(self, g):
        xp = get_array_module(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        index = self.index
        if _is_basic(index) or _only_bool(index):
            out[index] = g
        else:
            xp.add.at(out, _bool_to_int(index, xp), g)
        return out


def _only_bool(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    arrays = [p for p in parts if hasattr(p, "dtype")]
    return len(arrays) == 1 and arrays[0].dtype == bool


def _bool_to_int(index, xp):
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if hasattr(p, "dtype") and p.dtype == bool:
            out.extend(xp.nonzero(p))
        else:
            out.append(p)
    return tuple(out)


def getitem(t: Tensor, index) -> Tensor:
    """``t[index]`` with NumPy semantics: ints, slices, None, ..., integer and boolean arrays."""
    index = plain_index(index)
    try:
        return GetItem.apply(t, index=index)
    except IndexError as e:
        raise IndexError(f"index {index!r} into a tensor of shape {tuple(t.shape)}: {e}") from None


class Cat(Function):
    """z = the inputs joined along ``axis``;  each input's gradient is its slice of dz."""

    def forward(self, *arrays, axis=0):
        xp = get_array_module(*arrays)
        self.axis = axis
        self.bounds = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return xp.concatenate(arrays, axis=axis)

    def backward(self, g):
        xp = get_array_module(g)
        return tuple(xp.split(g, self.bounds, axis=self.axis))


def _check_same_shapes(tensors, what: str, skip_axis=None):
    first = tuple(tensors[0].shape)
    for i, t in enumerate(tensors[1:], 1):
        s = tuple(t.shape)
        a = [n for k, n in enumerate(s) if k != skip_axis]
        b = [n for k, n in enumerate(first) if k != skip_axis]
        if len(s) != len(first) or a != b:
            where = "" if skip_axis is None else f" except along dim {skip_axis}"
            raise ValueError(
                f"{what}: tensor 0 has shape {first} but tensor {i} has shape {s}; shapes must "
                f"match{where}"
            )


def cat(tensors, dim: int = 0) -> Tensor:
    """Concatenate tensors along an existing dim."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    axis = normalize_axis(dim, tensors[0].ndim)
    _check_same_shapes(tensors, "cat", skip_axis=axis)
    return Cat.apply(*tensors, axis=axis)


class Stack(Function):
    """z = the inputs stacked along a new axis;  each input's gradient is z's slice there."""

    def forward(self, *arrays, axis=0):
        self.axis, self.n = axis, len(arrays)
        return get_array_module(*arrays).stack(arrays, axis=axis)

    def backward(self, g):
        return tuple(g.take(i, axis=self.axis) for i in range(self.n))


def stack(tensors, dim: int = 0) -> Tensor:
    """Stack equally shaped tensors along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    _check_same_shapes(tensors, "stack")
    return Stack.apply(*tensors, axis=normalize_axis(dim, tensors[0].ndim + 1))


class Pad(Function):
    """z = a surrounded by a constant;  dz/da = the inner slice of the gradient."""

    def forward(self, a, widths=(), value=0.0):
        xp = get_array_module(a)
        self.inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
        return xp.pad(a, widths, mode="constant", constant_values=value)

    def backward(self, g):
        return g[self.inner]


def pad(t: Tensor, pad, value: float = 0.0) -> Tensor:
    """Constant padding in PyTorch's order: ``(left, right)`` for the last dim, then
    ``(top, bottom)`` for the one before, and so on. (N, C, H, W) with pad=(1, 1, 2, 2) -> (N, C, H+4, W+2).
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > t.ndim:
        raise ValueError(
            f"pad: expected an even number of sizes, at most 2 per dim ({2 * t.ndim} for shape "
            f"{tuple(t.shape)}), got {pad}"
        )
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: sizes must be non-negative, got {pad}")
    widths = [(0, 0)] * t.ndim
    for i in range(len(pad) // 2):
        widths[t.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return Pad.apply(t, widths=tuple(widths), value=value)


def split(t: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Split into pieces of ``split_size`` (the last may be smaller) or of the given sizes."""
    axis = normalize_axis(dim, t.ndim)
    n = t.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        sizes = [min(step, n - s) for s in range(0, n, step)]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} add up to {sum(sizes)}, but dim {dim} has {n}")
    pieces, start = [], 0
    lead = (slice(None),) * axis
    for s in sizes:
        pieces.append(GetItem.apply(t, index=lead + (slice(start, start + s),)))
        start += s
    return tuple(pieces)


def chunk(t: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Split into ``chunks`` nearly equal pieces (PyTorch's rule: size ceil(n / chunks))."""
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
    n = t.shape[normalize_axis(dim, t.ndim)]
    return split(t, max(1, math.ceil(n / chunks)), dim)
