"""Pooling: max, average, adaptive average, and max unpooling over (N, C, H, W) feature maps.

A pooling window of kernel (kh, kw), stride (sh, sw), padding (ph, pw) and dilation (dh, dw) covers,
for output cell (oh, ow), the input rows ``oh*sh - ph + i*dh`` (i < kh) and columns
``ow*sw - pw + j*dw`` (j < kw). The output has (PyTorch's formula, ``ceil_mode`` rounding up)

    Ho = floor_or_ceil((H + 2 ph - dh (kh - 1) - 1) / sh) + 1,

and with ``ceil_mode`` the last window must start inside the input or its left padding.

No op loops over examples or pixels: every window offset (i, j) picks one strided slice of the
(padded) input, ``x[:, :, i*dh :: sh, j*dw :: sw]`` of shape (N, C, Ho, Wo), so a pooling op is a
loop of kh*kw elementwise operations on whole arrays, and its backward a loop of kh*kw strided
scatter-adds (plain assignments when the windows do not overlap).

Max pooling sends each window's gradient to ONE input: the first maximum of the window in
row-major order (i, then j), as PyTorch does, so ties (a constant input, ReLU zeros) are resolved
the same way.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from deepbasic.backend import get_array_module
from deepbasic.ops.upsample import Resample2d
from deepbasic.tensor import Function, Tensor


# ----- geometry -----------------------------------------------------------------------------------
def _pair(value, name: str, fn: str) -> tuple:
    """An int or a pair of ints as a pair: 3 -> (3, 3)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value), int(value))
    try:
        pair = tuple(int(v) for v in value)
    except TypeError:
        pair = ()
    if len(pair) != 2:
        raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
    return pair


def _check_4d(fn: str, x) -> None:
    if x.ndim != 4:
        raise ValueError(f"{fn}: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")


def _out_len(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling_output_shape: the number of window positions along one axis."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:  # the last window would start in the right padding
        out -= 1
    return out


class PoolGeometry(NamedTuple):
    """Where the windows of a 2-D pooling lie. All pairs are (rows, cols).

    ``pads``: ((top, bottom), (left, right)) padding actually added to the input so that every
    window is a slice of the padded array (bottom / right may differ from ``padding``: ceil_mode
    needs more, and padding no window reaches is left out).
    """

    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    in_size: tuple
    out_size: tuple
    pads: tuple

    @property
    def padded(self) -> bool:
        return any(p for pair in self.pads for p in pair)

    @property
    def overlapping(self) -> bool:
        """True when some input element lies in two windows."""
        return any(s < d * (k - 1) + 1 for k, s, d in zip(self.kernel, self.stride, self.dilation))

    @property
    def tiles(self) -> bool:
        """True when the windows cover every input element exactly once (e.g. 2x2 stride 2 on an
        even-sized input): the backward may then write into an uninitialized array."""
        return (not self.padded and self.stride == self.kernel and self.dilation == (1, 1)
                and all(o * k == n for o, k, n in zip(self.out_size, self.kernel, self.in_size)))

    def window(self, a, i: int, j: int):
        """The (N, C, Ho, Wo) strided view of padded array ``a`` at window offset (i, j)."""
        (sh, sw), (dh, dw), (ho, wo) = self.stride, self.dilation, self.out_size
        rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
        return a[:, :, rows, j * dw: j * dw + sw * (wo - 1) + 1: sw]

    def rows(self, a, i: int):
        """The (N, C, Ho, Wp) view of padded array ``a`` holding window row offset i of every
        output row (all columns): used to reduce over i first, on contiguous rows."""
        sh, dh, ho = self.stride[0], self.dilation[0], self.out_size[0]
        return a[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, :]

    def cols(self, a, j: int):
        """The (N, C, Ho, Wo) view of an (N, C, Ho, Wp) array at window column offset j."""
        sw, dw, wo = self.stride[1], self.dilation[1], self.out_size[1]
        return a[..., j * dw: j * dw + sw * (wo - 1) + 1: sw]

    def pad(self, x, value):
        """x surrounded by ``value`` as ``pads`` says (x itself when nothing is added)."""
        if not self.padded:
            return x
        xp = get_array_module(x)
        (top, bottom), (left, right) = self.pads
        n, c, h, w = x.shape
        out = xp.empty((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
        out[...] = value  # one pass; then the interior is overwritten
        out[:, :, top:top + h, left:left + w] = x
        return out

    def crop(self, a):
        """The input-sized part of a padded array (a view)."""
        if not self.padded:
            return a
        (top, _), (left, _) = self.pads
        h, w = self.in_size
        return a[:, :, top:top + h, left:left + w]


def pool_geometry(fn: str, shape, kernel_size, stride=None, padding=0, dilation=1,
                  ceil_mode: bool = False) -> PoolGeometry:
    """Check pooling options against an input shape (N, C, H, W) and compute the windows.

    ``stride=None`` (or an empty list) means stride = kernel_size, as in PyTorch.
    """
    if len(shape) != 4:
        raise ValueError(f"{fn}: expected a 4-D input (N, C, H, W), got shape {tuple(shape)}")
    k = _pair(kernel_size, "kernel_size", fn)
    if stride is None or (isinstance(stride, (list, tuple)) and not stride):
        s = k
    else:
        s = _pair(stride, "stride", fn)
    p, d = _pair(padding, "padding", fn), _pair(dilation, "dilation", fn)
    checks = (("kernel_size", k, 1), ("stride", s, 1), ("dilation", d, 1), ("padding", p, 0))
    for name, v, low in checks:
        if min(v) < low:
            raise ValueError(f"{fn}: {name} must be >= {low}, got {v}")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{fn}: padding must be at most half the kernel size, got padding {p} "
                         f"for kernel_size {k}")
    h, w = int(shape[2]), int(shape[3])
    out = tuple(_out_len(n, *a, ceil_mode) for n, a in zip((h, w), zip(k, s, p, d)))
    if min(out) < 1:
        raise ValueError(f"{fn}: input of size {h}x{w} is too small for kernel_size {k}, "
                         f"stride {s}, padding {p}, dilation {d}: the output would be "
                         f"{out[0]}x{out[1]}")
    pads = []
    for n, kk, ss, pp, dd, o in zip((h, w), k, s, p, d, out):
        end = (o - 1) * ss + dd * (kk - 1) + 1  # one past the last padded index a window touches
        pads.append((pp, max(end - n - pp, 0)))
    return PoolGeometry(k, s, p, d, (h, w), out, tuple(pads))


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# ----- max pooling --------------------------------------------------------------------------------
def _window_max(xpad, geom: PoolGeometry):
    """The max over each window, (N, C, Ho, Wo): first over the kh row offsets (contiguous rows,
    giving (N, C, Ho, Wp)), then over the kw column offsets. NaN propagates."""
    xp = get_array_module(xpad)
    (kh, kw) = geom.kernel
    r = geom.rows(xpad, 0)
    if kh > 1:
        r = xp.maximum(r, geom.rows(xpad, 1))
        for i in range(2, kh):
            xp.maximum(r, geom.rows(xpad, i), out=r)
    if kw == 1:
        return xp.ascontiguousarray(geom.cols(r, 0))
    m = xp.maximum(geom.cols(r, 0), geom.cols(r, 1))
    for j in range(2, kw):
        xp.maximum(m, geom.cols(r, j), out=m)
    return m


def _first_max_hits(xpad, m, geom: PoolGeometry):
    """Yield (i, j, hit) for every window offset in row-major order; ``hit`` (bool, (N, C, Ho, Wo))
    marks the windows whose FIRST maximum sits at offset (i, j). Exactly one offset hits each
    window (a window with a NaN, whose max equals no element, goes to its last offset)."""
    xp = get_array_module(xpad)
    kh, kw = geom.kernel
    offsets = [(i, j) for i in range(kh) for j in range(kw)]
    remaining = None  # windows whose first maximum has not been met yet
    for n, (i, j) in enumerate(offsets):
        if n == len(offsets) - 1:
            hit = remaining if remaining is not None else xp.ones(m.shape, dtype=bool)
        else:
            hit = geom.window(xpad, i, j) == m
            if remaining is None:
                remaining = ~hit
            else:
                hit &= remaining
                remaining ^= hit
        yield i, j, hit


class MaxPool2d(Function):
    """y[n, c, oh, ow] = max over the window of x (padding counts as -inf).

    x: (N, C, H, W) -> y: (N, C, Ho, Wo). dx: each window's gradient goes to the first maximum of
    its window (row-major), summed where windows overlap. Saves the padded input and y.
    """

    def forward(self, x, geom: PoolGeometry):
        low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xpad = geom.pad(x, low)
        y = _window_max(xpad, geom)
        self.xpad, self.y, self.geom = xpad, y, geom
        return y

    def backward(self, g):
        xp, geom = get_array_module(g), self.geom
        (sh, sw), (dh, dw) = geom.stride, geom.dilation
        dpad = (xp.empty if geom.tiles else xp.zeros)(self.xpad.shape, dtype=g.dtype)
        tmp, phases_seen = None, set()
        for i, j, hit in _first_max_hits(self.xpad, self.y, geom):
            win = geom.window(dpad, i, j)
            # Offsets whose rows differ by a multiple of the stride (and columns too) write to
            # the same input positions for different windows; others never collide. The first
            # offset of each such "phase" may assign instead of accumulate (all of them, when
            # the windows do not overlap).
            phase = ((i * dh) % sh, (j * dw) % sw)
            if phase not in phases_seen:
                phases_seen.add(phase)
                xp.multiply(g, hit, out=win)
            else:
                if tmp is None:
                    tmp = xp.empty(g.shape, dtype=g.dtype)
                xp.multiply(g, hit, out=tmp)
                win += tmp
        return geom.crop(dpad)


def _max_indices(x, y, geom: PoolGeometry):
    """PyTorch's max pooling indices: the flat position h*W + w, within its (n, c) plane of the
    unpadded input, of each window's first maximum. int64, (N, C, Ho, Wo)."""
    xp = get_array_module(x)
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    (ho, wo), (sh, sw), (dh, dw), w = geom.out_size, geom.stride, geom.dilation, geom.in_size[1]
    (top, _), (left, _) = geom.pads
    rows = np.arange(ho) * sh - top
    cols = np.arange(wo) * sw - left
    idx = xp.asarray((rows[:, None] * w + cols[None, :]).astype(np.int64))  # window starts
    idx = xp.broadcast_to(idx, y.shape).copy()
    for i, j, hit in _first_max_hits(geom.pad(x, low), y, geom):
        off = i * dh * w + j * dw
        if off:
            idx += hit * np.int64(off)
    return idx


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
               ceil_mode: bool = False):
    """2-D max pooling. x: (N, C, H, W) -> (N, C, Ho, Wo).

    kernel_size, stride (default: kernel_size), padding (implicit -inf, at most half the kernel),
    dilation: ints or pairs. ``ceil_mode`` rounds the output size up (GoogLeNet).
    ``return_indices``: also return int64 indices (N, C, Ho, Wo), the flat position h*W + w of each
    window's maximum in its input plane, as PyTorch gives them (for :func:`max_unpool2d`).
    Ties: the gradient goes to the first maximum of a window in row-major order, like PyTorch.
    A window holding a NaN outputs NaN, as PyTorch, but its gradient and index go to the window's
    last element (PyTorch picks the NaN's position).
    """
    x = _as_tensor(x)
    geom = pool_geometry("max_pool2d", x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    y = MaxPool2d.apply(x, geom=geom)
    if return_indices:
        return y, Tensor._make(_max_indices(x.data, y.data, geom))
    return y


# ----- average pooling ----------------------------------------------------------------------------
def _window_sum(xpad, geom: PoolGeometry):
    """The sum over each window, (N, C, Ho, Wo): rows first, then columns (a new array)."""
    xp = get_array_module(xpad)
    kh, kw = geom.kernel
    r = geom.rows(xpad, 0)
    if kh > 1:
        r = r + geom.rows(xpad, 1)
        for i in range(2, kh):
            r += geom.rows(xpad, i)
    if kw == 1:
        return xp.array(geom.cols(r, 0))
    s = geom.cols(r, 0) + geom.cols(r, 1)
    for j in range(2, kw):
        s += geom.cols(r, j)
    return s


def _avg_divisor(geom: PoolGeometry, count_include_pad: bool, divisor_override):
    """What each window's sum is divided by, as PyTorch: the window's size clipped to the padded
    input (count_include_pad) or to the input; a Python int when it is the same everywhere,
    else an (Ho, Wo) NumPy array."""
    if divisor_override is not None:
        return int(divisor_override)
    sizes = []
    for n, k, s, p, o in zip(geom.in_size, geom.kernel, geom.stride, geom.padding, geom.out_size):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            sizes.append(end - start)
        else:
            sizes.append(np.minimum(end, n) - np.maximum(start, 0))
    div = sizes[0][:, None] * sizes[1][None, :]
    return int(div.flat[0]) if np.all(div == div.flat[0]) else div


class AvgPool2d(Function):
    """y[n, c, oh, ow] = sum of x over the window / divisor[oh, ow] (padding counts as 0).

    x: (N, C, H, W) -> y: (N, C, Ho, Wo); dx: g / divisor added to every element of the window.
    """

    def forward(self, x, geom: PoolGeometry, divisor=1):
        xp = get_array_module(x)
        if not isinstance(divisor, int):
            divisor = xp.asarray(divisor, dtype=x.dtype)
        s = _window_sum(geom.pad(x, 0), geom)
        s /= divisor if not isinstance(divisor, int) else x.dtype.type(divisor)
        self.geom, self.divisor = geom, divisor
        self.padded_shape = s.shape[:2] + tuple(
            n + a + b for n, (a, b) in zip(geom.in_size, geom.pads))
        return s

    def backward(self, g):
        xp, geom = get_array_module(g), self.geom
        gd = g / (self.divisor if not isinstance(self.divisor, int) else g.dtype.type(self.divisor))
        dpad = (xp.empty if geom.tiles else xp.zeros)(self.padded_shape, dtype=g.dtype)
        kh, kw = geom.kernel
        for i in range(kh):
            for j in range(kw):
                win = geom.window(dpad, i, j)
                if geom.overlapping:
                    win += gd
                else:
                    win[...] = gd
        return geom.crop(dpad)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None):
    """2-D average pooling. x: (N, C, H, W) -> (N, C, Ho, Wo).

    Padding is implicit zeros; ``count_include_pad`` (default True, as PyTorch) counts them in the
    divisor, else only the input elements of the window are counted. ``divisor_override``: divide
    every window's sum by this number instead.
    """
    x = _as_tensor(x)
    geom = pool_geometry("avg_pool2d", x.shape, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and int(divisor_override) == 0:
        raise ValueError("avg_pool2d: divisor_override must be non-zero, got 0")
    divisor = _avg_divisor(geom, count_include_pad, divisor_override)
    return AvgPool2d.apply(x, geom=geom, divisor=divisor)


# ----- adaptive average pooling -------------------------------------------------------------------
def adaptive_pool_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) averaging matrix of adaptive pooling along one axis, float64.

    Output cell i averages inputs start..end-1 with PyTorch's start = floor(i n_in / n_out) and
    end = ceil((i + 1) n_in / n_out); windows may overlap or differ in size by one.
    """
    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    cols = np.arange(n_in)
    inside = (cols[None, :] >= start[:, None]) & (cols[None, :] < end[:, None])
    return inside / (end - start)[:, None]


def _adaptive_size(output_size, shape, fn: str) -> tuple:
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size, output_size)
    out = tuple(output_size)
    if len(out) != 2:
        raise ValueError(f"{fn}: output_size must be an int or a pair, got {output_size!r}")
    out = tuple(int(shape[2 + a]) if o is None else int(o) for a, o in enumerate(out))
    if min(out) < 1:
        raise ValueError(f"{fn}: output_size must be positive, got {out}")
    if min(shape[2:]) < 1:
        raise ValueError(f"{fn}: input has an empty spatial size, shape {tuple(shape)}")
    return out


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size (Ho, Wo), whatever the input's H, W.

    x: (N, C, H, W) -> (N, C, Ho, Wo). output_size: an int or a pair (None keeps that size).
    Output cell (i, j) averages rows floor(i H / Ho) .. ceil((i+1) H / Ho) - 1 and likewise
    columns, as PyTorch. 1x1 output: the mean over (H, W); H, W divisible by Ho, Wo: ordinary
    average pooling with kernel = stride = (H/Ho, W/Wo); otherwise y = A @ x @ B^T per plane with
    the averaging matrices of :func:`adaptive_pool_matrix` (pooling is separable).
    """
    x = _as_tensor(x)
    _check_4d("adaptive_avg_pool2d", x)
    ho, wo = _adaptive_size(output_size, x.shape, "adaptive_avg_pool2d")
    h, w = x.shape[2], x.shape[3]
    if (ho, wo) == (1, 1):
        return x.mean(dim=(2, 3), keepdim=True)
    if h % ho == 0 and w % wo == 0:
        k = (h // ho, w // wo)
        geom = pool_geometry("adaptive_avg_pool2d", x.shape, k, k, 0, 1, False)
        return AvgPool2d.apply(x, geom=geom, divisor=k[0] * k[1])
    return Resample2d.apply(x, rows=adaptive_pool_matrix(h, ho), cols=adaptive_pool_matrix(w, wo))


# ----- max unpooling ------------------------------------------------------------------------------
class MaxUnpool2d(Function):
    """y = zeros (N, C, Ho, Wo) with y[n, c].flat[indices[n, c, h, w]] = x[n, c, h, w].

    x, indices: (N, C, H, W); dx = g[n, c].flat[indices] (a gather, as PyTorch's). Duplicate
    indices (possible after overlapping pooling) keep one of the values, which one unspecified as
    in PyTorch, while the gather still gives each duplicate the gradient.
    """

    def forward(self, x, indices, out_size=(1, 1)):
        xp = get_array_module(x)
        n, c = x.shape[0], x.shape[1]
        plane = out_size[0] * out_size[1]
        flat = indices.reshape(n * c, -1) + (xp.arange(n * c, dtype=np.int64) * plane)[:, None]
        self.flat, self.shape = flat.reshape(-1), x.shape
        y = xp.zeros(n * c * plane, dtype=x.dtype)
        y[self.flat] = x.reshape(-1)
        return y.reshape(n, c, *out_size)

    def backward(self, g):
        return g.reshape(-1)[self.flat].reshape(self.shape), None


def unpool_output_size(fn: str, in_size, kernel, stride, padding, output_size) -> tuple:
    """The (Ho, Wo) of max unpooling: (H - 1) s - 2 p + k by default, or ``output_size``
    ((H, W) or (N, C, H, W)) when it lies strictly within one stride of that, as PyTorch checks."""
    default = tuple((n - 1) * s - 2 * p + k for n, k, s, p in zip(in_size, kernel, stride, padding))
    if output_size is None:
        size = default
    else:
        size = tuple(int(v) for v in output_size)
        if len(size) == 4:
            size = size[2:]
        if len(size) != 2:
            raise ValueError(
                f"{fn}: output_size must be (H, W) or (N, C, H, W), got {output_size!r}")
        for d, (want, dflt, s) in enumerate(zip(size, default, stride)):
            if not dflt - s < want < dflt + s:
                raise ValueError(f"{fn}: invalid output_size {size}: dim {d} must be between "
                                 f"{dflt - s} and {dflt + s} (exclusive) for input size "
                                 f"{tuple(in_size)}")
    if min(size) < 1:
        raise ValueError(f"{fn}: output size {size} is empty for input size {tuple(in_size)}")
    return size


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of :func:`max_pool2d`: put each value back where its max came from, zeros
    elsewhere. x, indices: (N, C, H, W) (indices from ``max_pool2d(..., return_indices=True)``)
    -> (N, C, Ho, Wo) with Ho = (H - 1) stride - 2 padding + kernel unless ``output_size`` says.
    """
    x = _as_tensor(x)
    _check_4d("max_unpool2d", x)
    idx = indices.data if isinstance(indices, Tensor) else indices
    xp = get_array_module(x.data)
    idx = xp.asarray(idx)
    if tuple(idx.shape) != tuple(x.shape):
        raise ValueError(f"max_unpool2d: indices have shape {tuple(idx.shape)}, expected the "
                         f"input's shape {tuple(x.shape)}")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"max_unpool2d: indices must be integers, got dtype {idx.dtype}")
    k = _pair(kernel_size, "kernel_size", "max_unpool2d")
    s = k if stride is None else _pair(stride, "stride", "max_unpool2d")
    p = _pair(padding, "padding", "max_unpool2d")
    size = unpool_output_size("max_unpool2d", x.shape[2:], k, s, p, output_size)
    plane = size[0] * size[1]
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= plane:
            raise ValueError(f"max_unpool2d: indices must lie in [0, {plane}) for an output of "
                             f"size {size[0]}x{size[1]}, got values in [{lo}, {hi}]")
    return MaxUnpool2d.apply(x, Tensor._make(idx.astype(np.int64, copy=False)), out_size=size)
