"""interpolate / Upsample against torch.nn.functional.interpolate: nearest and bilinear (both
align_corners), sizes and scale factors up and down, the modules, and the errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import deepbasic as db
from deepbasic.nn.layers.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from deepbasic.ops.upsample import interpolate

from helpers import check_op

# (input shape, size, scale_factor)
RESIZES = [
    ((2, 3, 4, 5), None, 2),           # integer upscale
    ((1, 2, 3, 4), None, (3, 2)),      # different integer factors
    ((1, 2, 4, 3), (7, 5), None),      # odd target size
    ((1, 2, 6, 7), (3, 4), None),      # downsampling
    ((1, 2, 5, 4), None, 1.5),         # fractional factor: sampled with 1/1.5, not 5/7
    ((1, 2, 4, 4), None, 2.1),         # floor(8.4) = 8 = 2 * 4: PyTorch's special case
    ((1, 1, 5, 7), None, 0.5),         # downscale by a factor
    ((1, 2, 3, 3), (1, 1), None),      # single output pixel
    ((1, 2, 7, 7), (7, 7), None),      # same size
]


@pytest.mark.parametrize("shape,size,scale", RESIZES)
def test_interpolate_nearest_parity(shape, size, scale):
    check_op(lambda x: interpolate(x, size, scale, mode="nearest"),
             lambda x: TF.interpolate(x, size, scale, mode="nearest"), [shape])


@pytest.mark.parametrize("shape,size,scale", RESIZES)
@pytest.mark.parametrize("align_corners", [False, True])
def test_interpolate_bilinear_parity(shape, size, scale, align_corners):
    check_op(lambda x: interpolate(x, size, scale, mode="bilinear", align_corners=align_corners),
             lambda x: TF.interpolate(x, size, scale, mode="bilinear", align_corners=align_corners),
             [shape])


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_interpolate_recompute_scale_factor(mode):
    check_op(lambda x: interpolate(x, scale_factor=1.7, mode=mode, recompute_scale_factor=True),
             lambda x: TF.interpolate(x, scale_factor=1.7, mode=mode, recompute_scale_factor=True),
             [(1, 2, 5, 6)])


@pytest.mark.parametrize("mode,ac", [("nearest", None), ("bilinear", False), ("bilinear", True)])
def test_interpolate_float32(mode, ac):
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6)).astype(np.float32)
    for kw in (dict(scale_factor=2), dict(size=(7, 4))):
        y = interpolate(db.tensor(x), mode=mode, align_corners=ac, **kw)
        assert y.dtype == np.float32
        ref = TF.interpolate(torch.tensor(x), mode=mode, align_corners=ac, **kw)
        np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)


def test_upsample_modules_match_torch():
    pairs = [
        (Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
        (Upsample(size=(5, 3), mode="bilinear"), torch.nn.Upsample(size=(5, 3), mode="bilinear")),
        (Upsample(scale_factor=3, mode="bilinear", align_corners=True),
         torch.nn.Upsample(scale_factor=3, mode="bilinear", align_corners=True)),
        (UpsamplingNearest2d(scale_factor=2), torch.nn.UpsamplingNearest2d(scale_factor=2)),
        (UpsamplingBilinear2d(size=(6, 7)), torch.nn.UpsamplingBilinear2d(size=(6, 7))),
    ]
    for m, t in pairs:
        check_op(m, t, [(1, 2, 3, 4)])
        assert repr(m) == repr(t)


def test_nearest_upscale_gradient_sums_each_block():
    x = db.tensor(np.arange(4.0).reshape(1, 1, 2, 2), requires_grad=True)
    interpolate(x, scale_factor=3).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((1, 1, 2, 2), 9.0))


@pytest.mark.parametrize("call,err,match", [
    (lambda: interpolate(db.randn(1, 1, 2, 2), size=4, scale_factor=2), ValueError,
     "exactly one of size and scale_factor"),
    (lambda: interpolate(db.randn(1, 1, 2, 2)), ValueError, "exactly one of size and scale_factor"),
    (lambda: interpolate(db.randn(1, 1, 2, 2), scale_factor=2, align_corners=True), ValueError,
     "align_corners can only be set with mode='bilinear'"),
    (lambda: interpolate(db.randn(1, 1, 2, 2), scale_factor=2, mode="bicubic"), ValueError,
     "mode must be 'nearest' or 'bilinear', got 'bicubic'"),
    (lambda: interpolate(db.randn(2, 3, 4), scale_factor=2), ValueError,
     r"4-D input \(N, C, H, W\), got shape \(2, 3, 4\)"),
    (lambda: interpolate(db.randn(1, 1, 2, 2), scale_factor=0.2), ValueError,
     r"output size \(0, 0\) is empty for input size 2x2"),
    (lambda: interpolate(db.tensor(np.ones((1, 1, 2, 2), np.int64)), scale_factor=2, mode="bilinear"),
     TypeError, "floating-point input, got int64"),
    (lambda: Upsample(size=3, scale_factor=2), ValueError, "exactly one of size and scale_factor"),
])
def test_interpolate_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()
