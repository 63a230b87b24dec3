"""Dropout and dropout2d: mask statistics, scaling, gradient, evaluation mode, edge p."""
import numpy as np
import pytest

import deepbasic as db
from deepbasic import nn
from deepbasic.nn import functional as F


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_train_mask_statistics_and_gradient(p):
    db.manual_seed(0)
    x = db.tensor(np.random.default_rng(123).uniform(1, 2, (200, 500)), requires_grad=True)
    m = nn.Dropout(p)
    assert m.training
    y = m(x)
    yv, xv = y.numpy(), x.numpy()
    kept = yv != 0
    assert abs(kept.mean() - (1 - p)) < 0.01
    np.testing.assert_allclose(yv[kept], xv[kept] / (1 - p), rtol=1e-12)
    g = np.random.default_rng(1).standard_normal(x.shape)
    y.backward(db.tensor(g))
    np.testing.assert_allclose(x.grad, g * kept / (1 - p), rtol=1e-12)
    # the expected activation is unchanged
    assert abs(yv.mean() / xv.mean() - 1) < 0.02


def test_dropout_masks_differ_between_calls_and_reproduce_under_seed():
    x = db.ones(50, 50)
    db.manual_seed(3)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()
    db.manual_seed(3)
    c = F.dropout(x, 0.5).numpy()
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_dropout_eval_is_identity():
    x = db.randn(10, 10, requires_grad=True)
    m = nn.Dropout(0.7).eval()
    y = m(x)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((10, 10)))
    assert F.dropout(x, 0.7, training=False) is x


def test_dropout_p0_and_p1():
    x = db.randn(20, 30, requires_grad=True)
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    y = nn.Dropout(1.0)(x)
    assert np.all(y.numpy() == 0) and np.all(np.isfinite(y.numpy()))
    y.sum().backward()
    assert np.all(x.grad == 0)


def test_dropout_gradcheck_with_fixed_mask():
    x = db.tensor(np.random.default_rng(2).standard_normal((4, 5)), requires_grad=True)

    def fn(x):
        db.manual_seed(7)  # same mask at every evaluation
        return F.dropout(x, 0.4)

    assert db.gradcheck(fn, [x])


def test_dropout_invalid_p():
    with pytest.raises(ValueError):
        nn.Dropout(1.5)
    with pytest.raises(ValueError):
        F.dropout(db.randn(3), -0.1)


def test_dropout_keeps_dtype():
    assert nn.Dropout(0.5)(db.randn(4, 4)).dtype == np.float32


def test_dropout_repr():
    assert repr(nn.Dropout(0.2)).startswith("Dropout(p=0.2")


@pytest.mark.parametrize("p", [0.3, 0.6])
def test_dropout2d_zeroes_whole_channels(p):
    db.manual_seed(1)
    x = db.tensor(np.random.default_rng(3).uniform(1, 2, (40, 50, 3, 4)), requires_grad=True)
    y = F.dropout2d(x, p)
    yv, xv = y.numpy(), x.numpy()
    zero = (yv == 0).reshape(40, 50, -1)
    assert np.all(zero.all(axis=2) | (~zero).all(axis=2)), "a channel was partly dropped"
    kept = ~zero[:, :, 0]
    assert abs(kept.mean() - (1 - p)) < 0.05
    np.testing.assert_allclose(yv[kept], xv[kept] / (1 - p), rtol=1e-12)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.broadcast_to(kept[:, :, None, None] / (1 - p), x.shape))


def test_dropout2d_eval_edges_and_errors():
    x = db.randn(2, 3, 4, 4)
    assert F.dropout2d(x, 0.5, training=False) is x
    assert np.all(F.dropout2d(x, 1.0).numpy() == 0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        F.dropout2d(db.randn(3, 4), 0.5)
