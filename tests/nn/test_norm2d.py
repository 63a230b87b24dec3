"""BatchNorm2d, LocalResponseNorm and Dropout2d against PyTorch: train / eval, running statistics,
state dict names, gradients, errors."""
import importlib

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import deepbasic as db
from deepbasic.nn import functional as F
from deepbasic.nn.layers.dropout import Dropout2d
from deepbasic.nn.layers.normalization import BatchNorm2d, LocalResponseNorm
from deepbasic.ops.norm2d import local_response_norm

from _parity import assert_close, check_module_parity, copy_params_to_torch, gradcheck_module
from helpers import check_op


def rng(seed=0):
    return np.random.default_rng(seed)


def make_pair(c, **kw):
    m = BatchNorm2d(c, **kw).double()
    t = torch.nn.BatchNorm2d(c, **kw).double()
    if m.weight is not None:
        m.weight.data[...] = rng(1).standard_normal(c)
        m.bias.data[...] = rng(2).standard_normal(c)
    copy_params_to_torch(m, t)
    return m, t


def assert_same_state(m, t):
    sd, tsd = m.state_dict(), t.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        assert_close(sd[k], tsd[k], what=k)


# ----- BatchNorm2d --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (2, 5, 1, 1), (1, 2, 3, 4)])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm2d_train_parity(shape, affine):
    m, t = make_pair(shape[1], affine=affine)
    check_module_parity(m, t, 1.5 + 2 * rng(3).standard_normal(shape))
    assert_same_state(m, t)  # running stats (unbiased var) updated the same way


@pytest.mark.parametrize("momentum", [0.1, 0.7, None])
def test_batchnorm2d_running_stats_over_steps_then_eval(momentum):
    m, t = make_pair(4, momentum=momentum)
    shape = (3, 4, 5, 2)
    for step in range(4):
        x = (step + 1) * rng(10 + step).standard_normal(shape) + step
        check_module_parity(m, t, x, seed=step)
        assert_same_state(m, t)
    assert int(m.num_batches_tracked.item()) == 4
    m.eval(), t.eval()
    check_module_parity(m, t, rng(20).standard_normal(shape))  # running statistics
    assert_same_state(m, t)
    assert int(m.num_batches_tracked.item()) == 4


def test_batchnorm2d_state_dict_names_and_loading_from_torch():
    m, t = BatchNorm2d(6), torch.nn.BatchNorm2d(6)
    assert list(m.state_dict()) == list(t.state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    t.running_mean.data = torch.tensor(rng(5).standard_normal(6), dtype=torch.float32)
    t.running_var.data = torch.tensor(rng(6).uniform(0.5, 2.0, 6), dtype=torch.float32)
    t.weight.data.uniform_(0.5, 1.5)
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    m.eval(), t.eval()
    x = rng(7).standard_normal((2, 6, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(m(db.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm2d_no_running_stats(train):
    m, t = make_pair(3, track_running_stats=False)
    assert list(m.state_dict()) == list(t.state_dict()) == ["weight", "bias"]
    m.train(train), t.train(train)
    check_module_parity(m, t, rng(4).standard_normal((2, 3, 3, 2)))


def test_batchnorm2d_gradcheck_train_and_eval():
    m, _ = make_pair(3)
    x = rng(8).standard_normal((2, 3, 2, 3))
    gradcheck_module(m, x)
    m.eval()
    m.running_var.data[...] = [0.5, 1.5, 2.0]
    m.running_mean.data[...] = [0.3, -0.2, 1.0]
    gradcheck_module(m, x)


def test_batchnorm2d_eval_weight_gradient_matches_torch():
    m, t = make_pair(3)
    m.running_mean.data[...] = t.running_mean.data.numpy()[...] = [5.0, -1.0, 0.5]
    m.eval(), t.eval()
    check_module_parity(m, t, 5 + rng(9).standard_normal((2, 3, 4, 4)))


def test_batchnorm2d_float32_close_to_torch_with_large_mean():
    """float32 statistics stay accurate when the mean is far from zero (two-pass variance)."""
    x = (100 + rng(11).standard_normal((16, 8, 12, 12))).astype(np.float32)
    g = rng(12).standard_normal(x.shape).astype(np.float32)
    m, t = BatchNorm2d(8), torch.nn.BatchNorm2d(8)
    dx, tx = db.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = m(dx), t(tx)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    y.backward(db.tensor(g)), ty.backward(torch.tensor(g))
    np.testing.assert_allclose(dx.grad, tx.grad.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(m.weight.grad, t.weight.grad.numpy(), rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(m.running_var.numpy(), t.running_var.numpy(), rtol=1e-5)
    np.testing.assert_allclose(m.running_mean.numpy(), t.running_mean.numpy(), rtol=1e-5)


def test_batchnorm2d_repr_and_errors():
    m = BatchNorm2d(4)
    assert repr(m).startswith("BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True")
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected input \(N, C, H, W\), got shape \(2, 4\)"):
        m(db.randn(2, 4))
    with pytest.raises(ValueError, match=r"input has 3 channels \(shape \(2, 3, 4, 4\)\), expected 4"):
        m(db.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        m(db.randn(1, 4, 1, 1))


def test_batchnorm2d_retain_graph_backward_twice():
    m = BatchNorm2d(2).double()
    x = db.tensor(rng(13).standard_normal((3, 2, 2, 2)), requires_grad=True)
    y = (m(x) * db.tensor(rng(14).standard_normal((3, 2, 2, 2)))).sum()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-12)


def test_batchnorm2d_split_over_threads_gives_the_same_result(monkeypatch):
    """Training-mode batch norm splits the channels over the copy threads (uneven parts)."""
    im2col_mod = importlib.import_module("deepbasic.ops.im2col")
    x = (3 + rng(15).standard_normal((4, 7, 5, 6))).astype(np.float32)
    g = rng(16).standard_normal(x.shape).astype(np.float32)
    results = []
    for threads in (1, 3):
        monkeypatch.setattr(im2col_mod, "PARALLEL_MIN_ELEMENTS", 0)
        im2col_mod.set_copy_threads(threads)
        try:
            m = BatchNorm2d(7)
            m.weight.data[...] = rng(17).standard_normal(7)
            xt = db.tensor(x, requires_grad=True)
            y = m(xt)
            y.backward(db.tensor(g))
        finally:
            im2col_mod.set_copy_threads(None)
        results.append([y.numpy(), xt.grad, m.weight.grad, m.bias.grad, m.running_var.numpy()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# ----- LocalResponseNorm --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 7, 3, 4), (2, 6, 5), (1, 3, 2, 2, 2)])
@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 1.0), (2, 0.5, 0.75, 1.0),
                                               (3, 1.0, 1.5, 2.0), (1, 0.3, 0.5, 0.5),
                                               (9, 2.0, 0.75, 1.0)])
def test_local_response_norm_parity(shape, size, alpha, beta, k):
    check_op(lambda x: local_response_norm(x, size, alpha, beta, k),
             lambda x: TF.local_response_norm(x, size, alpha, beta, k), [shape])


def test_local_response_norm_module_and_float32():
    m, t = LocalResponseNorm(5, alpha=1e-3, beta=0.75, k=2.0), torch.nn.LocalResponseNorm(5, 1e-3, 0.75, 2.0)
    check_op(m, t, [(2, 8, 3, 3)])
    assert repr(m) == repr(t)
    x = 10 * rng(3).standard_normal((2, 6, 4, 4)).astype(np.float32)
    y = m(db.tensor(x))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), t(torch.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)


def test_local_response_norm_errors():
    with pytest.raises(ValueError, match=r"3 or more dims \(N, C, \.\.\.\), got shape \(4, 5\)"):
        local_response_norm(db.randn(4, 5), 3)
    with pytest.raises(ValueError, match="size must be >= 1, got 0"):
        local_response_norm(db.randn(1, 4, 2, 2), 0)


# ----- Dropout2d ----------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.25, 0.5])
def test_dropout2d_module_zeroes_whole_channels_and_scales(p):
    db.manual_seed(4)
    m = Dropout2d(p)
    x = db.tensor(rng(3).uniform(1, 2, (30, 40, 3, 5)), requires_grad=True)
    y = m(x)
    yv, xv = y.numpy(), x.numpy()
    zero = (yv == 0).reshape(30, 40, -1)
    assert np.all(zero.all(axis=2) | (~zero).all(axis=2)), "a channel was partly dropped"
    kept = ~zero[:, :, 0]
    assert abs(kept.mean() - (1 - p)) < 0.06
    np.testing.assert_allclose(yv[kept], xv[kept] / (1 - p), rtol=1e-12)
    g = rng(5).standard_normal(x.shape)
    y.backward(db.tensor(g))
    np.testing.assert_allclose(x.grad, g * kept[:, :, None, None] / (1 - p), rtol=1e-12)


def test_dropout2d_module_seeded_eval_and_errors():
    x = db.randn(4, 6, 2, 2)
    db.manual_seed(9)
    a = Dropout2d(0.5)(x).numpy()
    db.manual_seed(9)
    np.testing.assert_array_equal(Dropout2d(0.5)(x).numpy(), a)
    m = Dropout2d(0.5).eval()
    assert m(x) is x
    assert repr(m).startswith("Dropout2d(p=0.5")
    with pytest.raises(ValueError, match=r"Dropout2d: p must be in \[0, 1\], got 1.5"):
        Dropout2d(1.5)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        Dropout2d(0.5)(db.randn(3, 4))
    assert F.dropout2d(x, 0.0) is x
