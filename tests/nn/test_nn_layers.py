"""Linear, the activation modules and LayerNorm: gradcheck and PyTorch parity in float64."""
import numpy as np
import pytest
import torch

import deepbasic as db
from deepbasic import nn
from deepbasic.nn import functional as F

from _parity import assert_close, check_module_parity, copy_params_to_torch, gradcheck_module


def rng(seed=0):
    return np.random.default_rng(seed)


# ----- Linear ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape,fin,fout", [((5, 3), 3, 4), ((2, 3, 4), 4, 2), ((1, 7), 7, 1), ((6,), 6, 3)])
def test_linear_parity(bias, shape, fin, fout):
    m = nn.Linear(fin, fout, bias=bias).double()
    t = torch.nn.Linear(fin, fout, bias=bias)
    copy_params_to_torch(m, t)
    check_module_parity(m, t, rng(1).standard_normal(shape))


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(bias):
    m = nn.Linear(3, 2, bias=bias).double()
    gradcheck_module(m, rng(2).standard_normal((2, 2, 3)))


def test_linear_params_and_default_init():
    db.manual_seed(0)
    m = nn.Linear(400, 300)
    assert m.weight.shape == (300, 400) and m.bias.shape == (300,)
    assert m.weight.dtype == np.float32 and m.weight.requires_grad
    bound = 1 / np.sqrt(400)
    w = m.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.02 * bound
    assert np.abs(m.bias.numpy()).max() <= bound
    no_bias = nn.Linear(4, 2, bias=False)
    assert no_bias.bias is None
    assert [n for n, _ in no_bias.named_parameters()] == ["weight"]


def test_linear_wrong_input_size_names_expected_and_got():
    m = nn.Linear(3, 2)
    with pytest.raises(ValueError) as e:
        m(db.randn(4, 5))
    assert "3" in str(e.value) and "(4, 5)" in str(e.value)


def test_linear_bad_sizes():
    with pytest.raises(ValueError):
        nn.Linear(0, 3)


# ----- activations ----------------------------------------------------------------------------------
ACTIVATIONS = [
    (lambda: nn.ReLU(), lambda: torch.nn.ReLU()),
    (lambda: nn.LeakyReLU(), lambda: torch.nn.LeakyReLU()),
    (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    (lambda: nn.ELU(), lambda: torch.nn.ELU()),
    (lambda: nn.ELU(0.5), lambda: torch.nn.ELU(0.5)),
    (lambda: nn.Softplus(), lambda: torch.nn.Softplus()),
    (lambda: nn.Softplus(beta=2.0, threshold=3.0), lambda: torch.nn.Softplus(beta=2.0, threshold=3.0)),
    (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid()),
    (lambda: nn.Tanh(), lambda: torch.nn.Tanh()),
    (lambda: nn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1)),
    (lambda: nn.Softmax(dim=-1), lambda: torch.nn.Softmax(dim=-1)),
    (lambda: nn.Softmax(dim=0), lambda: torch.nn.Softmax(dim=0)),
    (lambda: nn.LogSoftmax(dim=1), lambda: torch.nn.LogSoftmax(dim=1)),
    (lambda: nn.LogSoftmax(dim=-1), lambda: torch.nn.LogSoftmax(dim=-1)),
]


def _away_from_kinks(x):
    """Move values off 0 so that finite differences do not straddle ReLU's kink."""
    return np.where(np.abs(x) < 1e-3, 0.5, x)


@pytest.mark.parametrize("make", ACTIVATIONS, ids=lambda m: repr(m[0]()))
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4)])
def test_activation_parity(make, shape):
    x = 3 * rng(3).standard_normal(shape)
    check_module_parity(make[0](), make[1](), x)


@pytest.mark.parametrize("make", ACTIVATIONS, ids=lambda m: repr(m[0]()))
def test_activation_gradcheck(make):
    x = _away_from_kinks(2 * rng(4).standard_normal((3, 4)))
    gradcheck_module(make[0](), x)


def test_activations_extreme_values_are_finite():
    x = db.tensor(np.array([[-1000.0, -30.0, 0.0, 30.0, 1000.0]]))
    tx = torch.tensor(x.numpy())
    for m, t in [(nn.Sigmoid(), torch.nn.Sigmoid()), (nn.Softplus(), torch.nn.Softplus()),
                 (nn.ELU(), torch.nn.ELU()), (nn.Softmax(1), torch.nn.Softmax(1)),
                 (nn.LogSoftmax(1), torch.nn.LogSoftmax(1))]:
        assert_close(m(x), t(tx), what=repr(m))


def test_activation_reprs_match_torch():
    for m, t in [(nn.ReLU(), torch.nn.ReLU()), (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
                 (nn.ELU(), torch.nn.ELU()), (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
                 (nn.LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1)), (nn.Sigmoid(), torch.nn.Sigmoid()),
                 (nn.Tanh(), torch.nn.Tanh()), (nn.Softplus(), torch.nn.Softplus())]:
        assert repr(m) == repr(t)


# ----- LayerNorm ------------------------------------------------------------------------------------
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape,normalized", [((4, 6), (6,)), ((2, 3, 5), (5,)), ((2, 3, 4), (3, 4)),
                                              ((3, 2, 2, 3), (2, 3))])
def test_layer_norm_parity(affine, shape, normalized):
    m = nn.LayerNorm(normalized, elementwise_affine=affine).double()
    t = torch.nn.LayerNorm(normalized, elementwise_affine=affine)
    if affine:  # non-trivial affine parameters
        m.weight.data[...] = rng(5).standard_normal(normalized)
        m.bias.data[...] = rng(6).standard_normal(normalized)
    copy_params_to_torch(m, t)
    x = 2 + 3 * rng(7).standard_normal(shape)
    check_module_parity(m, t, x)
    m.eval(), t.eval()
    check_module_parity(m, t, x)  # no running state: eval is identical


@pytest.mark.parametrize("normalized", [(4,), (3, 4)])
def test_layer_norm_gradcheck(normalized):
    m = nn.LayerNorm(normalized, dtype=np.float64)
    m.weight.data[...] = rng(8).standard_normal(normalized)
    m.bias.data[...] = rng(9).standard_normal(normalized)
    gradcheck_module(m, rng(10).standard_normal((2, 3, 4)))


def test_layer_norm_int_shape_and_functional():
    m = nn.LayerNorm(5)
    assert m.normalized_shape == (5,)
    x = rng(11).standard_normal((3, 5))
    assert_close(F.layer_norm(db.tensor(x), (5,)),
                 torch.nn.functional.layer_norm(torch.tensor(x), (5,)))
    with pytest.raises(ValueError, match="normalized_shape"):
        m(db.randn(3, 4))


def test_layer_norm_repr_matches_torch_prefix():
    assert repr(nn.LayerNorm(4)) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True)"
    assert repr(torch.nn.LayerNorm(4)).startswith("LayerNorm((4,), eps=1e-05, elementwise_affine=True")


# ----- dtype -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: nn.Linear(4, 3), nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Softplus,
                                  nn.Sigmoid, nn.Tanh, lambda: nn.Softmax(1), lambda: nn.LogSoftmax(1),
                                  lambda: nn.Dropout(0.3), lambda: nn.BatchNorm1d(4),
                                  lambda: nn.LayerNorm(4)])
@pytest.mark.parametrize("training", [True, False])
def test_float32_stays_float32(make, training):
    m = make().train(training)
    x = db.randn(6, 4, requires_grad=True)
    y = m(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in m.parameters())


def test_float32_parity_with_torch_default_layers():
    db.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.LayerNorm(8), nn.Linear(8, 2))
    t = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Tanh(),
                            torch.nn.LayerNorm(8), torch.nn.Linear(8, 2))
    t.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    x = rng(12).standard_normal((5, 4)).astype(np.float32)
    check_module_parity(m, t, x, rtol=1e-4, atol=1e-5)
