"""BatchNorm1d and F.batch_norm against PyTorch: train / eval, running statistics, options."""
import numpy as np
import pytest
import torch

import deepbasic as db
from deepbasic import nn
from deepbasic.nn import functional as F

from _parity import assert_close, check_module_parity, copy_params_to_torch, gradcheck_module


def rng(seed=0):
    return np.random.default_rng(seed)


def make_pair(c, **kw):
    m = nn.BatchNorm1d(c, **kw).double()
    t = torch.nn.BatchNorm1d(c, **kw).double()
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


@pytest.mark.parametrize("shape", [(8, 3), (5, 4, 6), (2, 3, 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm1d_train_parity(shape, affine):
    m, t = make_pair(shape[1], affine=affine)
    check_module_parity(m, t, 1.5 + 2 * rng(3).standard_normal(shape))
    assert_same_state(m, t)  # running stats updated the same way


@pytest.mark.parametrize("shape", [(8, 3), (5, 4, 6)])
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_batchnorm1d_running_stats_over_steps_then_eval(shape, momentum):
    m, t = make_pair(shape[1], momentum=momentum)
    for step in range(4):
        x = (step + 1) * rng(10 + step).standard_normal(shape) + step
        check_module_parity(m, t, x, seed=step)
        assert_same_state(m, t)
    assert int(m.num_batches_tracked.item()) == 4
    m.eval(), t.eval()
    check_module_parity(m, t, rng(20).standard_normal(shape))  # uses the running statistics
    assert_same_state(m, t)  # evaluation leaves them alone
    assert int(m.num_batches_tracked.item()) == 4


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm1d_no_running_stats(train):
    m, t = make_pair(3, track_running_stats=False)
    assert m.running_mean is None and m.running_var is None and m.num_batches_tracked is None
    assert list(m.state_dict()) == list(t.state_dict()) == ["weight", "bias"]
    m.train(train), t.train(train)
    check_module_parity(m, t, rng(4).standard_normal((6, 3, 2)))  # always batch statistics


def test_batchnorm1d_eval_with_loaded_running_stats():
    m, t = make_pair(4)
    t.running_mean.data = torch.tensor(rng(5).standard_normal(4))
    t.running_var.data = torch.tensor(rng(6).uniform(0.5, 2.0, 4))
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    m.eval(), t.eval()
    check_module_parity(m, t, rng(7).standard_normal((5, 4)))


def test_batchnorm1d_gradcheck_train_and_eval():
    m, _ = make_pair(3)
    x = rng(8).standard_normal((4, 3, 2))
    gradcheck_module(m, x)
    m.eval()
    m.running_var.data[...] = [0.5, 1.5, 2.0]
    gradcheck_module(m, x)


def test_batchnorm1d_init_and_repr():
    m = nn.BatchNorm1d(5)
    assert np.all(m.weight.numpy() == 1) and np.all(m.bias.numpy() == 0)
    assert np.all(m.running_mean.numpy() == 0) and np.all(m.running_var.numpy() == 1)
    assert m.num_batches_tracked.dtype == np.int64
    assert repr(m).startswith("BatchNorm1d(5, eps=1e-05, momentum=0.1, affine=True")
    assert [n for n, _ in m.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]


def test_batchnorm1d_wrong_channels_and_dims():
    m = nn.BatchNorm1d(3)
    with pytest.raises(ValueError) as e:
        m(db.randn(4, 5))
    assert "5" in str(e.value) and "3" in str(e.value)
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        m(db.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="more than 1 value"):
        m(db.randn(1, 3))


# ----- functional batch_norm on (N, C, H, W) -----------------------------------------------------
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_functional_batch_norm_4d(training, affine):
    r = rng(30)
    x = 3 * r.standard_normal((3, 4, 5, 2)) + 1
    w, b = r.standard_normal(4), r.standard_normal(4)
    rm, rv = r.standard_normal(4), r.uniform(0.5, 2, 4)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    dx = db.tensor(x, requires_grad=True)
    dw, dbias = db.tensor(w, requires_grad=True), db.tensor(b, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    tw, tb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    y = F.batch_norm(dx, rm, rv, dw if affine else None, dbias if affine else None,
                     training=training, momentum=0.2, eps=1e-3)
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw if affine else None, tb if affine else None,
                                        training=training, momentum=0.2, eps=1e-3)
    assert_close(y, ty)
    g = r.standard_normal(y.shape)
    y.backward(db.tensor(g)), ty.backward(torch.tensor(g))
    assert_close(dx.grad, tx.grad, what="x grad")
    if affine:
        assert_close(dw.grad, tw.grad, what="weight grad")
        assert_close(dbias.grad, tb.grad, what="bias grad")
    assert_close(rm, trm, what="running_mean")  # updated in place when training
    assert_close(rv, trv, what="running_var")


def test_functional_batch_norm_4d_gradcheck():
    r = rng(31)
    x = db.tensor(r.standard_normal((2, 3, 2, 2)), requires_grad=True)
    w = db.tensor(r.standard_normal(3), requires_grad=True)
    b = db.tensor(r.standard_normal(3), requires_grad=True)
    assert db.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [x, w, b])


def test_functional_batch_norm_errors():
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(db.randn(4, 3), None, None, training=False)
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(db.randn(4, 3), np.zeros(2), np.ones(2), training=True)
