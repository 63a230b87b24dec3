"""clip_grad_norm_ and clip_grad_value_ against torch.nn.utils."""
import math

import numpy as np
import pytest
import torch

from deepbasic.nn import Parameter
from deepbasic.optim import clip_grad_norm_, clip_grad_value_


def _pair(seed=0, with_none=True):
    r = np.random.default_rng(seed)
    grads = [r.standard_normal(s) for s in [(4, 5), (5,), (5, 3), (3,)]]
    ps = [Parameter(np.zeros_like(g)) for g in grads]
    tps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(ps, tps, grads):
        p.grad, tp.grad = g.copy(), torch.tensor(g)
    if with_none:  # a parameter without a gradient is ignored
        ps.append(Parameter(np.ones(2)))
        tps.append(torch.ones(2, dtype=torch.float64, requires_grad=True))
    return ps, tps


@pytest.mark.parametrize("norm_type", [2.0, 1, float("inf"), 3.0, 0.5, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ps, tps = _pair()
    total = clip_grad_norm_(ps, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(ttotal.item(), rel=1e-12)
    for p, tp in zip(ps, tps):
        if tp.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12, atol=1e-15)
    if max_norm < total:
        assert clip_grad_norm_(ps, 1e9, norm_type) == pytest.approx(max_norm, rel=1e-5)


def test_clip_grad_norm_single_tensor_generator_and_float32():
    p = Parameter(np.array([3.0, 4.0], dtype=np.float32))
    p.grad = np.array([3.0, 4.0], dtype=np.float32)
    assert clip_grad_norm_(p, 1.0) == pytest.approx(5.0)
    assert p.grad.dtype == np.float32
    np.testing.assert_allclose(p.grad, [0.6, 0.8], rtol=1e-5)
    ps, _ = _pair()
    assert clip_grad_norm_((q for q in ps), 1.0) > 1.0
    assert clip_grad_norm_([Parameter(np.ones(2))], 1.0) == 0.0  # no gradients at all


def test_clip_grad_norm_nonfinite():
    ps, tps = _pair(with_none=False)
    ps[0].grad[0, 0] = tps[0].grad[0, 0] = math.inf
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is inf"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    with np.errstate(invalid="ignore"):  # inf * 0
        total = clip_grad_norm_(ps, 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, 1.0)
    assert total == ttotal.item() == math.inf
    for p, tp in zip(ps, tps):
        np.testing.assert_array_equal(p.grad, tp.grad.numpy())  # nan/0 as in torch


@pytest.mark.parametrize("clip", [0.1, 0.8, 10.0])
def test_clip_grad_value_matches_torch(clip):
    ps, tps = _pair()
    assert clip_grad_value_(ps, clip) is None
    torch.nn.utils.clip_grad_value_(tps, clip)
    for p, tp in zip(ps, tps):
        if tp.grad is not None:
            np.testing.assert_array_equal(p.grad, tp.grad.numpy())
    with pytest.raises(ValueError, match="clip_value must be >= 0, got -1"):
        clip_grad_value_(ps, -1)
    with pytest.raises(TypeError, match="clip_value must be a number"):
        clip_grad_value_(ps, "1")
