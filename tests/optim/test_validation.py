"""Bad hyperparameters and bad parameter lists raise clear errors."""
import numpy as np
import pytest

import deepbasic as db
from deepbasic import optim
from deepbasic.nn import Parameter


def params():
    return [Parameter(np.zeros((2, 3))), Parameter(np.zeros(3))]


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.SGD(p, lr=-1), "SGD: lr must be >= 0, got -1"),
    (lambda p: optim.SGD(p, momentum=-0.5), "SGD: momentum must be >= 0, got -0.5"),
    (lambda p: optim.SGD(p, weight_decay=-1e-4), "SGD: weight_decay must be >= 0, got -0.0001"),
    (lambda p: optim.SGD(p, lr="0.1"), "SGD: lr must be a number, got '0.1'"),
    (lambda p: optim.SGD(p, lr=float("nan")), "SGD: lr must be a number, got nan"),
    (lambda p: optim.SGD(p, nesterov=True),
     "SGD: nesterov=True needs momentum > 0 and dampening = 0, got momentum=0, dampening=0"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True),
     "SGD: nesterov=True needs momentum > 0 and dampening = 0, got momentum=0.9, dampening=0.1"),
    (lambda p: optim.Adagrad(p, lr_decay=-0.1), "Adagrad: lr_decay must be >= 0, got -0.1"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1),
     "Adagrad: initial_accumulator_value must be >= 0, got -1"),
    (lambda p: optim.Adagrad(p, eps=-1e-10), "Adagrad: eps must be >= 0, got -1e-10"),
    (lambda p: optim.RMSprop(p, alpha=-0.9), "RMSprop: alpha must be >= 0, got -0.9"),
    (lambda p: optim.RMSprop(p, momentum=-1), "RMSprop: momentum must be >= 0, got -1"),
    (lambda p: optim.Adam(p, betas=(1.2, 0.999)), r"Adam: betas must be in \[0, 1\), got \(1.2, 0.999\)"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), r"Adam: betas must be in \[0, 1\), got \(0.9, 1.0\)"),
    (lambda p: optim.Adam(p, betas=(0.9,)), r"Adam: betas must be a pair of numbers \(beta1, beta2\), got \(0.9,\)"),
    (lambda p: optim.AdamW(p, betas=[-0.1, 0.9]), r"AdamW: betas must be in \[0, 1\), got \(-0.1, 0.9\)"),
    (lambda p: optim.AdamW(p, lr=-0.001), "AdamW: lr must be >= 0, got -0.001"),
    (lambda p: optim.Adam(p, weight_decay=-1), "Adam: weight_decay must be >= 0, got -1"),
    (lambda p: optim.SGD([{"params": p[:1], "lr": -0.5}, {"params": p[1:]}], lr=0.1),
     r"SGD: lr must be >= 0, got -0.5 \(param group 0\)"),
    (lambda p: optim.Adam([{"params": p[:1]}, {"params": p[1:], "betas": (0.9, 2)}]),
     r"Adam: betas must be in \[0, 1\), got \(0.9, 2\) \(param group 1\)"),
    (lambda p: optim.SGD([], lr=0.1), "SGD: got an empty parameter list"),
    (lambda p: optim.SGD([{"params": p}, {"params": p[:1]}], lr=0.1),
     "SGD: some parameters appear in more than one parameter group"),
    (lambda p: optim.SGD([p[0], p[0]], lr=0.1), "SGD: a parameter appears twice in one parameter group"),
    (lambda p: optim.SGD([(p[0] * 2)], lr=0.1), "SGD: can't optimize a non-leaf tensor"),
])
def test_bad_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make(params())


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.SGD(p[0], lr=0.1), "SGD: params must be an iterable of Parameters or of dicts"),
    (lambda p: optim.SGD(set(p), lr=0.1), "SGD: params must be an ordered collection"),
    (lambda p: optim.SGD([np.zeros(3)], lr=0.1), "SGD: can only optimize deepbasic Tensors"),
    (lambda p: optim.SGD([{"params": p[:1]}, p[1]], lr=0.1), "SGD: params mixes dicts"),
])
def test_bad_parameter_lists_raise_type_error(make, message):
    with pytest.raises(TypeError, match=message):
        make(params())


def test_valid_edge_values_are_accepted():
    optim.SGD(params(), lr=0, momentum=0.9, dampening=0, nesterov=True)
    optim.Adam(params(), betas=(0.0, 0.0), eps=0)
    optim.SGD(params(), lr=1)  # ints are fine
    opt = optim.SGD([{"params": params()[0]}], lr=0.1)  # a single tensor in a group dict
    assert len(opt.param_groups[0]["params"]) == 1
    t = db.tensor(np.ones(3), requires_grad=True)  # plain leaf tensors work too
    t.grad = np.ones(3)
    optim.SGD([t], lr=0.5).step()
    np.testing.assert_array_equal(t.data, np.full(3, 0.5))
