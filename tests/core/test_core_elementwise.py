"""Elementwise ops against PyTorch (float64) and gradcheck: arithmetic with broadcasting and
Python scalars on either side, pointwise functions, activations, clamp, maximum/minimum, where,
comparisons."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import deepbasic as db
from deepbasic import ops
from helpers import bools, check_op, const, floats

BROADCAST_PAIRS = [
    ((2, 3), (2, 3)),
    ((3, 1, 4), (5, 4)),
    ((4,), (2, 3, 4)),
    ((2, 3, 4), (4,)),
    ((2, 1), (1, 3)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((1, 3, 1), (2, 1, 4)),
]

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("sa,sb", BROADCAST_PAIRS)
def test_binary_broadcast(name, sa, sb):
    fn = BINARY[name]
    # division: keep the denominator away from 0
    check_op(fn, fn, [sa, floats(sb, 0.5, 2.0) if name == "div" else sb])


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("scalar", [2, 2.5, -3])
def test_binary_python_scalar_both_sides(name, scalar):
    fn = BINARY[name]
    check_op(lambda x: fn(x, scalar), lambda x: fn(x, scalar), [(2, 3)])
    check_op(lambda x: fn(scalar, x), lambda x: fn(scalar, x), [floats((2, 3), 0.5, 2.0)])


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_one_side_constant(name):
    fn = BINARY[name]
    check_op(fn, fn, [(3, 1), floats((1, 4), 0.5, 2.0, requires_grad=False)])
    check_op(fn, fn, [floats((3, 1), requires_grad=False), floats((1, 4), 0.5, 2.0)])


def test_same_tensor_both_operands():
    check_op(lambda x: x * x + x / x - x, lambda x: x * x + x / x - x, [(3, 4)], positive=True)


def test_neg():
    check_op(lambda x: -x, lambda x: -x, [(2, 3, 4)])


@pytest.mark.parametrize("p", [2, 3, 0.5, -1, -1.5, 1, 2.0])
def test_pow_python_exponent(p):
    check_op(lambda x: x ** p, lambda x: x ** p, [(3, 4)], positive=True)


def test_pow_integer_exponent_negative_base():
    check_op(lambda x: x ** 3, lambda x: x ** 3, [(3, 4)])
    check_op(lambda x: x ** 2, lambda x: x ** 2, [(3, 4)])


def test_pow_zero_exponent_at_zero():
    # d/dx x^0 = 0 everywhere, also at x = 0 (torch gives 0, not 0 * 0^-1 = nan)
    x = np.array([0.0, 1.5, -2.0])
    check_op(lambda x: x ** 0, lambda x: x ** 0, [x], gradcheck=False)


def test_rpow_scalar_base():
    check_op(lambda x: 2 ** x, lambda x: 2 ** x, [(2, 3)])
    check_op(lambda x: 0.5 ** x, lambda x: 0.5 ** x, [(2, 3)])


@pytest.mark.parametrize("sa,sb", [((2, 3), (2, 3)), ((3, 1, 4), (5, 4)), ((4,), (2, 3, 4))])
def test_pow_tensor_tensor(sa, sb):
    check_op(lambda a, b: a ** b, lambda a, b: a ** b, [floats(sa, 0.5, 2.0), sb])


def test_pow_tensor_exponent_constant_base_tensor():
    check_op(lambda a, b: a ** b, lambda a, b: a ** b,
             [floats((2, 3), 0.5, 2.0, requires_grad=False), (2, 3)])


UNARY = [
    ("exp", lambda x: x.exp(), torch.exp, False),
    ("log", lambda x: x.log(), torch.log, True),
    ("sqrt", lambda x: x.sqrt(), torch.sqrt, True),
    ("abs", lambda x: x.abs(), torch.abs, False),
    ("tanh", lambda x: x.tanh(), torch.tanh, False),
    ("sigmoid", lambda x: x.sigmoid(), torch.sigmoid, False),
    ("relu", lambda x: x.relu(), torch.relu, False),
    ("ops.LeakyReLU", lambda x: ops.LeakyReLU.apply(x), TF.leaky_relu, False),
    ("ops.LeakyReLU slope", lambda x: ops.LeakyReLU.apply(x, negative_slope=0.2),
     lambda x: TF.leaky_relu(x, 0.2), False),
    ("ops.ELU", lambda x: ops.ELU.apply(x), TF.elu, False),
    ("ops.ELU alpha", lambda x: ops.ELU.apply(x, alpha=0.7), lambda x: TF.elu(x, 0.7), False),
    ("ops.Softplus", lambda x: ops.Softplus.apply(x), TF.softplus, False),
    ("ops.Softplus beta", lambda x: ops.Softplus.apply(x, beta=2.0, threshold=1.0),
     lambda x: TF.softplus(x, beta=2.0, threshold=1.0), False),
]


@pytest.mark.parametrize("name,fn,tfn,positive", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("shape", [(2, 3), (), (2, 1, 3)])
def test_unary(name, fn, tfn, positive, shape):
    check_op(fn, tfn, [shape], positive=positive)


def test_unary_wide_range_is_stable():
    """Large |x|: sigmoid, softplus and elu neither overflow nor lose the tails."""
    x = np.array([-800.0, -50.0, -30.0, -1e-3, 0.5, 30.0, 50.0, 800.0])
    check_op(lambda x: x.sigmoid(), torch.sigmoid, [x], gradcheck=False)
    check_op(lambda x: ops.Softplus.apply(x), TF.softplus, [x], gradcheck=False)
    check_op(lambda x: ops.ELU.apply(x), TF.elu, [x], gradcheck=False)
    check_op(lambda x: x.tanh(), torch.tanh, [x], gradcheck=False)


def test_kinks_match_torch_at_zero():
    """abs and relu use gradient 0 at 0, like torch."""
    x = np.array([-1.0, 0.0, 2.0])
    check_op(lambda x: x.abs(), torch.abs, [x], gradcheck=False)
    check_op(lambda x: x.relu(), torch.relu, [x], gradcheck=False)
    check_op(lambda x: ops.LeakyReLU.apply(x, negative_slope=0.1),
             lambda x: TF.leaky_relu(x, 0.1), [x], gradcheck=False)


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (None, 0.3), (-0.2, None), (0.0, 0.0)])
def test_clamp(lo, hi):
    check_op(lambda x: x.clamp(lo, hi), lambda x: x.clamp(lo, hi), [(3, 4)])
    check_op(lambda x: x.clip(min=lo, max=hi), lambda x: x.clip(min=lo, max=hi), [(3, 4)])
    check_op(lambda x: ops.clamp(x, lo, hi), lambda x: torch.clamp(x, lo, hi), [(3, 4)])


def test_clamp_at_the_bounds_passes_gradient_like_torch():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    check_op(lambda x: x.clamp(-0.5, 0.5), lambda x: x.clamp(-0.5, 0.5), [x], gradcheck=False)


def test_clamp_without_bounds_raises():
    with pytest.raises(ValueError, match="at least one of min and max"):
        db.tensor([1.0]).clamp()


@pytest.mark.parametrize("sa,sb", [((2, 3), (2, 3)), ((3, 1, 4), (5, 4)), ((4,), (2, 3, 4))])
def test_maximum_minimum(sa, sb):
    check_op(lambda a, b: a.maximum(b), torch.maximum, [sa, sb])
    check_op(lambda a, b: a.minimum(b), torch.minimum, [sa, sb])


def test_maximum_minimum_ties_split_gradient_like_torch():
    a = np.array([1.0, 2.0, 3.0, -1.0])
    b = np.array([1.0, 0.0, 3.0, 5.0])
    check_op(lambda a, b: a.maximum(b), torch.maximum, [a, b], gradcheck=False)
    check_op(lambda a, b: a.minimum(b), torch.minimum, [a, b], gradcheck=False)


def test_maximum_with_python_scalar():
    check_op(lambda x: x.maximum(0.25), lambda x: torch.clamp(x, min=0.25), [(3, 4)])


@pytest.mark.parametrize("sc,sa,sb", [((2, 3), (2, 3), (2, 3)), ((3, 1), (1, 4), (3, 4)),
                                      ((2, 3, 4), (4,), (3, 1))])
def test_where(sc, sa, sb):
    check_op(lambda c, a, b: db.where(c, a, b), torch.where, [bools(sc), sa, sb])
    check_op(lambda c, a, b: ops.where(c, a, b), torch.where, [bools(sc), sa, sb])


@pytest.mark.parametrize("value", [0.5, -2.0, 3])
def test_where_with_python_scalar_branches(value):
    """A scalar branch keeps its value (not cast to the condition's bool dtype)."""
    check_op(lambda x: db.where(x > 0, x, value), lambda x: torch.where(x > 0, x, value), [(3, 4)])
    check_op(lambda x: db.where(x > 0, value, x), lambda x: torch.where(x > 0, value, x), [(3, 4)])


def test_where_condition_as_numpy_array():
    cond = np.array([[True, False, True]])
    check_op(lambda a, b: db.where(cond, a, b),
             lambda a, b: torch.where(torch.tensor(cond), a, b), [(2, 3), (2, 3)])


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
@pytest.mark.parametrize("other", ["tensor", "scalar", "broadcast"])
def test_comparisons(op, other):
    fn = {
        "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
    }[op]
    a = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 2.0]])
    b = {"tensor": np.array([[1.0, 1.0, 4.0], [0.0, 0.0, 2.0]]), "scalar": const(2.0),
         "broadcast": np.array([2.0, -1.0, 3.0])}[other]
    res = check_op(fn, fn, [a, b])
    out = res.db_out[0]
    assert out.dtype == np.bool_ and not out.requires_grad and out.grad_fn is None


def test_eq_method():
    x = db.tensor([1.0, 2.0])
    assert x.eq(db.tensor([1.0, 0.0])).tolist() == [True, False]


def test_clone_and_cast():
    check_op(lambda x: x.clone() * 2, lambda x: x.clone() * 2, [(2, 3)])
    res = check_op(lambda x: x.float().double() * 3, lambda x: x.float().double() * 3, [(2, 3)],
                   atol=1e-6, rtol=1e-6, gradcheck=False)
    assert res.db_inputs[0].grad.dtype == np.float64


def test_ndarray_on_the_left_dispatches_to_tensor():
    x = db.tensor([1.0, 2.0], requires_grad=True)
    a = np.array([3.0, 4.0], dtype=np.float32)
    for out in (a + x, a - x, a * x, a / x):
        assert isinstance(out, db.Tensor) and out.requires_grad
    (a * x).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 4.0])
