"""Pooling against PyTorch: max (indices, ties, ceil_mode, padding, dilation), average, adaptive
average, max unpooling, the modules, and the error messages."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import deepbasic as db
from deepbasic import nn
from deepbasic.nn.layers.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, MaxUnpool2d
from deepbasic.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d, max_unpool2d

from helpers import check_op, const, floats


def rng(seed=0):
    return np.random.default_rng(seed)


# (input shape, kernel_size, stride, padding, dilation, ceil_mode)
MAX_CONFIGS = [
    ((2, 3, 6, 8), 2, None, 0, 1, False),           # non-overlapping, tiles the input
    ((2, 2, 7, 9), 2, 2, 0, 1, False),              # non-overlapping, last row/col unused
    ((1, 2, 9, 11), 3, 2, 0, 1, False),             # overlapping (AlexNet / GoogLeNet)
    ((1, 2, 8, 7), 3, 2, 1, 1, False),              # overlapping + padding
    ((1, 2, 8, 10), 3, 2, 0, 1, True),              # ceil_mode (GoogLeNet)
    ((1, 2, 9, 8), 3, 2, 1, 1, True),               # ceil_mode + padding
    ((1, 2, 9, 9), 2, 3, 1, 1, True),               # stride > kernel, ceil_mode
    ((1, 2, 10, 11), 3, 1, 1, 2, False),            # dilation
    ((1, 2, 7, 9), (3, 2), (2, 1), (1, 0), 1, False),  # rectangular everything
    ((1, 2, 4, 5), 1, 1, 0, 1, False),              # 1x1: identity
]


@pytest.mark.parametrize("shape,k,s,p,d,ceil", MAX_CONFIGS)
def test_max_pool2d_parity_indices_and_gradcheck(shape, k, s, p, d, ceil):
    check_op(lambda x: max_pool2d(x, k, s, p, d, return_indices=True, ceil_mode=ceil),
             lambda x: TF.max_pool2d(x, k, s, p, d, return_indices=True, ceil_mode=ceil),
             [shape])


def test_max_pool2d_module_matches_torch_module():
    m, t = MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)
    check_op(m, t, [(2, 3, 10, 9)])
    assert repr(m) == repr(t)


@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_max_pool2d_ties_route_like_torch(k, s, p):
    """Equal values in a window (a constant map, ReLU zeros): PyTorch gives the whole gradient
    to the window's first maximum in row-major order, and so do we."""
    const_input = np.full((1, 2, 6, 6), 0.5)
    relu_zeros = np.maximum(rng(5).standard_normal((2, 2, 6, 7)), 0)
    relu_zeros[0, 0, :2, :2] = 1.0  # a window of equal maxima that are not zero
    for x in (const_input, relu_zeros):
        out = check_op(lambda x: max_pool2d(x, k, s, p, return_indices=True),
                       lambda x: TF.max_pool2d(x, k, s, p, return_indices=True),
                       [floats(x)], gradcheck=False)
        grad = out.db_inputs[0].grad
        # every window sends its gradient to exactly one input
        np.testing.assert_allclose(grad.sum(), out.torch_inputs[0].grad.sum().item())


def test_max_pool2d_nonoverlapping_tie_goes_to_first_element():
    x = db.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 0], [0, 0]])


def test_max_pool2d_float32_and_no_grad():
    x = db.randn(2, 3, 8, 8)
    y = max_pool2d(x, 3, 2, 1)
    assert y.dtype == np.float32 and not y.requires_grad
    ref = TF.max_pool2d(torch.tensor(x.numpy()), 3, 2, 1)
    np.testing.assert_array_equal(y.numpy(), ref.numpy())


def test_max_pool2d_negative_inputs_ignore_padding():
    """Padding is -inf, so an all-negative window with padding still returns its input max."""
    x = -np.abs(rng(3).standard_normal((1, 1, 5, 5))) - 1
    check_op(lambda x: max_pool2d(x, 3, 2, 1, return_indices=True),
             lambda x: TF.max_pool2d(x, 3, 2, 1, return_indices=True), [floats(x)])


@pytest.mark.parametrize("call,match", [
    (lambda: max_pool2d(db.randn(3, 4), 2), r"4-D input \(N, C, H, W\), got shape \(3, 4\)"),
    (lambda: max_pool2d(db.randn(1, 1, 4, 4), 2, 2, 2), r"padding must be at most half.*\(2, 2\)"),
    (lambda: max_pool2d(db.randn(1, 1, 2, 2), 3), r"size 2x2 is too small.*output would be 0x0"),
    (lambda: max_pool2d(db.randn(1, 1, 4, 4), 0), r"kernel_size must be >= 1, got \(0, 0\)"),
    (lambda: max_pool2d(db.randn(1, 1, 4, 4), (2, 2, 2)), r"kernel_size must be an int or a pair"),
    (lambda: max_pool2d(db.randn(1, 1, 4, 4), 2, 0), r"stride must be >= 1"),
])
def test_max_pool2d_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----- max unpooling ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,k,s,p", [((2, 3, 6, 8), 2, 2, 0), ((1, 2, 7, 7), 3, 2, 1),
                                         ((1, 2, 5, 7), 2, 2, 0)])
def test_max_unpool2d_round_trip_matches_torch(shape, k, s, p):
    x = np.abs(rng(1).standard_normal(shape)) + 0.1  # positive: zeros never beat a max
    _, idx = max_pool2d(db.tensor(x), k, s, p, return_indices=True)
    y, tidx = TF.max_pool2d(torch.tensor(x), k, s, p, return_indices=True)
    pooled = y.numpy()
    size = shape[2:]  # the pre-pooling size (the default may be smaller for odd sizes)
    check_op(lambda v, i: max_unpool2d(v, i, k, s, p, output_size=size),
             lambda v, i: TF.max_unpool2d(v, i, k, s, p, output_size=size),
             [floats(pooled), idx.numpy()],
             gradcheck=k == s)  # overlapping windows can share an index: one value is kept, but
    # the backward (a gather, as PyTorch's) gives the gradient to both: not a true derivative
    # the unpooled map holds every window max at its place: pooling it again gives it back
    un = max_unpool2d(db.tensor(pooled), idx, k, s, p, output_size=size)
    np.testing.assert_array_equal(un.numpy(), TF.max_unpool2d(y, tidx, k, s, p, output_size=size).numpy())
    if (k, s, p) == (2, 2, 0):
        np.testing.assert_array_equal(max_pool2d(un, k, s, p).numpy(), pooled)


def test_max_unpool2d_default_size_and_module():
    x = rng(2).standard_normal((1, 2, 8, 8))
    pool, unpool = MaxPool2d(2, return_indices=True), MaxUnpool2d(2)
    y, idx = pool(db.tensor(x))
    out = unpool(y, idx)
    t_y, t_idx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(out.numpy(), torch.nn.MaxUnpool2d(2)(t_y, t_idx).numpy())
    assert out.shape == (1, 2, 8, 8)
    assert repr(unpool) == repr(torch.nn.MaxUnpool2d(2))


def test_max_unpool2d_errors():
    x = db.randn(1, 1, 2, 2)
    idx = np.zeros((1, 1, 2, 2), dtype=np.int64)
    with pytest.raises(ValueError, match=r"invalid output_size \(9, 4\): dim 0 must be between 2 and 6"):
        max_unpool2d(x, idx, 2, output_size=(9, 4))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 16\).*got values in \[0, 16\]"):
        max_unpool2d(x, np.array([[[[0, 1], [2, 16]]]]), 2)
    with pytest.raises(ValueError, match=r"indices have shape \(1, 1, 1, 2\), expected.*\(1, 1, 2, 2\)"):
        max_unpool2d(x, np.zeros((1, 1, 1, 2), dtype=np.int64), 2)


# ----- average pooling ----------------------------------------------------------------------------
AVG_CONFIGS = [
    ((2, 3, 6, 8), 2, None, 0, False),
    ((1, 2, 9, 11), 3, 2, 0, False),
    ((1, 2, 8, 7), 3, 2, 1, False),
    ((1, 2, 8, 10), 3, 2, 1, True),
    ((1, 2, 7, 7), (3, 2), (2, 1), (1, 1), True),
]


@pytest.mark.parametrize("shape,k,s,p,ceil", AVG_CONFIGS)
@pytest.mark.parametrize("include_pad", [True, False])
def test_avg_pool2d_parity(shape, k, s, p, ceil, include_pad):
    check_op(lambda x: avg_pool2d(x, k, s, p, ceil, include_pad),
             lambda x: TF.avg_pool2d(x, k, s, p, ceil, include_pad), [shape])


def test_avg_pool2d_divisor_override_and_module():
    check_op(lambda x: avg_pool2d(x, 3, 2, 1, divisor_override=4),
             lambda x: TF.avg_pool2d(x, 3, 2, 1, divisor_override=4), [(1, 2, 6, 6)])
    m, t = AvgPool2d(3, 2, 1, count_include_pad=False), torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False)
    check_op(m, t, [(2, 2, 7, 6)])
    assert repr(m) == repr(t)
    assert avg_pool2d(db.randn(1, 1, 4, 4), 2).dtype == np.float32


# ----- adaptive average pooling -------------------------------------------------------------------
@pytest.mark.parametrize("shape,size", [
    ((2, 3, 5, 7), 1), ((2, 3, 6, 8), (3, 4)), ((1, 2, 7, 5), 3), ((1, 2, 5, 7), (4, 2)),
    ((1, 2, 3, 3), 5), ((1, 2, 6, 7), (None, 3)), ((1, 2, 13, 13), 6),
])
def test_adaptive_avg_pool2d_parity(shape, size):
    check_op(lambda x: adaptive_avg_pool2d(x, size),
             lambda x: TF.adaptive_avg_pool2d(x, size), [shape])


def test_adaptive_avg_pool2d_module_and_float32():
    m, t = AdaptiveAvgPool2d((2, 3)), torch.nn.AdaptiveAvgPool2d((2, 3))
    check_op(m, t, [(2, 2, 7, 8)])
    assert repr(m) == repr(t)
    x = db.randn(2, 4, 7, 7)
    for size in (1, 3, 7):
        y = adaptive_avg_pool2d(x, size)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y.numpy(), TF.adaptive_avg_pool2d(torch.tensor(x.numpy()), size),
                                   rtol=1e-5, atol=1e-6)


def test_adaptive_avg_pool2d_errors():
    with pytest.raises(ValueError, match=r"4-D input \(N, C, H, W\), got shape \(4, 4\)"):
        adaptive_avg_pool2d(db.randn(4, 4), 2)
    with pytest.raises(ValueError, match=r"output_size must be positive, got \(0, 2\)"):
        adaptive_avg_pool2d(db.randn(1, 1, 4, 4), (0, 2))


def test_pool_layers_are_exported_in_nn_when_the_lead_adds_them():
    # the layers live in deepbasic.nn.layers.pooling; nn re-exports them once wired in
    for name in ("MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "MaxUnpool2d"):
        if hasattr(nn, name):
            assert getattr(nn, name) is globals()[name]


def test_maxpool_then_linear_trains_end_to_end():
    """Gradient flows through pooling into earlier parameters."""
    db.manual_seed(0)
    w = db.tensor(rng(4).standard_normal((1, 1, 1, 1)), requires_grad=True)
    x = db.tensor(rng(5).standard_normal((2, 1, 4, 4)))
    y = max_pool2d(x * w, 2).sum() + avg_pool2d(x * w, 2).sum()
    y.backward()
    tw = torch.tensor(w.numpy(), requires_grad=True)
    tx = torch.tensor(x.numpy())
    (TF.max_pool2d(tx * tw, 2).sum() + TF.avg_pool2d(tx * tw, 2).sum()).backward()
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-10)


def test_check_op_const_passthrough_for_kernel_pairs():
    check_op(lambda x, k: max_pool2d(x, k), lambda x, k: TF.max_pool2d(x, k),
             [(1, 1, 4, 6), const((2, 3))])
