"""Helpers for the nn tests: compare deepbasic modules and functions with PyTorch in float64.

(Local to tests/nn; torch is a test-only dependency.)
"""
from __future__ import annotations

import numpy as np
import torch

import deepbasic as db

RTOL, ATOL = 1e-7, 1e-9


def assert_close(actual, expected, rtol=RTOL, atol=ATOL, what=""):
    a = actual.numpy() if isinstance(actual, db.Tensor) else np.asarray(actual)
    e = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != torch {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


def copy_params_to_torch(db_module, torch_module):
    """Load deepbasic's state dict into the torch module (same names), all float64."""
    torch_module.double()
    state = {k: torch.tensor(v) for k, v in db_module.state_dict().items()}
    torch_module.load_state_dict(state, strict=True)


def check_module_parity(db_module, torch_module, *inputs, seed=0, rtol=RTOL, atol=ATOL):
    """Forward both on the same float64 inputs, backward the same random upstream gradient,
    and compare the output, every input's gradient and every parameter's gradient by name.

    ``inputs``: numpy arrays; float ones require grad. The modules must already hold the
    same parameters (see :func:`copy_params_to_torch`). Returns (db_out, torch_out).
    """
    db_in = [db.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    th_in = [torch.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    db_module.zero_grad()
    torch_module.zero_grad()
    out = db_module(*db_in)
    tout = torch_module(*th_in)
    assert_close(out, tout, rtol, atol, what="forward")
    g = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(db.tensor(g)) if out.ndim else out.backward()
    tout.backward(torch.tensor(g)) if tout.ndim else tout.backward()
    for i, (a, b) in enumerate(zip(db_in, th_in)):
        if b.requires_grad:
            assert a.grad is not None, f"input {i} got no grad"
            assert_close(a.grad, b.grad, rtol, atol, what=f"input {i} grad")
    db_params = dict(db_module.named_parameters())
    th_params = dict(torch_module.named_parameters())
    assert list(db_params) == list(th_params)
    for name, p in db_params.items():
        tp = th_params[name]
        if tp.grad is None:
            assert p.grad is None or not np.any(p.grad), name
        else:
            assert p.grad is not None, f"parameter {name} got no grad"
            assert_close(p.grad, tp.grad, rtol, atol, what=f"{name} grad")
    return out, tout


def gradcheck_module(module, *inputs, atol=1e-5, rtol=1e-3):
    """deepbasic.gradcheck of ``module(*inputs)`` w.r.t. the inputs and every parameter."""
    tensors = [db.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    params = list(module.parameters())
    k = len(tensors)

    def fn(*args):
        return module(*args[:k])

    assert db.gradcheck(fn, tensors + params, atol=atol, rtol=rtol)
