"""Resizing (N, C, H, W) feature maps: nearest and bilinear interpolation, as
``torch.nn.functional.interpolate``.

Both are separable: output row oh reads input rows chosen (and weighted) by oh alone, output column
ow input columns chosen by ow alone. For each (n, c) plane, with A: (Ho, H) and B: (Wo, W),

    y = A @ x @ B^T,        dx = A^T @ g @ B.

Bilinear interpolation: row o of A holds weights 1 - l and l at input rows i0 = floor(src) and
i1 = min(i0 + 1, H - 1), l = src - i0, where the source coordinate of output o is

    align_corners=True:   src = o (H - 1) / (Ho - 1)                      (0 when Ho = 1)
    align_corners=False:  src = max((o + 0.5) scale - 0.5, 0),  scale = H / Ho or 1 / scale_factor.

Nearest: output o copies input floor(o * scale) (clipped to H - 1), computed in float32 as PyTorch
does. Nearest is a gather (a one-hot A); an integer upscale (each input repeated k times) is one
broadcast copy forward and a sum of k*k strided slices backward.
"""
from __future__ import annotations

import math

import numpy as np

from deepbasic.backend import get_array_module
from deepbasic.tensor import Function, Tensor


def _separable(x, rows, cols):
    """A @ x[n, c] @ B^T for every plane. x: (N, C, H, W), rows A: (Ho, H), cols B: (Wo, W)."""
    n, c, h, w = x.shape
    t = (x.reshape(n * c * h, w) @ cols.T).reshape(n, c, h, cols.shape[0])  # one GEMM
    return rows @ t  # (Ho, H) @ (N, C, H, Wo) -> (N, C, Ho, Wo)


class Resample2d(Function):
    """y[n, c] = A @ x[n, c] @ B^T: a linear map of rows and of columns.

    x: (N, C, H, W); rows A: (Ho, H); cols B: (Wo, W) (arrays, any float dtype: cast to x's).
    dx[n, c] = A^T @ g[n, c] @ B. Bilinear interpolation and adaptive average pooling are of this
    form.
    """

    def forward(self, x, rows=None, cols=None):
        xp = get_array_module(x)
        self.rows = xp.asarray(rows, dtype=x.dtype)
        self.cols = xp.asarray(cols, dtype=x.dtype)
        return _separable(x, self.rows, self.cols)

    def backward(self, g):
        return _separable(g, self.rows.T, self.cols.T)


def _one_hot(index, n_in: int) -> np.ndarray:
    m = np.zeros((len(index), n_in))
    m[np.arange(len(index)), index] = 1.0
    return m


def _repeat_factor(index, n_in: int):
    """k when ``index`` is 0,..,0, 1,..,1, ... (each input k times), else None."""
    n_out = len(index)
    if n_out % n_in:
        return None
    k = n_out // n_in
    return k if np.array_equal(index, np.arange(n_out) // k) else None


class NearestResize2d(Function):
    """y[n, c, o, p] = x[n, c, rows[o], cols[p]]: nearest-neighbour resizing.

    x: (N, C, H, W); rows: (Ho,) and cols: (Wo,) int input indices -> y: (N, C, Ho, Wo).
    dx[n, c, i, j] = sum of g over the outputs that copied input (i, j): a sum of kh*kw strided
    slices for an integer upscale, else A^T @ g @ B with one-hot A, B.
    """

    def forward(self, x, rows=None, cols=None):
        xp = get_array_module(x)
        n, c, h, w = x.shape
        self.rows, self.cols, self.in_size = np.asarray(rows), np.asarray(cols), (h, w)
        self.factors = (_repeat_factor(self.rows, h), _repeat_factor(self.cols, w))
        if None not in self.factors:
            kh, kw = self.factors
            return xp.broadcast_to(x[:, :, :, None, :, None], (n, c, h, kh, w, kw)).reshape(
                n, c, h * kh, w * kw)  # the reshape copies once
        y = xp.take(x, xp.asarray(self.rows), axis=2)
        return xp.take(y, xp.asarray(self.cols), axis=3)

    def backward(self, g):
        xp = get_array_module(g)
        if None not in self.factors:
            kh, kw = self.factors
            gx = xp.array(g[:, :, 0::kh, 0::kw])
            for i in range(kh):
                for j in range(kw):
                    if i or j:
                        gx += g[:, :, i::kh, j::kw]
            return gx
        (h, w), dt = self.in_size, g.dtype
        rows = xp.asarray(_one_hot(self.rows, h), dtype=dt)
        cols = xp.asarray(_one_hot(self.cols, w), dtype=dt)
        return _separable(g, rows.T, cols.T)


def nearest_indices(n_in: int, n_out: int, scale_factor=None) -> np.ndarray:
    """Input index of each output for mode='nearest', exactly as PyTorch's CPU kernel:
    floor(o * scale) in float32, scale = 1 / scale_factor when given else n_in / n_out, clipped
    to n_in - 1 (and o // 2 when n_out = 2 n_in, o when n_out = n_in)."""
    o = np.arange(n_out)
    if n_out == n_in:
        return o
    if n_out == 2 * n_in:
        return o >> 1
    scale = np.float32(1.0 / scale_factor) if scale_factor else np.float32(n_in) / np.float32(n_out)
    src = np.floor(o.astype(np.float32) * scale).astype(np.int64)
    return np.minimum(src, n_in - 1)


def bilinear_matrix(n_in: int, n_out: int, align_corners: bool, scale_factor=None,
                    dtype=np.float64) -> np.ndarray:
    """(n_out, n_in) matrix of 1-D linear interpolation weights, PyTorch's source coordinates
    (see the module docstring), computed in ``dtype`` like PyTorch's opmath type."""
    dt = np.dtype(dtype).type
    o = np.arange(n_out).astype(dt)
    if align_corners:
        scale = dt(n_in - 1) / dt(n_out - 1) if n_out > 1 else dt(0)
        src = o * scale
    else:
        scale = dt(1.0 / scale_factor) if scale_factor else dt(n_in) / dt(n_out)
        src = np.maximum((o + dt(0.5)) * scale - dt(0.5), dt(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0, 0, 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    m = np.zeros((n_out, n_in), dtype=dt)
    r = np.arange(n_out)
    np.add.at(m, (r, i0), 1 - lam)
    np.add.at(m, (r, i1), lam)
    return m


def _two(value, name: str):
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"interpolate: {name} must be a number or a pair for a 4-D input, "
                             f"got {value!r}")
        return tuple(value)
    return (value, value)


def interpolate(x, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None):
    """Resize x: (N, C, H, W) -> (N, C, Ho, Wo), like ``torch.nn.functional.interpolate``.

    size: (Ho, Wo) or an int; or scale_factor: a number or a pair, giving Ho = floor(H * s).
    mode: 'nearest' or 'bilinear'. align_corners (bilinear only; default False): map the corner
    pixels' centres onto each other instead of the corners of the images.
    recompute_scale_factor: sample with Ho / H instead of the given scale_factor.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim != 4:
        raise ValueError(
            f"interpolate: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"interpolate: mode must be 'nearest' or 'bilinear', got {mode!r}")
    if align_corners is not None and mode == "nearest":
        raise ValueError("interpolate: align_corners can only be set with mode='bilinear' "
                         f"(got align_corners={align_corners} with mode='nearest')")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor, got "
                         f"size={size!r}, scale_factor={scale_factor!r}")
    h, w = x.shape[2], x.shape[3]
    if size is not None:
        out = tuple(int(s) for s in _two(size, "size"))
        scales = (None, None)
    else:
        scales = tuple(float(s) for s in _two(scale_factor, "scale_factor"))
        if min(scales) <= 0:
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor!r}")
        out = (math.floor(h * scales[0]), math.floor(w * scales[1]))
        if recompute_scale_factor:
            scales = (None, None)
    if min(out) < 1:
        raise ValueError(f"interpolate: output size {out} is empty for input size {h}x{w}")
    if mode == "nearest":
        return NearestResize2d.apply(x, rows=nearest_indices(h, out[0], scales[0]),
                                     cols=nearest_indices(w, out[1], scales[1]))
    if x.dtype.kind != "f":
        raise TypeError(f"interpolate: mode='bilinear' needs a floating-point input, got {x.dtype}")
    ac, dt = bool(align_corners), x.dtype
    return Resample2d.apply(x, rows=bilinear_matrix(h, out[0], ac, scales[0], dt),
                            cols=bilinear_matrix(w, out[1], ac, scales[1], dt))
