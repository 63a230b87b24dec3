"""deepbasic.init: statistics of every initializer, fans, gains, reproducibility."""
import math

import numpy as np
import pytest
import torch

import deepbasic as db
from deepbasic import init, nn

SHAPE = (512, 1024)  # fan_in 1024, fan_out 512


def big(shape=SHAPE, dtype=np.float32):
    return db.zeros(*shape, dtype=dtype)


@pytest.mark.parametrize("shape,fans", [((3, 5), (5, 3)), ((16, 8, 3, 3), (72, 144)),
                                        ((4, 2, 5), (10, 20)), ((7, 1, 1, 1), (1, 7))])
def test_fan_in_and_fan_out(shape, fans):
    assert init.fan_in_and_fan_out(db.zeros(*shape)) == fans
    assert fans == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.fan_in_and_fan_out(db.zeros(5))


@pytest.mark.parametrize("name,param", [("linear", None), ("sigmoid", None), ("conv_transpose2d", None),
                                        ("conv2d", None), ("tanh", None), ("relu", None),
                                        ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0),
                                        ("selu", None)])
def test_calculate_gain_matches_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


def test_calculate_gain_unknown():
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        init.calculate_gain("swish")


def _check_uniform(w, bound):
    w = w.numpy().astype(np.float64)
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.999 * bound
    assert abs(w.mean()) < 0.01 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)


def _check_normal(w, std, mean=0.0):
    w = w.numpy().astype(np.float64)
    assert abs(w.mean() - mean) < 0.01 * std + 1e-12
    assert w.std() == pytest.approx(std, rel=0.01)


def test_uniform_and_normal():
    db.manual_seed(0)
    w = init.uniform_(big(), -0.3, 0.7)
    v = w.numpy()
    assert v.min() >= -0.3 and v.max() < 0.7 and abs(v.mean() - 0.2) < 0.005
    _check_normal(init.normal_(big(), 0.5, 0.02), 0.02, mean=0.5)
    _check_normal(init.gaussian_(big(), std=0.01), 0.01)
    assert init.uniform_(big()).numpy().min() >= 0


@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier(gain):
    db.manual_seed(1)
    _check_uniform(init.xavier_uniform_(big(), gain=gain), gain * math.sqrt(6 / (1024 + 512)))
    _check_normal(init.xavier_normal_(big(), gain=gain), gain * math.sqrt(2 / (1024 + 512)))


@pytest.mark.parametrize("mode,fan", [("fan_in", 1024), ("fan_out", 512)])
@pytest.mark.parametrize("nonlinearity,a,gain", [("relu", 0, math.sqrt(2)),
                                                 ("leaky_relu", 0, math.sqrt(2)),
                                                 ("leaky_relu", 0.2, math.sqrt(2 / 1.04)),
                                                 ("linear", 0, 1.0)])
def test_kaiming(mode, fan, nonlinearity, a, gain):
    db.manual_seed(2)
    std = gain / math.sqrt(fan)
    _check_uniform(init.kaiming_uniform_(big(), a=a, mode=mode, nonlinearity=nonlinearity),
                   math.sqrt(3) * std)
    _check_normal(init.kaiming_normal_(big(), a=a, mode=mode, nonlinearity=nonlinearity), std)


def test_kaiming_defaults_are_he_for_relu():
    db.manual_seed(3)
    _check_normal(init.kaiming_normal_(big()), math.sqrt(2 / 1024))


def test_kaiming_4d_weight_uses_receptive_field():
    db.manual_seed(4)
    w = init.kaiming_normal_(db.zeros(128, 64, 3, 3), nonlinearity="relu")  # fan_in 576
    _check_normal(w, math.sqrt(2 / 576))
    w = init.xavier_uniform_(db.zeros(128, 64, 3, 3))
    _check_uniform(w, math.sqrt(6 / (576 + 1152)))


def test_kaiming_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(big((4, 4)), mode="fan_avg")


def test_constant_zeros_ones():
    assert np.all(init.constant_(big((3, 4)), 0.25).numpy() == 0.25)
    assert np.all(init.zeros_(db.ones(3)).numpy() == 0)
    assert np.all(init.ones_(db.zeros(3)).numpy() == 1)


def test_init_is_in_place_keeps_dtype_and_returns_tensor():
    for dtype in (np.float32, np.float64):
        t = db.zeros(8, 4, dtype=dtype)
        arr = t.data
        assert init.kaiming_uniform_(t) is t
        assert t.data is arr and t.dtype == dtype


def test_init_parameter_of_a_layer_and_no_graph():
    m = nn.Linear(64, 32)
    init.xavier_normal_(m.weight)
    init.zeros_(m.bias)
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad and m.weight.is_leaf
    assert m.weight.grad_fn is None and np.all(m.bias.numpy() == 0)


def test_reproducible_under_manual_seed():
    def draw():
        db.manual_seed(123)
        return (init.kaiming_normal_(big((16, 8))).numpy(), init.xavier_uniform_(big((16, 8))).numpy(),
                nn.Linear(8, 4).weight.numpy())

    a, b = draw(), draw()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    db.manual_seed(124)
    assert not np.array_equal(init.kaiming_normal_(big((16, 8))).numpy(), a[0])
