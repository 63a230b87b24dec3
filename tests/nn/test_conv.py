"""Convolution: im2col / col2im, the Conv2d and ConvTranspose2d ops and modules.

Parity with PyTorch in float64 (forward and every gradient) plus gradcheck on tiny shapes, the
output-size rule, error messages, the float32 path, and state_dict / repr compatibility.
"""
import doctest
import importlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import deepbasic as db
from deepbasic.nn.layers.conv import Conv2d, ConvTranspose2d
conv_ops = importlib.import_module("deepbasic.ops.conv")
im2col_mod = importlib.import_module("deepbasic.ops.im2col")
from deepbasic.ops.conv import conv2d, conv_transpose2d
from deepbasic.ops.im2col import col2im, conv_output_size, im2col

from _parity import assert_close, check_module_parity, copy_params_to_torch
from helpers import check_op, const


def rng(seed=0):
    return np.random.default_rng(seed)


# ----- output size --------------------------------------------------------------------------------
def test_conv_output_size_examples():
    assert conv_output_size(7, 3, stride=1, padding=1) == 7
    assert conv_output_size(32, 5, stride=1, padding=2) == 32
    assert conv_output_size(7, 3, stride=2) == 3
    assert conv_output_size(7, 3, stride=2, exact=True) == 3
    assert conv_output_size(227, 11, stride=4) == 55  # AlexNet's first layer
    assert conv_output_size(5, 3, dilation=2) == 1
    assert conv_output_size(5, 2, padding=(0, 1)) == 5
    assert conv_output_size(7, 3, stride=3) == 2


def test_conv_output_size_errors():
    with pytest.raises(ValueError, match="does not tile an input of 7"):
        conv_output_size(7, 3, stride=3, exact=True)
    with pytest.raises(ValueError, match="filter of 5 does not fit in an input of 2 padded to 4"):
        conv_output_size(2, 5, padding=1)
    with pytest.raises(ValueError, match="dilated to 5"):
        conv_output_size(4, 3, dilation=2)
    with pytest.raises(ValueError, match="stride"):
        conv_output_size(4, 3, stride=0)


def test_im2col_doctests():
    result = doctest.testmod(im2col_mod)
    assert result.attempted >= 5 and result.failed == 0


# ----- im2col / col2im against torch's unfold / fold ----------------------------------------------
@pytest.mark.parametrize("shape,k,s,p,d", [
    ((2, 3, 5, 6), 3, 1, 1, 1),
    ((1, 2, 7, 7), (3, 2), (2, 1), (1, 0), 1),
    ((3, 1, 8, 6), 2, 3, 2, (2, 1)),
    ((2, 4, 4, 4), 1, 1, 0, 1),
])
def test_im2col_and_col2im_match_torch_unfold_fold(shape, k, s, p, d):
    x = rng(1).standard_normal(shape)
    cols = im2col(x, k, s, p, d)
    ref = TF.unfold(torch.tensor(x), k, dilation=d, padding=p, stride=s)  # (N, C*kh*kw, L)
    N, L = shape[0], ref.shape[2]
    assert cols.shape == (ref.shape[1], N * L)
    assert_close(cols.reshape(-1, N, L).transpose(1, 0, 2), ref, what="im2col")
    c = rng(2).standard_normal(cols.shape)
    back = col2im(c, shape, k, s, p, d)
    ref_back = TF.fold(torch.tensor(c.reshape(-1, N, L).transpose(1, 0, 2).copy()), shape[2:], k,
                       dilation=d, padding=p, stride=s)
    assert_close(back, ref_back, what="col2im")
    # adjoint: <im2col(x), c> == <x, col2im(c)>
    assert math.isclose(float((cols * c).sum()), float((x * back).sum()), rel_tol=1e-10)


def test_im2col_pad_value_and_asymmetric_padding():
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    cols = im2col(x, 2, 1, ((0, 1), (1, 0)), pad_value=-np.inf)
    # padded image [[-inf, 0, 1], [-inf, 2, 3], [-inf, -inf, -inf]] -> 2x2 windows
    assert cols.shape == (4, 4)
    np.testing.assert_array_equal(cols[:, 0], [-np.inf, 0, -np.inf, 2])
    np.testing.assert_array_equal(cols[:, 3], [2, 3, -np.inf, -np.inf])


def test_col2im_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"expected cols of shape \(9, 18\) for input "
                                         r"\(2, 1, 3, 3\), got \(9, 9\)"):
        col2im(np.zeros((9, 9)), (2, 1, 3, 3), 3, 1, 1)


# ----- Conv2d op: parity with torch (float64) and gradcheck ---------------------------------------
CONV_CASES = [
    # x shape, w shape, bias, stride, padding, dilation, groups
    ((2, 3, 5, 5), (4, 3, 3, 3), True, 1, 0, 1, 1),
    ((2, 3, 5, 5), (4, 3, 3, 3), True, 1, 1, 1, 1),
    ((2, 2, 7, 6), (3, 2, 3, 3), True, 2, 1, 1, 1),
    ((1, 2, 8, 7), (2, 2, 3, 3), False, 3, 2, 1, 1),
    ((2, 2, 6, 6), (3, 2, 3, 3), True, 1, "same", 1, 1),
    ((2, 2, 6, 5), (3, 2, 2, 4), True, 1, "same", 1, 1),  # even kernel: asymmetric padding
    ((2, 2, 7, 7), (2, 2, 3, 3), True, 1, "same", 2, 1),
    ((2, 2, 6, 5), (3, 2, 3, 3), True, 1, "valid", 1, 1),
    ((2, 3, 6, 7), (2, 3, 3, 2), True, (2, 1), (1, 2), 1, 1),  # non-square everything
    ((2, 2, 7, 7), (3, 2, 3, 3), True, 1, 2, 2, 1),  # dilation 2
    ((2, 2, 8, 6), (2, 2, 2, 3), False, (1, 2), ((1, 0), (2, 1)), (2, 1), 1),
    ((2, 4, 3, 3), (5, 4, 1, 1), True, 1, 0, 1, 1),  # 1x1
    ((2, 4, 5, 5), (3, 4, 1, 1), True, 2, 0, 1, 1),  # 1x1 strided
    ((1, 1, 5, 5), (1, 1, 3, 3), True, 1, 1, 1, 1),  # batch 1, channels 1
    ((3, 1, 4, 6), (2, 1, 2, 2), False, 2, 0, 1, 1),
    ((2, 4, 5, 5), (6, 2, 3, 3), True, 1, 1, 1, 2),  # groups
    ((2, 3, 5, 4), (3, 1, 3, 3), False, 1, 1, 1, 3),  # depthwise
    ((2, 2, 3, 3), (2, 2, 3, 3), True, 1, 0, 1, 1),  # kernel = input: 1x1 output
    ((2, 2, 6, 4), (3, 2, 2, 2), True, 2, 1, 1, 1),  # 2x2 stride 2: windows tile the input
    ((2, 2, 7, 5), (3, 2, 2, 2), True, 2, 0, 1, 1),  # ... except the last row / column
    ((2, 3, 4, 4), (2, 3, 1, 1), True, 1, 1, 1, 1),  # 1x1 with padding
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on even kernels
@pytest.mark.parametrize("xs,ws,bias,stride,padding,dilation,groups", CONV_CASES)
def test_conv2d_parity_and_gradcheck(xs, ws, bias, stride, padding, dilation, groups):
    opts = const((stride, padding, dilation, groups))
    inputs = [xs, ws] + ([(ws[0],)] if bias else [None]) + [opts]

    def db_fn(x, w, b, o):
        return conv2d(x, w, b, *o)

    def torch_fn(x, w, b, o):
        s, p, d, g = o
        if isinstance(p, tuple) and isinstance(p[0], tuple):  # torch has no asymmetric padding
            (t, bt), (le, r) = p
            x, p = TF.pad(x, (le, r, t, bt)), 0
        return TF.conv2d(x, w, b, s, p, d, g)

    check_op(db_fn, torch_fn, inputs)


def test_conv2d_blocks_of_the_batch_give_the_same_result(monkeypatch):
    """A tiny block budget splits the batch into many GEMMs (one example per block)."""
    monkeypatch.setattr(conv_ops, "COLUMN_BLOCK_BYTES", 1)
    check_op(lambda x, w, b: conv2d(x, w, b, 2, 1), lambda x, w, b: TF.conv2d(x, w, b, 2, 1),
             [(5, 2, 6, 5), (3, 2, 3, 3), (3,)], gradcheck=False)
    monkeypatch.setattr(conv_ops, "COLUMN_BLOCK_BYTES", 2 * 18 * 9 * 8 + 1)  # 2 examples per block
    check_op(lambda x, w: conv_transpose2d(x, w, None, 2, 1, 1),
             lambda x, w: TF.conv_transpose2d(x, w, None, 2, 1, 1),
             [(5, 3, 3, 3), (3, 2, 3, 3)], gradcheck=False)


@pytest.mark.parametrize("threads", [1, 2])  # one list of blocks / the batch split over threads
@pytest.mark.parametrize("ratio", [0.0, 1.0])  # col2im, or the gather form sharing its columns
@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 2), (1, ((2, 0), (1, 2)))])
def test_conv2d_implicit_padding_over_blocks_of_the_batch(monkeypatch, threads, ratio, stride,
                                                          padding):
    """The zero padding is written into the columns (no padded copy of the input), once per
    block size: 2 examples per block and a last block of 1 must not leave stale values in the
    reused buffers, in the forward pass nor in either backward form; with 2 threads each runs
    its own blocks (3 and 2 examples) and the weight gradients are summed."""
    monkeypatch.setattr(conv_ops, "GATHER_MAX_CHANNEL_RATIO", ratio)
    monkeypatch.setattr(conv_ops, "COLUMN_BLOCK_BYTES", 2 * 4 * 9 * 7 * 6 * 8 + 1)
    monkeypatch.setattr(im2col_mod, "PARALLEL_MIN_ELEMENTS", 0)
    monkeypatch.setattr(im2col_mod, "_threads", threads)

    def torch_fn(x, w, b):
        p = padding
        if isinstance(p, tuple):
            (t, bo), (le, r) = p
            x, p = TF.pad(x, (le, r, t, bo)), 0
        return TF.conv2d(x, w, b, stride, p)

    for _ in range(2):  # the second call reuses the first one's scratch buffers
        check_op(lambda x, w, b: conv2d(x, w, b, stride, padding), torch_fn,
                 [(5, 4, 7, 6), (4, 4, 3, 3), (4,)], gradcheck=False)


@pytest.mark.parametrize("hw,k,s,d,pads", [
    ((7, 6), 3, 1, 1, ((1, 1), (1, 1))), ((7, 6), 3, 2, 1, ((1, 0), (2, 1))),
    ((5, 5), 3, 1, 2, ((2, 2), (2, 2))), ((6, 7), 2, 3, 1, ((3, 1), (0, 2))),
    ((4, 4), 3, 1, 1, ((4, 4), (1, 3))),  # some taps see only padding
])
def test_unfold_with_implicit_padding_matches_the_padded_copy(hw, k, s, d, pads):
    x = np.random.default_rng(0).standard_normal((2, 3) + hw)
    out_size = tuple((n + sum(p) - d * (k - 1) - 1) // s + 1 for n, p in zip(hw, pads))
    want = im2col_mod.unfold(im2col_mod.pad2d(x, pads), (k, k), (s, s), (d, d), out_size)
    got = im2col_mod.unfold(x, (k, k), (s, s), (d, d), out_size, out=np.full(want.shape, np.nan),
                            pads=pads)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("ratio", [0.0, 100.0])  # always col2im / always the gather form
@pytest.mark.parametrize("xs,ws,padding,dilation,groups", [
    ((2, 3, 5, 6), (4, 3, 3, 3), 1, 1, 1),
    ((2, 2, 7, 6), (3, 2, 3, 2), ((2, 0), (1, 0)), (2, 1), 1),
    ((2, 4, 5, 5), (6, 2, 3, 3), "same", 1, 2),
    ((2, 2, 5, 5), (3, 2, 3, 3), 3, 1, 1),  # padding > kernel span: col2im either way
])
def test_stride1_input_grad_gather_and_scatter_agree(monkeypatch, ratio, xs, ws, padding,
                                                     dilation, groups):
    """For stride 1, dx is either col2im(W^T dY) or the full convolution of dY with the flipped
    kernel, chosen by the channel ratio; both must give torch's gradients."""
    monkeypatch.setattr(conv_ops, "GATHER_MAX_CHANNEL_RATIO", ratio)

    def torch_fn(x, w):
        p = padding
        if isinstance(p, tuple):
            (t, b), (le, r) = p
            x, p = TF.pad(x, (le, r, t, b)), 0
        return TF.conv2d(x, w, None, 1, p, dilation, groups)

    check_op(lambda x, w: conv2d(x, w, None, 1, padding, dilation, groups), torch_fn, [xs, ws],
             gradcheck=False)


def test_copies_split_over_threads_give_the_same_result(monkeypatch):
    """im2col, col2im and the transposes split by channel over 3 threads (uneven parts)."""
    monkeypatch.setattr(im2col_mod, "PARALLEL_MIN_ELEMENTS", 0)
    im2col_mod.set_copy_threads(3)
    try:
        assert im2col_mod.get_copy_threads() == 3
        check_op(lambda x, w, b: conv2d(x, w, b, 2, 1), lambda x, w, b: TF.conv2d(x, w, b, 2, 1),
                 [(3, 4, 6, 5), (5, 4, 3, 3), (5,)], gradcheck=False)
        check_op(lambda x, w: conv_transpose2d(x, w, None, 2, 1, 1),
                 lambda x, w: TF.conv_transpose2d(x, w, None, 2, 1, 1),
                 [(2, 5, 3, 3), (5, 4, 3, 3)], gradcheck=False)
    finally:
        im2col_mod.set_copy_threads(None)
    with pytest.raises(ValueError, match="positive integer"):
        im2col_mod.set_copy_threads(0)


def test_non_contiguous_input_and_gradient():
    """A transposed (non-contiguous) input, and an upstream gradient arriving through a permute."""
    check_op(lambda x, w: conv2d(x.transpose(2, 3), w, None, 1, 1).permute(0, 1, 3, 2),
             lambda x, w: TF.conv2d(x.transpose(2, 3), w, None, 1, 1).permute(0, 1, 3, 2),
             [(2, 3, 6, 5), (4, 3, 3, 3)])


def test_conv2d_unbatched_input():
    check_op(lambda x, w, b: conv2d(x, w, b, 1, 1), lambda x, w, b: TF.conv2d(x, w, b, 1, 1),
             [(2, 4, 5), (3, 2, 3, 3), (3,)])


def test_conv2d_skips_unneeded_gradients():
    x = db.tensor(rng(3).standard_normal((2, 3, 5, 5)))  # no grad
    w = db.tensor(rng(4).standard_normal((4, 3, 3, 3)), requires_grad=True)
    out = conv2d(x, w, None, 1, 1)
    out.sum().backward()
    assert x.grad is None and w.grad.shape == (4, 3, 3, 3)
    with db.no_grad():
        assert not conv2d(x, w, None, 1, 1).requires_grad


# ----- ConvTranspose2d op -------------------------------------------------------------------------
TRANSPOSE_CASES = [
    # x shape, w shape (C_in, C_out/G, kh, kw), bias, stride, padding, output_padding, groups, dilation
    ((2, 3, 4, 4), (3, 2, 3, 3), True, 1, 0, 0, 1, 1),
    ((2, 3, 4, 5), (3, 2, 3, 3), True, 2, 1, 1, 1, 1),
    ((1, 2, 3, 3), (2, 1, 4, 4), False, 2, 1, 0, 1, 1),  # the DCGAN upsampling block
    ((2, 2, 3, 4), (2, 3, 3, 2), True, (3, 2), (0, 1), (2, 1), 1, 1),
    ((2, 2, 4, 3), (2, 2, 3, 3), True, 1, 1, 0, 1, 2),  # dilation 2
    ((2, 2, 3, 3), (2, 2, 3, 3), True, 1, 2, 1, 1, 2),  # output_padding < dilation
    ((2, 4, 3, 3), (4, 1, 3, 3), True, 2, 1, 1, 2, 1),  # groups
    ((1, 1, 2, 2), (1, 1, 1, 1), False, 1, 0, 0, 1, 1),  # 1x1, batch 1, channel 1
    ((2, 3, 3, 2), (3, 2, 1, 1), True, 2, 0, 1, 1, 1),
    ((2, 3, 3, 2), (3, 2, 2, 2), True, 2, 0, 0, 1, 1),  # U-Net's 2x2 stride-2 upsampling
    ((2, 3, 3, 3), (3, 2, 1, 1), False, 1, 0, 0, 1, 1),
]


@pytest.mark.parametrize("xs,ws,bias,stride,padding,out_pad,groups,dilation", TRANSPOSE_CASES)
def test_conv_transpose2d_parity_and_gradcheck(xs, ws, bias, stride, padding, out_pad, groups,
                                               dilation):
    opts = const((stride, padding, out_pad, groups, dilation))
    inputs = [xs, ws] + ([(ws[1] * groups,)] if bias else [None]) + [opts]

    def db_fn(x, w, b, o):
        return conv_transpose2d(x, w, b, *o)

    def torch_fn(x, w, b, o):
        return TF.conv_transpose2d(x, w, b, *o)

    check_op(db_fn, torch_fn, inputs)


def test_conv_transpose_is_the_adjoint_of_conv():
    """<conv2d(x), y> == <x, conv_transpose2d(y)> for the same weight and settings."""
    x = rng(5).standard_normal((2, 3, 7, 6))
    w = rng(6).standard_normal((4, 3, 3, 3))
    y = conv2d(db.tensor(x), db.tensor(w), None, 2, 1).numpy()
    u = rng(7).standard_normal(y.shape)
    back = conv_transpose2d(db.tensor(u), db.tensor(w), None, 2, 1, output_padding=(0, 1)).numpy()
    assert back.shape == x.shape
    assert math.isclose(float((y * u).sum()), float((x * back).sum()), rel_tol=1e-10)


# ----- modules ------------------------------------------------------------------------------------
MODULE_CASES = [
    (dict(in_channels=3, out_channels=4, kernel_size=3), (2, 3, 6, 6)),
    (dict(in_channels=3, out_channels=4, kernel_size=3, stride=2, padding=1), (2, 3, 7, 8)),
    (dict(in_channels=2, out_channels=4, kernel_size=(3, 2), padding="same", dilation=2),
     (2, 2, 7, 6)),
    (dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, groups=2, bias=False),
     (1, 4, 5, 5)),
    (dict(in_channels=2, out_channels=3, kernel_size=1), (3, 2, 4, 4)),
]


@pytest.mark.parametrize("kwargs,shape", MODULE_CASES)
def test_conv2d_module_parity(kwargs, shape):
    m = Conv2d(**kwargs).double()
    t = torch.nn.Conv2d(**kwargs)
    copy_params_to_torch(m, t)
    check_module_parity(m, t, rng(8).standard_normal(shape))


TRANSPOSE_MODULE_CASES = [
    (dict(in_channels=3, out_channels=2, kernel_size=3), (2, 3, 4, 4)),
    (dict(in_channels=4, out_channels=2, kernel_size=4, stride=2, padding=1, bias=False),
     (2, 4, 3, 3)),
    (dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=1, output_padding=1,
          groups=2), (1, 2, 3, 4)),
    (dict(in_channels=2, out_channels=3, kernel_size=(2, 3), stride=(1, 2), dilation=2),
     (2, 2, 3, 3)),
]


@pytest.mark.parametrize("kwargs,shape", TRANSPOSE_MODULE_CASES)
def test_conv_transpose2d_module_parity(kwargs, shape):
    m = ConvTranspose2d(**kwargs).double()
    t = torch.nn.ConvTranspose2d(**kwargs)
    copy_params_to_torch(m, t)
    check_module_parity(m, t, rng(9).standard_normal(shape))


def test_conv_transpose2d_output_size():
    m = ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    t = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    copy_params_to_torch(m, t)
    x = rng(10).standard_normal((1, 2, 4, 4))
    out = m(db.tensor(x), output_size=(8, 7))
    ref = t(torch.tensor(x), output_size=[8, 7])
    assert out.shape == (1, 3, 8, 7)
    assert_close(out, ref)
    with pytest.raises(ValueError, match=r"height must be in \[7, 8\]"):
        m(db.tensor(x), output_size=(9, 7))


@pytest.mark.parametrize("cls,tcls,kwargs", [
    (Conv2d, torch.nn.Conv2d, dict(in_channels=3, out_channels=8, kernel_size=3)),
    (Conv2d, torch.nn.Conv2d, dict(in_channels=4, out_channels=8, kernel_size=(3, 5), stride=2,
                                    padding=1, dilation=2, groups=2, bias=False)),
    (Conv2d, torch.nn.Conv2d, dict(in_channels=3, out_channels=4, kernel_size=3, padding="same")),
    (Conv2d, torch.nn.Conv2d, dict(in_channels=3, out_channels=4, kernel_size=3, padding=(1, 2))),
    (ConvTranspose2d, torch.nn.ConvTranspose2d, dict(in_channels=8, out_channels=4, kernel_size=4,
                                                      stride=2, padding=1)),
    (ConvTranspose2d, torch.nn.ConvTranspose2d, dict(in_channels=4, out_channels=2, kernel_size=3,
                                                      stride=2, output_padding=1, groups=2)),
])
def test_state_dict_names_shapes_and_repr_match_torch(cls, tcls, kwargs):
    m, t = cls(**kwargs), tcls(**kwargs)
    assert list(m.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        assert m.state_dict()[k].shape == tuple(v.shape)
        assert m.state_dict()[k].dtype == np.float32
    assert repr(m) == repr(t)
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})  # torch -> deepbasic


@pytest.mark.parametrize("cls,weight_shape", [
    (lambda: Conv2d(16, 32, 3), (32, 16, 3, 3)),
    (lambda: Conv2d(16, 32, 3, groups=4), (32, 4, 3, 3)),
    (lambda: ConvTranspose2d(16, 32, 3), (16, 32, 3, 3)),
])
def test_default_init_is_pytorchs(cls, weight_shape):
    db.manual_seed(0)
    m = cls()
    assert m.weight.shape == weight_shape and m.weight.requires_grad
    fan_in = weight_shape[1] * weight_shape[2] * weight_shape[3]
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) gives exactly this bound
    w = m.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    b = m.bias.numpy()
    assert np.abs(b).max() <= bound and np.abs(b).std() > 0


def test_no_bias_parameter():
    m = Conv2d(2, 3, 3, bias=False)
    assert m.bias is None and [n for n, _ in m.named_parameters()] == ["weight"]


# ----- float32 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 1), (1, 0)])
def test_float32_matches_torch(stride, padding):
    db.manual_seed(1)
    m = Conv2d(8, 16, 3, stride=stride, padding=padding)
    t = torch.nn.Conv2d(8, 16, 3, stride=stride, padding=padding)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    x = rng(11).standard_normal((4, 8, 12, 12)).astype(np.float32)
    xd, xt = db.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = m(xd), t(xt)
    assert out.dtype == np.float32
    g = rng(12).standard_normal(out.shape).astype(np.float32)
    out.backward(db.tensor(g))
    tout.backward(torch.from_numpy(g))
    assert_close(out, tout, rtol=1e-4, atol=1e-4, what="forward")
    assert_close(xd.grad, xt.grad, rtol=1e-4, atol=1e-4, what="input grad")
    assert_close(m.weight.grad, t.weight.grad, rtol=1e-4, atol=1e-3, what="weight grad")
    assert_close(m.bias.grad, t.bias.grad, rtol=1e-4, atol=1e-3, what="bias grad")
    assert xd.grad.dtype == np.float32 and m.weight.grad.dtype == np.float32


def test_float32_conv_transpose_matches_torch():
    db.manual_seed(2)
    m = ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    t = torch.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    x = rng(13).standard_normal((3, 8, 5, 5)).astype(np.float32)
    xd, xt = db.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = m(xd), t(xt)
    assert out.dtype == np.float32
    out.sum().backward()
    tout.sum().backward()
    assert_close(out, tout, rtol=1e-4, atol=1e-4, what="forward")
    assert_close(xd.grad, xt.grad, rtol=1e-4, atol=1e-4, what="input grad")
    assert_close(m.weight.grad, t.weight.grad, rtol=1e-4, atol=1e-3, what="weight grad")


# ----- errors -------------------------------------------------------------------------------------
def _x(*shape, dtype=np.float32):
    return db.tensor(np.zeros(shape, dtype=dtype))


def test_error_wrong_channels():
    with pytest.raises(ValueError, match="conv2d: input has 3 channels, weight expects 1"):
        conv2d(_x(2, 3, 5, 5), _x(4, 1, 3, 3))
    with pytest.raises(ValueError, match=r"input has 3 channels, weight expects 4 \(2 per group x 2"):
        conv2d(_x(2, 3, 5, 5), _x(4, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match="conv2d: input has 1 channels, weight expects 3"):
        Conv2d(3, 4, 3)(_x(2, 1, 8, 8))
    with pytest.raises(ValueError, match="conv_transpose2d: input has 2 channels, weight expects 3"):
        ConvTranspose2d(3, 4, 3)(_x(1, 2, 4, 4))


def test_error_wrong_ndim():
    with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\).*got shape \(5, 5\)"):
        conv2d(_x(5, 5), _x(1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"got shape \(1, 1, 1, 5, 5\)"):
        Conv2d(1, 1, 3)(_x(1, 1, 1, 5, 5))
    with pytest.raises(ValueError, match=r"expected a 4-D weight .* got shape \(1, 3, 3\)"):
        conv2d(_x(1, 1, 5, 5), _x(1, 3, 3))
    with pytest.raises(ValueError, match="conv_transpose2d: expected a 4-D input"):
        conv_transpose2d(_x(5,), _x(1, 1, 3, 3))


def test_error_input_smaller_than_kernel():
    with pytest.raises(ValueError, match=r"kernel 5x5 is larger than the padded input 4x4 "
                                         r"\(input 2x2, padding 1\)"):
        conv2d(_x(1, 1, 2, 2), _x(1, 1, 5, 5), padding=1)
    with pytest.raises(ValueError, match=r"kernel 3x3 \(dilated to 5x5\) is larger than the padded "
                                         r"input 4x4"):
        Conv2d(1, 1, 3, dilation=2)(_x(1, 1, 4, 4))
    with pytest.raises(ValueError, match="the output would be"):
        conv_transpose2d(_x(1, 1, 1, 1), _x(1, 1, 1, 1), padding=1)


def test_error_dtype_mismatch_and_bias():
    with pytest.raises(TypeError, match="input is float64 but weight is float32"):
        conv2d(_x(1, 1, 4, 4, dtype=np.float64), _x(1, 1, 3, 3))
    with pytest.raises(TypeError, match="floating-point input"):
        conv2d(db.tensor(np.zeros((1, 1, 4, 4), dtype=np.int64)), _x(1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"expected a bias of shape \(2,\), got \(3,\)"):
        conv2d(_x(1, 1, 4, 4), _x(2, 1, 3, 3), _x(3))


def test_error_bad_options():
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        conv2d(_x(1, 1, 4, 4), _x(1, 1, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="'full'"):
        conv2d(_x(1, 1, 4, 4), _x(1, 1, 3, 3), padding="full")
    with pytest.raises(ValueError, match="stride must be positive"):
        conv2d(_x(1, 1, 4, 4), _x(1, 1, 3, 3), stride=0)
    with pytest.raises(ValueError, match="padding must be non-negative"):
        conv2d(_x(1, 1, 4, 4), _x(1, 1, 3, 3), padding=-1)
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="divisible by groups"):
        conv2d(_x(1, 4, 4, 4), _x(3, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match="padding_mode 'reflect' is not supported"):
        Conv2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="output_padding must be non-negative and smaller than "
                                         "stride or dilation"):
        ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose2d(_x(1, 1, 3, 3), _x(1, 1, 3, 3), output_padding=1)
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        Conv2d(1, 1, (3, 3, 3))
