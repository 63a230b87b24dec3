"""Every optimizer against torch.optim: the same MLP, data and initial weights in float64, 50 steps,
parameters compared after every step."""
import inspect

import numpy as np
import pytest
import torch

import deepbasic as db
from deepbasic import optim
from deepbasic.nn import Parameter

from _optim_common import (
    assert_trajectories_close,
    db_loss,
    db_params,
    init_arrays,
    one_group,
    run_db,
    run_torch,
    torch_loss,
    torch_params,
    two_groups,
)

STEPS = 50

CONFIGS = [
    # SGD
    ("SGD", {}, one_group),
    ("SGD", dict(lr=0.1), one_group),
    ("SGD", dict(lr=0.1, momentum=0.9), one_group),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5), one_group),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True), one_group),
    ("SGD", dict(lr=0.1, weight_decay=0.01), one_group),
    ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.05, nesterov=True), one_group),
    ("SGD", dict(lr=0.05, maximize=True), one_group),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1, maximize=True), one_group),
    ("SGD", dict(lr=0.05, momentum=0.9), two_groups(lr=0.2, momentum=0.5)),
    ("SGD", dict(lr=0.05), two_groups(lr=0.3, weight_decay=0.1, nesterov=True, momentum=0.7)),
    # Adagrad
    ("Adagrad", {}, one_group),
    ("Adagrad", dict(lr=0.1), one_group),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01), one_group),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1, eps=1e-6), one_group),
    ("Adagrad", dict(lr=0.05, maximize=True, weight_decay=0.1), one_group),
    ("Adagrad", dict(lr=0.05), two_groups(lr=0.2, lr_decay=0.1)),
    # RMSprop
    ("RMSprop", {}, one_group),
    ("RMSprop", dict(lr=0.01, momentum=0.9), one_group),
    ("RMSprop", dict(lr=0.01, centered=True), one_group),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.01), one_group),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6), one_group),
    ("RMSprop", dict(lr=0.005, maximize=True, momentum=0.5), one_group),
    ("RMSprop", dict(lr=0.01), two_groups(lr=0.001, centered=True, alpha=0.5)),
    # Adam
    ("Adam", {}, one_group),
    ("Adam", dict(lr=0.01), one_group),
    ("Adam", dict(lr=0.01, weight_decay=0.1), one_group),
    ("Adam", dict(lr=0.01, amsgrad=True), one_group),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05), one_group),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.9), eps=1e-6), one_group),
    ("Adam", dict(lr=0.01, maximize=True), one_group),
    ("Adam", dict(lr=0.01), two_groups(lr=0.05, betas=(0.8, 0.99), amsgrad=True)),
    # AdamW
    ("AdamW", {}, one_group),
    ("AdamW", dict(lr=0.01, weight_decay=0.1), one_group),
    ("AdamW", dict(lr=0.01, amsgrad=True), one_group),
    ("AdamW", dict(lr=0.01, maximize=True, weight_decay=0.3), one_group),
    ("AdamW", dict(lr=0.01), two_groups(lr=0.03, weight_decay=0.5)),
]


def _id(cfg):
    name, kwargs, groups = cfg
    return f"{name}-{kwargs}-{groups.__name__}"


@pytest.mark.parametrize("cfg", CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_trajectory_matches_torch(cfg):
    name, kwargs, groups = cfg
    db_traj, _, _, opt, _ = run_db(name, kwargs, STEPS, groups)
    th_traj, _, _, topt, _ = run_torch(name, kwargs, STEPS, groups)
    assert_trajectories_close(db_traj, th_traj)
    # the parameters did move
    assert not np.allclose(db_traj[-1][0], init_arrays()[0])
    # same hyperparameters in every group (defaults filled in as torch does)
    for g, tg in zip(opt.param_groups, topt.param_groups):
        for k, v in g.items():
            if k != "params":
                assert tg[k] == v, (k, v, tg[k])


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_closure_is_called_and_its_loss_returned(name):
    db_traj, _, _, _, _ = run_db(name, dict(lr=0.05), 10, closure=True)
    th_traj, _, _, _, _ = run_torch(name, dict(lr=0.05), 10, closure=True)
    assert_trajectories_close(db_traj, th_traj)
    ps = db_params(init_arrays())
    opt = getattr(optim, name)(ps, lr=0.05)
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = db_loss(ps)
        loss.backward()
        return loss

    with db.no_grad():  # the closure still records the graph
        loss = opt.step(closure)
    assert calls == [1] and isinstance(loss, db.Tensor)
    assert opt.step() is None


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_defaults_match_torch(name):
    ours = inspect.signature(getattr(optim, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    for key, p in ours.items():
        if key != "params":
            assert key in theirs, key
            assert theirs[key].default == p.default, (key, p.default, theirs[key].default)
    ps = db_params(init_arrays())
    tps = torch_params(init_arrays())
    opt, topt = getattr(optim, name)(ps), getattr(torch.optim, name)(tps)
    for k, v in opt.defaults.items():
        assert topt.defaults[k] == v, k


def test_add_param_group_midway_matches_torch():
    ps, tps = db_params(init_arrays()), torch_params(init_arrays())
    opt = optim.SGD(ps[:2], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tps[:2], lr=0.1, momentum=0.9)
    for step in range(20):
        if step == 5:
            opt.add_param_group({"params": ps[2:], "lr": 0.02})
            topt.add_param_group({"params": tps[2:], "lr": 0.02})
        opt.zero_grad()
        db_loss(ps).backward()
        opt.step()
        topt.zero_grad()
        torch_loss(tps).backward()
        topt.step()
        assert_trajectories_close([[p.data for p in ps]], [[p.detach().numpy() for p in tps]])
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.02


OPTIMIZERS = [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1, momentum=0.9, centered=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_frozen_and_gradless_parameters_never_move(name, kwargs):
    ps = db_params(init_arrays())
    frozen_with_grad = Parameter(np.ones((2, 2)), requires_grad=False)
    frozen_with_grad.grad = np.ones((2, 2))  # a stale gradient must not be used
    no_grad = Parameter(np.ones(3))  # trainable, but gets no gradient
    opt = getattr(optim, name)([{"params": ps}, {"params": [frozen_with_grad, no_grad]}], **kwargs)
    before = [p.data.copy() for p in ps]
    for _ in range(5):
        opt.zero_grad(set_to_none=False)
        frozen_with_grad.grad = np.ones((2, 2))
        db_loss(ps).backward()
        opt.step()
    np.testing.assert_array_equal(frozen_with_grad.data, np.ones((2, 2)))
    np.testing.assert_array_equal(no_grad.data, np.ones(3))
    assert frozen_with_grad not in opt.state and no_grad not in opt.state
    assert all(not np.array_equal(a, p.data) for a, p in zip(before, ps))


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_step_leaves_the_gradients_alone(name, kwargs):
    ps = db_params(init_arrays())
    opt = getattr(optim, name)(ps, **kwargs)
    for _ in range(3):
        opt.zero_grad()
        db_loss(ps).backward()
        grads = [p.grad.copy() for p in ps]
        opt.step()
        for g, p in zip(grads, ps):
            np.testing.assert_array_equal(p.grad, g)


def test_zero_grad():
    ps = db_params(init_arrays())
    opt = optim.SGD(ps, lr=0.1)
    db_loss(ps).backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in ps)
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


FLOAT32 = OPTIMIZERS + [("Adagrad", dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1)),
                        ("RMSprop", dict(lr=0.01, alpha=0.9)),
                        ("AdamW", dict(lr=0.01, amsgrad=True, maximize=True))]


def _run_float32(name, kwargs, steps=5):
    ps = [Parameter(a.astype(np.float32)) for a in init_arrays()]
    opt = getattr(optim, name)(ps, **kwargs)
    x, onehot = (a.astype(np.float32) for a in (np.random.default_rng(1).standard_normal((16, 5)),
                                               np.eye(3)[np.arange(16) % 3]))
    out = []
    for _ in range(steps):
        opt.zero_grad()
        db_loss(ps, x, onehot).backward()
        opt.step()
        out.append([p.data.copy() for p in ps])
    return out, ps, opt


def _numpy_scalars(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return np.float64(value)
    if isinstance(value, tuple):
        return tuple(np.float64(v) for v in value)
    return value


@pytest.mark.parametrize("name,kwargs", FLOAT32)
def test_float32_stays_float32(name, kwargs):
    traj, ps, opt = _run_float32(name, kwargs)
    assert all(p.data.dtype == np.float32 and p.grad.dtype == np.float32 for p in ps)
    for s in opt.state.values():
        for k, v in s.items():
            if isinstance(v, np.ndarray):
                assert v.dtype == np.float32, k
    # NumPy float64 hyperparameters (e.g. set by user code) must not turn the math float64
    # (NumPy 2 lets a np.float64 scalar upcast float32 arrays): the results are bit-identical
    # to those of Python floats, which keep float32 arithmetic.
    kw64 = {k: _numpy_scalars(v) for k, v in kwargs.items()}
    traj64, ps64, _ = _run_float32(name, kw64)
    for a, b in zip(traj, traj64):
        for x, y in zip(a, b):
            assert y.dtype == np.float32
            np.testing.assert_array_equal(x, y)


def test_float32_matches_float64_reference_closely():
    # float32 arithmetic, not a float64 computation rounded at the end: close to float64 though
    traj32, _, _ = _run_float32("Adam", dict(lr=0.01))
    ps = db_params(init_arrays())
    opt = optim.Adam(ps, lr=0.01)
    x = np.random.default_rng(1).standard_normal((16, 5)).astype(np.float32).astype(np.float64)
    onehot = np.eye(3)[np.arange(16) % 3]
    for k in range(5):
        opt.zero_grad()
        db_loss(ps, x, onehot).backward()
        opt.step()
        for a, p in zip(traj32[k], ps):
            np.testing.assert_allclose(a, p.data, rtol=1e-4, atol=1e-5)


def test_scratch_memory_is_reused():
    traj, ps, opt = _run_float32("Adam", dict(lr=0.01, weight_decay=0.1, maximize=True))
    bufs = dict(opt._scratch)
    opt.zero_grad()
    db_loss(ps, np.ones((4, 5), np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]).backward()
    opt.step()
    assert all(opt._scratch[k] is v for k, v in bufs.items())
    assert max(b.size for b in bufs.values()) == max(p.data.size for p in ps)


def test_repr_lists_the_groups():
    opt = optim.SGD(two_groups(lr=0.5)(db_params(init_arrays())), lr=0.1, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (") and "Parameter Group 1" in text and "lr: 0.5" in text
