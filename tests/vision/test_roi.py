"""RoI pooling and RoI Align against plain-loop references that follow torchvision's CPU kernels
(csrc/ops/cpu/roi_pool_kernel.cpp, roi_align_kernel.cpp) line by line, plus hand-computed cases,
float64 gradcheck, the modules and the error messages. (torchvision itself is not installed.)"""
import math

import numpy as np
import pytest

import deepbasic as db
from deepbasic.ops import roi as roi_ops
from deepbasic.vision import RoIAlign, RoIPool, boxes_to_rois, roi_align, roi_pool


# ----- references ---------------------------------------------------------------------------------
def c_round(v):
    """C's round(): halves away from zero."""
    t = math.trunc(v)
    if abs(v - t) >= 0.5:
        t += 1 if v > 0 else -1
    return t


def ref_roi_pool(x, rois, ph, pw, scale):
    """torchvision roi_pool_forward_kernel_impl; returns (output, argmax as flat h*W+w)."""
    n_img, c_n, height, width = x.shape
    out = np.zeros((len(rois), c_n, ph, pw))
    arg = np.full((len(rois), c_n, ph, pw), -1)
    for n, roi in enumerate(rois):
        b = int(roi[0])
        start_w, start_h = c_round(roi[1] * scale), c_round(roi[2] * scale)
        end_w, end_h = c_round(roi[3] * scale), c_round(roi[4] * scale)
        roi_w, roi_h = max(end_w - start_w + 1, 1), max(end_h - start_h + 1, 1)
        bin_h, bin_w = roi_h / ph, roi_w / pw
        for i in range(ph):
            for j in range(pw):
                hs = min(max(int(math.floor(i * bin_h)) + start_h, 0), height)
                ws = min(max(int(math.floor(j * bin_w)) + start_w, 0), width)
                he = min(max(int(math.ceil((i + 1) * bin_h)) + start_h, 0), height)
                we = min(max(int(math.ceil((j + 1) * bin_w)) + start_w, 0), width)
                empty = he <= hs or we <= ws
                for c in range(c_n):
                    best, idx = (0.0 if empty else -math.inf), -1
                    for hh in range(hs, he):
                        for ww in range(ws, we):
                            if x[b, c, hh, ww] > best:
                                best, idx = x[b, c, hh, ww], hh * width + ww
                    out[n, c, i, j], arg[n, c, i, j] = best, idx
    return out, arg


def ref_roi_pool_backward(x_shape, rois, arg, g):
    dx = np.zeros(x_shape)
    for n, roi in enumerate(rois):
        b = int(roi[0])
        for c in range(x_shape[1]):
            for i in range(arg.shape[2]):
                for j in range(arg.shape[3]):
                    if arg[n, c, i, j] != -1:
                        dx[b, c].flat[arg[n, c, i, j]] += g[n, c, i, j]
    return dx


def bilinear(height, width, y, x):
    """torchvision's bilinear_interpolate(_gradient): [(row, col, weight)] of one sample."""
    if not (-1.0 <= y <= height and -1.0 <= x <= width):
        return []
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return [(y_low, x_low, hy * hx), (y_low, x_high, hy * lx), (y_high, x_low, ly * hx),
            (y_high, x_high, ly * lx)]


def roi_align_samples(height, width, roi, ph, pw, scale, sampling_ratio, aligned):
    """For every bin (i, j): its list of (row, col, weight / count), torchvision's loops."""
    offset = 0.5 if aligned else 0.0
    start_w, start_h = roi[1] * scale - offset, roi[2] * scale - offset
    end_w, end_h = roi[3] * scale - offset, roi[4] * scale - offset
    roi_w, roi_h = end_w - start_w, end_h - start_h
    if not aligned:
        roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
    bin_h, bin_w = roi_h / ph, roi_w / pw
    grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / ph)
    grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / pw)
    count = max(grid_h * grid_w, 1)
    bins = {}
    for i in range(ph):
        for j in range(pw):
            taps = []
            for iy in range(grid_h):
                y = start_h + i * bin_h + (iy + 0.5) * bin_h / grid_h
                for ix in range(grid_w):
                    x = start_w + j * bin_w + (ix + 0.5) * bin_w / grid_w
                    taps += [(r, c, w / count) for r, c, w in bilinear(height, width, y, x)]
            bins[i, j] = taps
    return bins


def ref_roi_align(x, rois, ph, pw, scale, sampling_ratio, aligned, g=None):
    """Forward output and, given g, the input gradient (scatter-add of the weights)."""
    _, c_n, height, width = x.shape
    out = np.zeros((len(rois), c_n, ph, pw))
    dx = np.zeros(x.shape)
    for n, roi in enumerate(rois):
        b = int(roi[0])
        for (i, j), taps in roi_align_samples(height, width, roi, ph, pw, scale,
                                              sampling_ratio, aligned).items():
            for r, c, w in taps:
                out[n, :, i, j] += w * x[b, :, r, c]
                if g is not None:
                    dx[b, :, r, c] += w * g[n, :, i, j]
    return out, dx


# ----- test data ----------------------------------------------------------------------------------
def make_rois(image_size, n_images, rng):
    """RoIs (K, 5) in image coordinates: random ones plus awkward cases (outside, partly outside,
    smaller than a cell, inverted, exact halves for the rounding, the whole image)."""
    hh, ww = image_size
    k = 8
    xy = rng.uniform(-0.2 * ww, 0.9 * ww, (k, 2))
    wh = rng.uniform(0.5, 0.8 * ww, (k, 2))
    rand = np.concatenate([rng.integers(0, n_images, (k, 1)), xy, xy + wh], axis=1)
    special = np.array([
        [0, 0, 0, ww - 1, hh - 1],              # the whole image
        [n_images - 1, -30, -30, -10, -10],     # entirely outside (top-left)
        [0, ww + 5, 2, ww + 20, hh - 2],        # entirely outside (right)
        [n_images - 1, 3.5, 2.5, 4.0, 3.0],     # smaller than a cell
        [0, 6.0, 5.0, 2.0, 1.0],                # inverted
        [0, 1.5, 2.5, 10.5, 12.5],              # halves: C rounding differs from NumPy's
        [n_images - 1, -6, 4, ww + 6, hh + 3],  # larger than the image
    ], dtype=float)
    return np.concatenate([rand, special])


CASES = [  # (features shape, image size, spatial scale, output size)
    ((2, 3, 7, 9), (28, 36), 0.25, (3, 2)),
    ((1, 2, 10, 8), (10, 8), 1.0, (2, 2)),
    ((3, 2, 6, 6), (12, 12), 0.5, (4, 5)),
    ((2, 2, 5, 7), (40, 56), 0.125, (1, 1)),
]


# ----- RoIPool ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,image,scale,out", CASES)
def test_roi_pool_matches_reference(shape, image, scale, out):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape)
    rois = make_rois(image, shape[0], rng)
    ref, arg = ref_roi_pool(x, rois, *out, scale)
    xt = db.tensor(x, requires_grad=True)
    y = roi_pool(xt, rois, out, scale)
    assert y.shape == ref.shape and y.dtype == np.float64
    np.testing.assert_array_equal(y.numpy(), ref)
    g = rng.standard_normal(ref.shape)
    y.backward(db.tensor(g))
    np.testing.assert_allclose(xt.grad, ref_roi_pool_backward(shape, rois, arg, g), atol=1e-12)


def test_roi_pool_hand_cases():
    x = db.tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    y = roi_pool(x, np.array([[0, 0, 0, 3, 3]]), 2)
    np.testing.assert_array_equal(y.numpy()[0, 0], [[5, 7], [13, 15]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], np.isin(np.arange(16), [5, 7, 13, 15])
                                  .reshape(4, 4))
    # C rounding: 0.5 -> 1 and 2.5 -> 3, so the box covers cells 1..3 (NumPy's round: 0..2)
    assert roi_pool(x, np.array([[0, 0.5, 0.5, 2.5, 2.5]]), 1).item() == 15
    assert roi_pool(x, np.array([[0, -0.5, -0.5, 1.4, 1.4]]), 1).item() == 5  # -0.5 -> -1
    # a box outside the map: every bin is empty -> 0
    np.testing.assert_array_equal(roi_pool(x, np.array([[0, 10, 10, 12, 12]]), 2).numpy(), 0)
    # spatial scale: image box (0, 0, 7, 7) at scale 0.5 is feature cells 0..4 (3.5 -> 4)
    assert roi_pool(x, np.array([[0, 0, 0, 7, 7]]), 1, spatial_scale=0.5).item() == 15


def test_roi_pool_ties_go_to_first_maximum_and_overlaps_accumulate():
    x = db.tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    # 3 cells into 2 bins: rows [0, 2) and [1, 3) overlap on row 1
    y = roi_pool(x, np.array([[0, 0, 0, 2, 2]]), 2)
    np.testing.assert_array_equal(y.numpy(), 1)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_roi_pool_ignores_nan_and_reads_nested_lists():
    """torchvision's `value > max` comparison is false for NaN: a NaN never becomes the max;
    a bin of only NaN outputs 0 here (torchvision: -FLT_MAX) and passes no gradient."""
    f = np.arange(16.0).reshape(1, 1, 4, 4)
    f[0, 0, 3, 3] = np.nan
    f[0, 0, 0, :2] = np.nan
    x = db.tensor(f, requires_grad=True)
    y = roi_pool(x, [[0, 0, 0, 3, 3], [0, 0, 0, 1, 0]], (2, 2))
    np.testing.assert_array_equal(y.numpy()[0, 0], [[5, 7], [13, 14]])
    np.testing.assert_array_equal(y.numpy()[1, 0], [[0, 0], [0, 0]])  # 1x2 box of NaN
    y.sum().backward()
    assert x.grad[0, 0, 3, 3] == 0 and x.grad[0, 0, 3, 2] == 1 and x.grad.sum() == 4


def test_roi_pool_gradcheck():
    rng = np.random.default_rng(0)
    x = db.tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    rois = np.array([[0, 0, 0, 9, 7], [1, 2, 1, 11, 9], [1, -3, -2, 4, 5], [0, 4, 4, 8, 9]])
    db.gradcheck(lambda t: roi_pool(t, rois, (2, 3), 0.5), [x])


# ----- RoIAlign -----------------------------------------------------------------------------------
@pytest.mark.parametrize("sampling_ratio,aligned", [(2, True), (2, False), (1, True), (0, True),
                                                    (-1, False), (3, False)])
@pytest.mark.parametrize("shape,image,scale,out", CASES[:3])
def test_roi_align_matches_reference(shape, image, scale, out, sampling_ratio, aligned):
    rng = np.random.default_rng(sum(shape) + sampling_ratio)
    x = rng.standard_normal(shape)
    rois = make_rois(image, shape[0], rng)
    g = rng.standard_normal((len(rois), shape[1]) + out)
    ref, dref = ref_roi_align(x, rois, *out, scale, sampling_ratio, aligned, g)
    xt = db.tensor(x, requires_grad=True)
    y = roi_align(xt, rois, out, scale, sampling_ratio, aligned)
    assert y.shape == ref.shape and y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12, atol=1e-12)
    y.backward(db.tensor(g))
    np.testing.assert_allclose(xt.grad, dref, rtol=1e-12, atol=1e-12)


def test_roi_align_hand_cases():
    # a linear map f(y, x) = 3y + 2x + 1: bilinear sampling is exact, so with samples placed
    # symmetrically in every bin, a bin's mean is f at the bin centre
    h, w = 6, 8
    f = 3 * np.arange(h)[:, None] + 2 * np.arange(w)[None, :] + 1.0
    x = db.tensor(f[None, None], requires_grad=True)
    x1, y1, x2, y2 = 1.0, 1.5, 6.0, 4.5  # aligned: feature coords are these - 0.5
    y = roi_align(x, np.array([[0, x1, y1, x2, y2]]), (3, 2), 1.0, 2, aligned=True).numpy()[0, 0]
    cy = y1 - 0.5 + (np.arange(3) + 0.5) * (y2 - y1) / 3
    cx = x1 - 0.5 + (np.arange(2) + 0.5) * (x2 - x1) / 2
    np.testing.assert_allclose(y, 3 * cy[:, None] + 2 * cx[None, :] + 1, rtol=1e-14)
    # one sample per bin at a pixel centre reads that pixel (aligned=True)
    one = roi_align(x, np.array([[0, 2, 3, 3, 4]]), 1, 1.0, 1, aligned=True).item()
    assert one == f[3, 2]
    # not aligned, the same box samples at (3.5, 2.5): between four pixels
    half = roi_align(x, np.array([[0, 2, 3, 3, 4]]), 1, 1.0, 1, aligned=False).item()
    assert half == pytest.approx(3 * 3.5 + 2 * 2.5 + 1)
    # in-bounds bins pass their whole gradient on: every output's weights sum to one
    x.grad = None
    roi_align(x, np.array([[0, 0.5, 0.5, 7.5, 5.5]]), (3, 4), 1.0, 2).sum().backward()
    assert x.grad.sum() == pytest.approx(12)
    # a sample beyond [-1, H] counts zero: this box's lower half samples at y = 6.5 > H = 6
    c = db.tensor(np.ones((1, 1, h, w)))
    out = roi_align(c, np.array([[0, 1, 3, 3, 8]]), (2, 1), 1.0, 1, aligned=True).numpy()
    np.testing.assert_allclose(out[0, 0, :, 0], [1, 0])


def test_roi_align_gradcheck():
    rng = np.random.default_rng(1)
    x = db.tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    rois = np.array([[0, 0.3, 0.1, 9.2, 7.7], [1, 2.2, 1.4, 11.1, 9.3], [1, -3.3, -2.1, 4.6, 5.2],
                     [0, 4.1, 4.4, 8.3, 9.9]])
    db.gradcheck(lambda t: roi_align(t, rois, (2, 3), 0.5, 2, True), [x])
    db.gradcheck(lambda t: roi_align(t, rois, 2, 0.5, 0, False), [x])


def test_roi_align_chunking_gives_same_result(monkeypatch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 7))
    rois = make_rois((24, 28), 2, rng)
    g = rng.standard_normal((len(rois), 3, 2, 2))
    results = []
    for limit in (1 << 22, 20):  # 20 elements: one box per chunk
        monkeypatch.setattr(roi_ops, "ROI_ALIGN_CHUNK_ELEMENTS", limit)
        xt = db.tensor(x, requires_grad=True)
        y = roi_align(xt, rois, 2, 0.25)
        y.backward(db.tensor(g))
        results.append((y.numpy(), xt.grad))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-13, atol=1e-13)


# ----- both: dtypes, empty input, list input, modules, errors -------------------------------------
@pytest.mark.parametrize("op", [roi_pool, roi_align])
def test_float32_empty_rois_and_box_lists(op):
    rng = np.random.default_rng(3)
    x64 = rng.standard_normal((2, 3, 6, 6))
    rois = make_rois((12, 12), 2, rng)
    y32 = op(db.tensor(x64.astype(np.float32)), rois, 2, 0.5)
    assert y32.dtype == np.float32 and not y32.requires_grad
    np.testing.assert_allclose(y32.numpy(), op(db.tensor(x64), rois, 2, 0.5).numpy(), atol=1e-5)
    x = db.tensor(x64, requires_grad=True)
    empty = op(x, np.zeros((0, 5)), (2, 3))
    assert empty.shape == (0, 3, 2, 3)
    empty.sum().backward()
    np.testing.assert_array_equal(x.grad, 0)
    per_image = [rois[rois[:, 0] == i, 1:] for i in range(2)]
    in_order = np.concatenate([rois[rois[:, 0] == i] for i in range(2)])
    np.testing.assert_array_equal(op(db.tensor(x64), per_image, 2, 0.5).numpy(),
                                  op(db.tensor(x64), in_order, 2, 0.5).numpy())
    np.testing.assert_array_equal(boxes_to_rois(per_image), in_order)


def test_modules():
    rng = np.random.default_rng(4)
    x = db.tensor(rng.standard_normal((1, 2, 8, 8)))
    rois = np.array([[0, 0, 0, 20, 24], [0, 8, 4, 30, 30.0]])
    pool, align = RoIPool((7, 7), 1 / 4), RoIAlign(5, 0.25, sampling_ratio=0, aligned=False)
    np.testing.assert_array_equal(pool(x, rois).numpy(), roi_pool(x, rois, 7, 0.25).numpy())
    np.testing.assert_array_equal(align(x, db.tensor(rois)).numpy(),
                                  roi_align(x, rois, 5, 0.25, 0, False).numpy())
    assert repr(pool) == "RoIPool(output_size=(7, 7), spatial_scale=0.25)"
    assert repr(align) == ("RoIAlign(output_size=(5, 5), spatial_scale=0.25, sampling_ratio=0, "
                           "aligned=False)")
    assert list(pool.parameters()) == []


@pytest.mark.parametrize("op", [roi_pool, roi_align])
def test_errors(op):
    x = db.randn(2, 3, 5, 5)
    name = op.__name__
    with pytest.raises(ValueError, match=rf"{name}: expected features of shape \(N, C, H, W\), "
                                         r"got shape \(3, 5, 5\)"):
        op(db.randn(3, 5, 5), np.zeros((1, 5)), 2)
    with pytest.raises(ValueError, match=rf"{name}: rois must have shape \(K, 5\) .* got shape "
                                         r"\(1, 4\)"):
        op(x, np.zeros((1, 4)), 2)
    with pytest.raises(ValueError, match=r"batch indices in \[0, 2\) for features with N=2, "
                                         r"got 2.0"):
        op(x, np.array([[2, 0, 0, 1, 1.0]]), 2)
    with pytest.raises(ValueError, match="integer batch indices"):
        op(x, np.array([[0.5, 0, 0, 1, 1.0]]), 2)
    with pytest.raises(ValueError, match="output_size must be a positive int or a pair"):
        op(x, np.zeros((1, 5)), (0, 2))
    with pytest.raises(ValueError, match="spatial_scale must be positive, got 0"):
        op(x, np.zeros((1, 5)), 2, 0)
    with pytest.raises(ValueError, match="rois must be finite"):
        op(x, np.array([[0, 0, np.nan, 1, 1.0]]), 2)
    with pytest.raises(ValueError, match=r"boxes of image 0 must have shape \(K, 4\)"):
        op(x, [np.zeros((1, 5))], 2)


def test_roi_align_sampling_ratio_must_be_int():
    with pytest.raises(ValueError, match="sampling_ratio must be an int"):
        roi_align(db.randn(1, 1, 4, 4), np.zeros((1, 5)), 2, 1.0, sampling_ratio=1.5)


def test_c_round_halves_away_from_zero():
    v = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.49999999999999994, 2.4, -2.6])
    np.testing.assert_array_equal(roi_ops.c_round(v), [1, 2, 3, -1, -3, 0, 2, -3])
    assert [c_round(t) for t in v] == roi_ops.c_round(v).tolist()


def test_roi_pool_table_and_loop_paths_agree(monkeypatch):
    """The window-table forward and the loop it falls back to above ROI_POOL_TABLE_BYTES give
    the same outputs and gradients, also with ties (few distinct values), NaN, -inf and +inf."""
    rng = np.random.default_rng(6)
    for dtype in (np.float64, np.float32):
        x = rng.integers(-1, 2, (2, 3, 7, 9)).astype(dtype)
        u = rng.random(x.shape)
        x[u < 0.1] = np.nan
        x[(u >= 0.1) & (u < 0.15)] = -np.inf
        x[(u >= 0.15) & (u < 0.18)] = np.inf
        x[0, 0, :3, :3] = -np.inf  # a corner of only -inf
        rois = np.concatenate([make_rois((28, 36), 2, rng), [[0, 0, 0, 8, 8]]])
        g = rng.standard_normal((len(rois), 3, 3, 4)).astype(dtype)
        results = []
        for limit in (roi_ops.ROI_POOL_TABLE_BYTES, 0):  # 0: always the loop
            monkeypatch.setattr(roi_ops, "ROI_POOL_TABLE_BYTES", limit)
            xt = db.tensor(x, requires_grad=True)
            y = roi_pool(xt, rois, (3, 4), 0.25)
            y.backward(db.tensor(g))
            results.append((y.numpy(), xt.grad))
        assert results[0][0].dtype == dtype
        np.testing.assert_array_equal(results[0][0][-1, 0], 0)  # bins of only -inf: 0
        np.testing.assert_array_equal(results[0][0], results[1][0])
        np.testing.assert_array_equal(results[0][1], results[1][1])
        # without NaN / -inf both follow the reference loops, ties included
        finite = np.where(np.isfinite(x), x, 1).astype(np.float64)
        ref, arg = ref_roi_pool(finite, rois, 3, 4, 0.25)
        for limit in (roi_ops.ROI_POOL_TABLE_BYTES, 0):
            monkeypatch.setattr(roi_ops, "ROI_POOL_TABLE_BYTES", limit)
            xt = db.tensor(finite, requires_grad=True)
            y = roi_pool(xt, rois, (3, 4), 0.25)
            np.testing.assert_array_equal(y.numpy(), ref)
            y.backward(db.tensor(g.astype(np.float64)))
            np.testing.assert_array_equal(xt.grad, ref_roi_pool_backward(x.shape, rois, arg, g))
