"""RoI pooling and RoI Align: a fixed-size (ph, pw) feature map for each region of interest.

Both take features (N, C, H, W) and K boxes ``rois`` (K, 5) = (batch index, x1, y1, x2, y2) in
input-image coordinates, which ``spatial_scale`` (1 / the feature stride, e.g. 1/16) maps onto the
feature map, and give (K, C, ph, pw). The semantics are torchvision's (ops/roi_pool, ops/roi_align,
its CPU kernels), down to the rounding. The geometry (bins, sample points, bilinear weights) is
computed in float64 whatever the features' dtype (torchvision computes it in the features' dtype,
so float32 results may differ in the last bits).

RoIPool (Fast R-CNN). The box is rounded to feature cells, ``round`` being C's (halves away from
zero): x1' = round(x1 * scale), ..., width = max(x2' - x1' + 1, 1) cells (same for the height).
Bin (i, j) covers rows [y1' + floor(i * height / ph), y1' + ceil((i + 1) * height / ph)) clipped
to [0, H], and likewise columns; bins of one box may overlap by a cell. The output is the bin's
max (0 for a bin that is empty after clipping); its gradient goes to that maximum, the FIRST one in
row-major order on ties (a bin whose values are all NaN or -inf outputs 0 and passes no gradient,
where torchvision would output -FLT_MAX). Vectorised over boxes, bins and channels: the max and
first argmax of a channels-last copy of the features over every window of up to the largest bin's
rows x columns, at every position, are built incrementally (a few passes over the feature map),
and every bin is then one gather from those tables; when the tables would be too large
(``ROI_POOL_TABLE_BYTES``), a loop over the offsets (u, v) inside the largest bin gathers one
element of every bin at a time instead. The backward is one ``bincount`` scatter-add.

RoIAlign (Mask R-CNN). No rounding: with ``aligned`` the box is shifted by half a cell
(x1' = x1 * scale - 0.5) so that a pixel's centre samples the pixel itself; without it, boxes
smaller than one cell are enlarged to one cell. Bin (i, j) of size (bh, bw) = (height / ph,
width / pw) averages the bilinear interpolation of the features at gy x gx regularly spaced
points, y = y1' + i bh + (iy + 0.5) bh / gy (gy = ``sampling_ratio``, or ceil(height / ph) when
sampling_ratio <= 0, and likewise x). A sample point outside [-1, H] x [-1, W] counts 0; inside,
coordinates below 0 are clamped to 0 and those beyond the last row / column read it.

Because the bilinear weight of a sample is a product (a function of y times a function of x) and
the grid is a product too, each box's RoIAlign is a pair of matrices: with Ay (ph, H) holding, for
each bin row, the row weights of its sample rows / gy, Ax (pw, W) the same for columns, and x the
features,

    out[k, c] = Ay[k] @ x[n_k, c] @ Ax[k]^T,        dx[n_k, c] += Ay[k]^T @ g[k, c] @ Ax[k]

So the forward is, per image, one GEMM over all its boxes (Ay stacked: (K ph, H) @ (H, C W)) and
one batched matrix product with the Ax (no loop over pixels or bins), and the backward is the same
two products transposed: exactly the scatter-add of the bilinear weights that torchvision's
backward does.
"""
from __future__ import annotations

import numpy as np

from deepbasic.backend import get_array_module
from deepbasic.tensor import Function

# RoIAlign works on this many boxes of one image at a time, so the (boxes * ph, C * W)
# intermediate stays below about this many elements.
ROI_ALIGN_CHUNK_ELEMENTS = 1 << 22
# RoIPool precomputes window max / argmax tables of (largest bin height x width) times the
# features' size, values plus int64-sized indices; above this many bytes it loops instead.
ROI_POOL_TABLE_BYTES = 256 << 20


def c_round(v: np.ndarray) -> np.ndarray:
    """C's ``round``: to the nearest integer, halves away from zero (NumPy's rounds halves to
    even). Exact: ``v - trunc(v)`` has no rounding error."""
    t = np.trunc(v)
    return t + np.sign(v) * (np.abs(v - t) >= 0.5)


# ----- RoIPool ------------------------------------------------------------------------------------
def roi_pool_bins(rois: np.ndarray, output_size: tuple, spatial_scale: float, in_size: tuple):
    """Where the bins of RoIPool lie, on the host in float64 / int64.

    rois: (K, 5) float64; output_size (ph, pw); in_size (H, W). Returns (hstart, hend) (K, ph)
    and (wstart, wend) (K, pw): the half-open row and column ranges of every bin, clipped to the
    feature map (end <= start for an empty bin).
    """
    ph, pw = output_size
    h, w = in_size
    x1, y1, x2, y2 = (c_round(rois[:, i] * spatial_scale).astype(np.int64) for i in range(1, 5))

    def ranges(start, end, pooled, size):
        length = np.maximum(end - start + 1, 1).astype(np.float64)
        binsize = length / pooled
        i = np.arange(pooled, dtype=np.float64)
        lo = np.floor(i[None, :] * binsize[:, None]).astype(np.int64) + start[:, None]
        hi = np.ceil((i[None, :] + 1) * binsize[:, None]).astype(np.int64) + start[:, None]
        return np.clip(lo, 0, size), np.clip(hi, 0, size)

    return ranges(y1, y2, ph, h), ranges(x1, x2, pw, w)


def _combine(best, arg, vals, idx):
    """Fold (vals, idx) into the running (best, arg) in place: a value replaces the maximum so
    far only when STRICTLY greater, so on ties the running (earlier) maximum is kept. The
    selection is exact bit arithmetic on integer views (best ^= (best ^ vals) & mask), much
    faster than a masked copy."""
    xp = get_array_module(best)
    bits = np.dtype(f"i{best.dtype.itemsize}")
    mask = xp.greater(vals, best).astype(bits)
    xp.negative(mask, out=mask)  # all ones where vals wins
    b, v = best.view(bits), vals.view(bits)
    b ^= (b ^ v) & mask
    if arg is not None:
        if arg.dtype.itemsize != mask.dtype.itemsize:
            mask = mask.astype(arg.dtype)
        arg ^= (arg ^ idx) & mask


def _window_tables(flat, n: int, h: int, w: int, nu: int, nv: int):
    """Max and argmax of the channels-last features over every window of 1..nu rows x 1..nv
    columns: (nu, nv, N*H*W, C) values and int32/int64 flat positions, entry [lh - 1, lw - 1,
    n*H*W + r*W + c] being the window of lh rows and lw columns whose top-left cell is (r, c)
    (entries whose window would leave the map are not written). NaN and -inf are stored as -inf
    with argmax -1, so they never win; on ties the first maximum in row-major order wins.

    Built incrementally, one pass over the map per window size: first along the columns (window
    lw from window lw - 1 of the same row and the cell after it, which comes later in row-major
    order), then along the rows (window (lh, lw) from (lh - 1, lw) and the lw-wide window of the
    row below it, all of whose cells come after those of the rows above).
    """
    xp = get_array_module(flat)
    c = flat.shape[1]
    itype = np.int32 if n * h * w < 2**31 else np.int64
    vals = xp.empty((nu, nv, n, h, w, c), dtype=flat.dtype)
    args = xp.empty((nu, nv, n, h, w, c), dtype=itype)
    x = flat.reshape(n, h, w, c)
    pos = xp.arange(n * h * w, dtype=itype).reshape(n, h, w, 1)
    invalid = ~(x > -np.inf)  # NaN or -inf
    if invalid.any():
        vals[0, 0] = xp.where(invalid, -np.inf, x)
        args[0, 0] = xp.where(invalid, -1, pos)
    else:
        vals[0, 0] = x
        args[0, 0] = pos
    for lw in range(2, nv + 1):  # one row, lw columns starting at column col
        m = w - lw + 1
        best, arg = vals[0, lw - 1, :, :, :m], args[0, lw - 1, :, :, :m]
        best[...] = vals[0, lw - 2, :, :, :m]
        arg[...] = args[0, lw - 2, :, :, :m]
        _combine(best, arg, vals[0, 0, :, :, lw - 1:], args[0, 0, :, :, lw - 1:])
    for lh in range(2, nu + 1):  # lh rows starting at row r: rows r..r+lh-2, then row r+lh-1
        m = h - lh + 1
        best, arg = vals[lh - 1, :, :, :m], args[lh - 1, :, :, :m]
        best[...] = vals[lh - 2, :, :, :m]
        arg[...] = args[lh - 2, :, :, :m]
        _combine(best, arg, vals[0, :, :, lh - 1:], args[0, :, :, lh - 1:])
    return vals.reshape(nu * nv * n * h * w, c), args.reshape(nu * nv * n * h * w, c)


class RoIPool(Function):
    """Max over each bin of each box: features (N, C, H, W) -> (K, C, ph, pw).

    Options: ``batch`` (K,) int64 image index of each box; ``rows`` = (hstart, hend) (K, ph) and
    ``cols`` = (wstart, wend) (K, pw) from :func:`roi_pool_bins`. Saves the argmax of every output
    (a flat index into the channels-last (N*H*W) positions, -1 for an empty bin), computed when
    backward first needs it (:attr:`arg`).
    d features: each output's gradient added at its argmax (a scatter-add: bins may overlap and
    boxes share pixels).

    The forward precomputes the max and argmax of the features over every window of up to the
    largest bin's rows x columns at every position (:func:`_window_tables`, a few passes over the
    small feature map), then reads every bin with one gather. When those tables would exceed
    ``ROI_POOL_TABLE_BYTES`` it loops over the offsets of the largest bin instead
    (:meth:`_forward_loop`).
    """

    def forward(self, x, batch=None, rows=None, cols=None):
        xp = get_array_module(x)
        n, c, h, w = x.shape
        (hs, he), (ws, we) = rows, cols
        self.in_shape = x.shape
        self._arg, self._lazy = None, None
        flat = xp.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n * h * w, c)
        bh, bw = he - hs, we - ws  # (K, ph), (K, pw): bin extents (<= 0 when empty)
        nu, nv = max(int(bh.max(initial=0)), 0), max(int(bw.max(initial=0)), 0)
        table_bytes = nu * nv * flat.size * (flat.itemsize + 8)
        if nu == 0 or nv == 0 or table_bytes > ROI_POOL_TABLE_BYTES:
            return self._forward_loop(xp, flat, batch, rows, cols)
        vals, args = _window_tables(flat, n, h, w, nu, nv)
        # the table row of each bin: window (bh, bw) at (hstart, wstart) of its image
        empty = (bh <= 0)[:, :, None] | (bw <= 0)[:, None, :]  # (K, ph, pw)
        lh, lw = np.clip(bh, 1, None), np.clip(bw, 1, None)
        r0, c0 = np.minimum(hs, h - 1), np.minimum(ws, w - 1)
        gidx = ((lh - 1)[:, :, None] * nv + (lw - 1)[:, None, :]) * (n * h * w) \
            + (batch * (h * w))[:, None, None] + (r0 * w)[:, :, None] + c0[:, None, :]
        gidx = xp.asarray(np.where(empty, 0, gidx))
        best = xp.take(vals, gidx, axis=0)  # (K, ph, pw, C): one gather for every bin
        lost = best == -np.inf  # bins of only NaN / -inf values (their argmax is -1 already)
        has_empty = bool(empty.any())
        if has_empty:
            lost |= xp.asarray(empty)[..., None]
        best[lost] = 0
        self._lazy = (args, gidx, xp.asarray(empty) if has_empty else None)
        return xp.ascontiguousarray(best.transpose(0, 3, 1, 2))

    @property
    def arg(self):
        """The argmax of every output (K, ph, pw, C) int64: a flat channels-last (N*H*W) index,
        -1 for an empty bin or one of only NaN / -inf."""
        if self._arg is None:
            xp = get_array_module(self._lazy[1])
            args, gidx, empty = self._lazy
            arg = xp.take(args, gidx, axis=0).astype(np.int64)
            if empty is not None:
                arg[xp.broadcast_to(empty[..., None], arg.shape)] = -1
            self._arg, self._lazy = arg, None
        return self._arg

    def _forward_loop(self, xp, flat, batch, rows, cols):
        """The forward without tables: a loop over the offsets (u, v) of the largest bin, one
        gather of every bin per offset."""
        n, c, h, w = self.in_shape
        (hs, he), (ws, we) = rows, cols
        k, ph, pw = hs.shape[0], hs.shape[1], ws.shape[1]
        bh, bw = he - hs, we - ws
        nu, nv = max(int(bh.max(initial=0)), 0), max(int(bw.max(initial=0)), 0)
        # Visit the offsets (u, v) of the largest bin in row-major order. A smaller bin reads
        # its last row / column again for the offsets past its end: a repeated element never
        # beats the maximum so far (the comparison is strict), so no mask is needed, and the
        # offset at which a bin's maximum changed is the true one. Empty bins read element 0
        # and are overwritten below.
        base = (batch * (h * w))[:, None, None]
        row0, col0 = np.minimum(hs, h - 1), np.minimum(ws, w - 1)
        best = xp.full((k, ph, pw, c), -np.inf, dtype=flat.dtype)
        # u * nv + v of each maximum (int16 when it fits: less memory traffic per offset)
        code = xp.full(best.shape, -1, dtype=np.int16 if nu * nv < 2**15 else np.int32)
        better = xp.empty(best.shape, dtype=bool)
        for u in range(nu):
            r = (row0 + np.clip(np.minimum(u, bh - 1), 0, None)) * w  # (K, ph)
            for v in range(nv):
                col = col0 + np.clip(np.minimum(v, bw - 1), 0, None)  # (K, pw)
                idx = xp.asarray(base + r[:, :, None] + col[:, None, :])
                vals = xp.take(flat, idx, axis=0)  # (K, ph, pw, C): one gather per offset
                xp.greater(vals, best, out=better)  # strict: ties keep the first maximum
                xp.copyto(code, u * nv + v, where=better)
                xp.fmax(best, vals, out=best)  # fmax ignores NaN, as the comparison does
        empty = xp.asarray((bh <= 0)[:, :, None] | (bw <= 0)[:, None, :])  # (K, ph, pw)
        code[empty] = -1
        lost = code < 0  # empty bins, and bins of only NaN / -inf values
        best[lost] = 0
        # argmax as a flat index into the channels-last (N*H*W) positions, -1 for none
        code = code.astype(np.int64)
        u, v = code // max(nv, 1), code % max(nv, 1)
        start = xp.asarray(base + (hs * w)[:, :, None] + ws[:, None, :])[..., None]
        self._arg = xp.where(lost, -1, start + u * w + v)
        return xp.ascontiguousarray(best.transpose(0, 3, 1, 2))

    def backward(self, g):
        xp = get_array_module(g)
        n, c, h, w = self.in_shape
        gl = g.transpose(0, 2, 3, 1)  # (K, ph, pw, C) like arg
        arg = self.arg
        hit = arg >= 0
        target = xp.where(hit, arg * c + xp.arange(c), 0).reshape(-1)
        weights = xp.where(hit, gl, 0).reshape(-1)
        dx = xp.bincount(target, weights=weights, minlength=n * h * w * c).astype(g.dtype)
        return xp.ascontiguousarray(dx.reshape(n, h, w, c).transpose(0, 3, 1, 2))


# ----- RoIAlign -----------------------------------------------------------------------------------
def _axis_weights(start, binsize, grid, pooled: int, size: int) -> np.ndarray:
    """Bilinear weights along one axis: (K, pooled, size) float64.

    Row p of box k: sum over its samples i < grid[k] at t = start + p binsize + (i + 0.5)
    binsize / grid of the interpolation weights of t on the ``size`` feature rows (or columns),
    divided by grid[k]. A sample outside [-1, size] has weight 0; t < 0 reads as 0; t past the
    last row reads the last row (torchvision's bilinear_interpolate).
    """
    k = start.shape[0]
    out = np.zeros((k, pooled, size))
    positions = np.arange(size)
    p = np.arange(pooled, dtype=np.float64)
    grid_f = np.maximum(grid, 1).astype(np.float64)[:, None]
    for i in range(int(grid.max(initial=0))):
        t = (start[:, None] + p[None, :] * binsize[:, None]) + (i + 0.5) * binsize[:, None] / grid_f
        inside = (t >= -1.0) & (t <= size) & (i < grid)[:, None]  # False for NaN too
        t = np.where(inside, np.maximum(t, 0.0), 0.0)
        low = t.astype(np.int64)  # t >= 0: truncation is floor
        edge = low >= size - 1
        low = np.where(edge, size - 1, low)
        high = np.where(edge, size - 1, low + 1)
        frac = np.where(edge, 0.0, t - low)
        w_low = np.where(inside, 1.0 - frac, 0.0) / grid_f
        w_high = np.where(inside, frac, 0.0) / grid_f
        out += (positions == low[..., None]) * w_low[..., None]
        out += (positions == high[..., None]) * w_high[..., None]
    return out


def roi_align_weights(rois: np.ndarray, output_size: tuple, spatial_scale: float, in_size: tuple,
                      sampling_ratio: int, aligned: bool):
    """The per-box row and column weight matrices of RoIAlign: Ay (K, ph, H), Ax (K, pw, W),
    float64 (see the module docstring): out[k, c] = Ay[k] @ features[n_k, c] @ Ax[k]^T."""
    ph, pw = output_size
    h, w = in_size
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (rois[:, i] * spatial_scale - offset for i in range(1, 5))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:  # torchvision: force malformed boxes to be 1x1
        roi_w, roi_h = np.maximum(roi_w, 1.0), np.maximum(roi_h, 1.0)
    bin_h, bin_w = roi_h / ph, roi_w / pw
    if sampling_ratio > 0:
        gy = np.full(len(rois), sampling_ratio, dtype=np.int64)
        gx = gy
    else:  # adaptive: about one sample per feature cell (0 for an empty or inverted box)
        gy = np.maximum(np.ceil(roi_h / ph), 0).astype(np.int64)
        gx = np.maximum(np.ceil(roi_w / pw), 0).astype(np.int64)
    return _axis_weights(y1, bin_h, gy, ph, h), _axis_weights(x1, bin_w, gx, pw, w)


def _chunks(batch: np.ndarray, per_box: int):
    """Yield (image n, [box index arrays]): the boxes of each image that has any, split so that
    the RoIAlign intermediate (boxes * per_box elements) stays under ROI_ALIGN_CHUNK_ELEMENTS."""
    size = max(1, ROI_ALIGN_CHUNK_ELEMENTS // max(per_box, 1))
    for n in np.unique(batch):
        sel = np.flatnonzero(batch == n)
        yield int(n), [sel[s:s + size] for s in range(0, sel.size, size)]


class RoIAlign(Function):
    """Average of bilinear samples over each bin of each box: (N, C, H, W) -> (K, C, ph, pw).

    Options: ``batch`` (K,) int64 image index of each box (host array); ``wy`` (K, ph, H) and
    ``wx`` (K, pw, W) from :func:`roi_align_weights`. out[k, c] = wy[k] @ x[n_k, c] @ wx[k]^T;
    d x[n_k, c] += wy[k]^T @ g[k, c] @ wx[k]. Saves the weights (not the features).
    """

    def forward(self, x, batch=None, wy=None, wx=None):
        xp = get_array_module(x)
        n, c, h, w = x.shape
        k, ph, pw = wy.shape[0], wy.shape[1], wx.shape[1]
        self.wy, self.wx = xp.asarray(wy, dtype=x.dtype), xp.asarray(wx, dtype=x.dtype)
        self.batch, self.in_shape = batch, x.shape
        out = xp.zeros((k, c, ph, pw), dtype=x.dtype)
        for img, parts in _chunks(batch, ph * c * w):
            rows = x[img].transpose(1, 0, 2).reshape(h, c * w)  # (H, C W), a copy
            for sel in parts:
                s = xp.asarray(sel)
                m = self.wy[s].reshape(-1, h) @ rows  # (k ph, C W): all boxes' rows, one GEMM
                m = m.reshape(len(sel), ph * c, w) @ self.wx[s].transpose(0, 2, 1)  # (k, ph C, pw)
                out[s] = m.reshape(len(sel), ph, c, pw).transpose(0, 2, 1, 3)
        return out

    def backward(self, g):
        xp = get_array_module(g)
        n, c, h, w = self.in_shape
        ph = self.wy.shape[1]
        dx = xp.zeros(self.in_shape, dtype=g.dtype)
        for img, parts in _chunks(self.batch, ph * c * w):
            drows = None
            for sel in parts:
                s = xp.asarray(sel)
                gt = g[s].transpose(0, 2, 1, 3).reshape(len(sel), ph * c, -1)  # (k, ph C, pw)
                dm = (gt @ self.wx[s]).reshape(len(sel) * ph, c * w)  # (k ph, C W)
                part = self.wy[s].reshape(-1, h).T @ dm  # (H, C W): one GEMM over the boxes
                drows = part if drows is None else drows + part
            dx[img] = drows.reshape(h, c, w).transpose(1, 0, 2)
        return dx
