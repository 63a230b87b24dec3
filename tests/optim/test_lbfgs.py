"""L-BFGS against torch.optim.LBFGS: softmax regression and the Rosenbrock function in float64,
with and without the strong-Wolfe line search, parameters and losses compared after every
``step(closure)``; the stopping rules, the history's wrap-around, state dicts, and errors.

The two libraries round differently at the last bit (MKL's dot products and fused multiply-add
in torch, OpenBLAS and separate roundings in NumPy), and Rosenbrock's curved valley amplifies
such differences, so trajectories are compared to 1e-8 relative, and the iteration and
evaluation counts, which show that both took the same branches, exactly.
"""
import inspect

import numpy as np
import pytest
import torch

import deepbasic as db
from deepbasic import optim
from deepbasic.nn import Parameter
from deepbasic.nn import functional as F

from _optim_common import json_round_trip

RTOL, ATOL = 1e-8, 1e-10


# ----- the problems, in deepbasic and in torch -------------------------------------------------
def _softmax_data(seed=0, n=40, d=6, c=4):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, d))
    y = r.integers(0, c, n)
    w0 = r.standard_normal((c, d)) * 0.1
    b0 = np.zeros(c)
    return x, y, [w0, b0]


def softmax_problem(reg=1e-2):
    """Multinomial logistic regression with an L2 penalty on W: mean CE(X W^T + b, y) + reg |W|^2."""
    x, y, init = _softmax_data()

    def db_loss(ps):
        w, b = ps
        return F.cross_entropy(db.tensor(x) @ w.T + b, db.tensor(y)) + reg * (w * w).sum()

    def torch_loss(ps):
        w, b = ps
        return (torch.nn.functional.cross_entropy(torch.tensor(x) @ w.T + b, torch.tensor(y))
                + reg * (w * w).sum())

    return init, db_loss, torch_loss


def rosenbrock_problem(x0=(-1.2, 1.0)):
    """f(x) = sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, minimum 0 at x = (1, ..., 1)."""
    def f(ps):
        x = ps[0]
        a, b = x[:-1], x[1:]
        return (100 * (b - a * a) ** 2 + (1 - a) ** 2).sum()

    return [np.array(x0, dtype=np.float64)], f, f


ROSEN_6D = (-1.2, 1.0, -0.5, 0.8, 1.5, -1.0)
PROBLEMS = {
    "softmax": softmax_problem,
    "rosenbrock": rosenbrock_problem,
    "rosenbrock6": lambda: rosenbrock_problem(ROSEN_6D),
}


def make_db(problem, kwargs, arrays=None):
    init, db_loss, _ = PROBLEMS[problem]()
    ps = [Parameter(np.array(a, dtype=np.float64)) for a in (init if arrays is None else arrays)]
    opt = optim.LBFGS(ps, **kwargs)

    def closure():
        opt.zero_grad()
        loss = db_loss(ps)
        loss.backward()
        return loss

    return ps, opt, closure


def make_torch(problem, kwargs):
    init, _, torch_loss = PROBLEMS[problem]()
    ps = [torch.tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in init]
    opt = torch.optim.LBFGS(ps, **kwargs)

    def closure():
        opt.zero_grad()
        loss = torch_loss(ps)
        loss.backward()
        return loss

    return ps, opt, closure


def run_both(problem, kwargs, steps):
    """Step both ``steps`` times; per step: our params, torch's params, our loss, torch's loss,
    our (n_iter, func_evals) and torch's."""
    ps, opt, closure = make_db(problem, kwargs)
    tps, topt, tclosure = make_torch(problem, kwargs)
    out = []
    for _ in range(steps):
        loss = opt.step(closure)
        tloss = topt.step(tclosure)
        s, ts = opt.state[ps[0]], topt.state[tps[0]]
        out.append(([p.data.copy() for p in ps], [p.detach().numpy().copy() for p in tps],
                    float(loss), float(tloss.detach()), (s["n_iter"], s["func_evals"]),
                    (ts["n_iter"], ts["func_evals"])))
    return out, (ps, opt), (tps, topt)


CONFIGS = [
    ("softmax", {}, 3),
    ("softmax", dict(line_search_fn="strong_wolfe"), 3),
    ("softmax", dict(history_size=3, max_iter=5), 6),
    ("softmax", dict(history_size=3, max_iter=4, line_search_fn="strong_wolfe"), 6),
    ("softmax", dict(lr=0.5, max_iter=3, max_eval=5, line_search_fn="strong_wolfe"), 5),
    ("softmax", dict(lr=0.1), 5),
    ("rosenbrock", dict(line_search_fn="strong_wolfe"), 5),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", history_size=3, max_iter=4), 4),
    ("rosenbrock", dict(lr=0.1, history_size=3, max_iter=5), 8),
    ("rosenbrock6", dict(lr=0.1, history_size=3, max_iter=5), 8),
    ("rosenbrock6", dict(line_search_fn="strong_wolfe", history_size=3, max_iter=4), 4),
    ("rosenbrock6", dict(lr=0.2, max_iter=10), 6),
]


@pytest.mark.parametrize("problem,kwargs,steps", CONFIGS,
                         ids=[f"{p}-{k}-{n}" for p, k, n in CONFIGS])
def test_trajectory_matches_torch(problem, kwargs, steps):
    out, (ps, opt), (tps, topt) = run_both(problem, kwargs, steps)
    for k, (ours, theirs, loss, tloss, counts, tcounts) in enumerate(out):
        assert counts == tcounts, f"(n_iter, func_evals) after step {k + 1}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL,
                                       err_msg=f"parameter {i} after step {k + 1}")
        np.testing.assert_allclose(loss, tloss, rtol=RTOL, atol=1e-12,
                                   err_msg=f"loss returned by step {k + 1}")
    # it did optimize
    assert out[-1][2] < out[0][2]
    assert not np.allclose(out[-1][0][0], PROBLEMS[problem]()[0][0])
    # the same state as torch's (besides torch's scratch list "al")
    state, tstate = opt.state[ps[0]], topt.state[tps[0]]
    assert set(state) == set(tstate) - {"al"}
    assert len(state["old_dirs"]) == len(tstate["old_dirs"])
    for key in ("d", "prev_flat_grad"):
        np.testing.assert_allclose(state[key], tstate[key].numpy(), rtol=1e-6, atol=1e-9)
    for a, b in zip(state["old_stps"], tstate["old_stps"]):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(float(state["H_diag"]), float(tstate["H_diag"]), rtol=1e-6)


def test_rosenbrock_converges_to_the_minimum():
    ps, opt, closure = make_db("rosenbrock", dict(line_search_fn="strong_wolfe"))
    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(ps[0].data, [1.0, 1.0], atol=1e-4)
    assert float(closure()) < 1e-8


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_history_wraps_around(line_search_fn):
    kwargs = dict(history_size=3, max_iter=4, line_search_fn=line_search_fn)
    ps, opt, closure = make_db("softmax", kwargs)
    tps, topt, tclosure = make_torch("softmax", kwargs)
    lengths = []
    for _ in range(4):
        opt.step(closure)
        topt.step(tclosure)
        lengths.append(len(opt.state[ps[0]]["old_dirs"]))
    assert lengths[-1] == 3 and max(lengths) == 3 and opt.state[ps[0]]["n_iter"] > 4
    state, tstate = opt.state[ps[0]], topt.state[tps[0]]
    for key in ("old_dirs", "old_stps"):
        assert len(state[key]) == len(tstate[key]) == 3
        for a, b in zip(state[key], tstate[key]):  # the newest 3 pairs, oldest first
            np.testing.assert_allclose(a, b.numpy(), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose([float(r) for r in state["ro"]], [float(r) for r in tstate["ro"]],
                               rtol=1e-7)


@pytest.mark.parametrize("kwargs", [dict(tolerance_grad=1e-3), dict(tolerance_change=1e-4),
                                    dict(tolerance_grad=1e-3, line_search_fn="strong_wolfe"),
                                    dict(tolerance_change=1e-4, line_search_fn="strong_wolfe")],
                         ids=str)
def test_tolerances_stop_early_like_torch(kwargs):
    out, (ps, opt), _ = run_both("softmax", dict(kwargs, max_iter=100, max_eval=200), 2)
    (n1, e1), (tn1, te1) = out[0][4], out[0][5]
    assert (n1, e1) == (tn1, te1)
    assert n1 < 100 and e1 < 200  # stopped by a tolerance, not by max_iter / max_eval
    np.testing.assert_allclose(out[0][0][0], out[0][1][0], rtol=RTOL, atol=ATOL)
    assert out[1][4] == out[1][5]


def test_optimal_point_returns_after_one_evaluation():
    ps, opt, closure = make_db("softmax", dict(max_iter=200, max_eval=300,
                                               line_search_fn="strong_wolfe"))
    opt.step(closure)  # converges: max |g| <= 1e-7 or no more change
    opt.step(closure)
    before = [p.data.copy() for p in ps]
    opt.param_groups[0]["tolerance_grad"] = 1e-3  # now certainly "optimal"
    evals, iters = opt.state[ps[0]]["func_evals"], opt.state[ps[0]]["n_iter"]
    loss = opt.step(closure)
    assert isinstance(loss, db.Tensor)
    assert opt.state[ps[0]]["func_evals"] == evals + 1 and opt.state[ps[0]]["n_iter"] == iters
    for a, b in zip(before, ps):
        np.testing.assert_array_equal(a, b.data)


@pytest.mark.parametrize("kwargs", [dict(history_size=3, max_iter=4),
                                    dict(history_size=3, max_iter=4, line_search_fn="strong_wolfe")],
                         ids=str)
def test_state_dict_round_trip_continues_identically(kwargs):
    ps, opt, closure = make_db("softmax", kwargs)
    full = []
    for _ in range(6):
        full.append((float(opt.step(closure)), [p.data.copy() for p in ps]))

    ps, opt, closure = make_db("softmax", kwargs)
    for _ in range(3):
        opt.step(closure)
    state = opt.state_dict()
    saved = json_round_trip(state)  # arrays aside, the rest through JSON
    weights = [p.data.copy() for p in ps]
    # a fresh optimizer with other hyperparameters, overwritten by the state dict
    ps2, opt2, closure2 = make_db("softmax", dict(kwargs, lr=0.3, history_size=50))
    for p, w in zip(ps2, weights):
        p.data[...] = w
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["history_size"] == 3 and opt2.param_groups[0]["lr"] == 1
    for k in range(3, 6):
        loss = float(opt2.step(closure2))
        assert loss == full[k][0], f"step {k + 1}"
        for a, b in zip(ps2, full[k][1]):
            np.testing.assert_array_equal(a.data, b, err_msg=f"step {k + 1}")
    # the saved state is a snapshot: stepping on did not change it
    s0 = state["state"][0]
    for key in ("d", "prev_flat_grad"):
        np.testing.assert_array_equal(s0[key], saved["state"]["0"][key])
    assert isinstance(s0["old_dirs"], list) and all(isinstance(a, np.ndarray) for a in s0["old_dirs"])
    assert set(s0) == {"func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag",
                       "prev_flat_grad", "prev_loss"}
    assert state["param_groups"][0]["params"] == [0, 1]


def test_checkpoint_file_round_trip(tmp_path):
    """Through a safetensors checkpoint (train/checkpoint.py): the lists of arrays survive."""
    from deepbasic import nn
    from deepbasic.train.checkpoint import load_checkpoint, restore, save_checkpoint

    x, y, _ = _softmax_data()

    def make():
        db.manual_seed(0)
        model = nn.Linear(6, 4, dtype=np.float64)
        opt = optim.LBFGS(model.parameters(), history_size=3, max_iter=4,
                          line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(model(db.tensor(x)), db.tensor(y))
            loss.backward()
            return loss

        return model, opt, closure

    model, opt, closure = make()
    full = [float(opt.step(closure)) for _ in range(5)]
    model, opt, closure = make()
    for _ in range(3):
        opt.step(closure)
    save_checkpoint(str(tmp_path / "c.safetensors"), model, opt, epoch=3)
    model2, opt2, closure2 = make()
    restore(load_checkpoint(str(tmp_path / "c.safetensors")), model2, opt2)
    assert [float(opt2.step(closure2)) for _ in range(2)] == full[3:]


def test_load_state_dict_checks_sizes():
    ps, opt, closure = make_db("softmax", {})
    opt.step(closure)
    state = opt.state_dict()
    other = optim.LBFGS([Parameter(np.zeros(5))])
    with pytest.raises(ValueError, match=r"LBFGS.load_state_dict: .*parameter group 0 has 2 "):
        other.load_state_dict(state)
    other = optim.LBFGS([Parameter(np.zeros((4, 6))), Parameter(np.zeros(3))])
    with pytest.raises(ValueError, match=r"state 'd' has shape \(28,\).*expected \(27,\)"):
        other.load_state_dict(state)
    assert not other.state  # nothing changed


def test_state_dict_before_any_step_and_float32():
    p = Parameter(np.zeros(3, dtype=np.float32))
    opt = optim.LBFGS([p])
    assert opt.state_dict()["state"] == {}
    # float32 parameters and state stay float32 and follow torch closely
    x, y, (w0, b0) = _softmax_data()
    ps = [Parameter(w0.astype(np.float32)), Parameter(b0.astype(np.float32))]
    tps = [torch.tensor(w0.astype(np.float32), requires_grad=True),
           torch.tensor(b0.astype(np.float32), requires_grad=True)]
    opt = optim.LBFGS(ps, line_search_fn="strong_wolfe")
    topt = torch.optim.LBFGS(tps, line_search_fn="strong_wolfe")
    xd, xt = db.tensor(x.astype(np.float32)), torch.tensor(x.astype(np.float32))

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xd @ ps[0].T + ps[1], db.tensor(y))
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ tps[0].T + tps[1], torch.tensor(y))
        loss.backward()
        return loss

    opt.step(closure)
    topt.step(tclosure)
    assert ps[0].data.dtype == np.float32 and opt.state[ps[0]]["d"].dtype == np.float32
    np.testing.assert_allclose(ps[0].data, tps[0].detach().numpy(), rtol=1e-3, atol=1e-4)


def test_closure_runs_with_grad_on_and_parameters_without_grad():
    # under no_grad the closure still records the graph; a parameter the loss doesn't use has
    # no gradient (zeros in the flat vector) and does not move
    init, db_loss, _ = softmax_problem()
    ps = [Parameter(a.copy()) for a in init]
    unused = Parameter(np.ones(3))
    opt = optim.LBFGS(ps + [unused], max_iter=5)

    def closure():
        opt.zero_grad()
        loss = db_loss(ps)
        loss.backward()
        return loss

    with db.no_grad():
        loss = opt.step(closure)
    assert isinstance(loss, db.Tensor) and opt.state[ps[0]]["n_iter"] == 5
    np.testing.assert_array_equal(unused.data, np.ones(3))


def test_step_without_closure_is_a_clear_error():
    opt = optim.LBFGS([Parameter(np.zeros(3))])
    with pytest.raises(TypeError, match="LBFGS.step needs a closure that re-evaluates the loss"):
        opt.step()
    with pytest.raises(TypeError, match="needs a closure"):
        opt.step(1.0)


def _p():
    return [Parameter(np.zeros((2, 3))), Parameter(np.zeros(3))]


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.LBFGS(p, lr=0), "LBFGS: lr must be > 0, got 0"),
    (lambda p: optim.LBFGS(p, lr=-1.0), r"LBFGS: lr must be > 0, got -1.0"),
    (lambda p: optim.LBFGS(p, lr="1"), "LBFGS: lr must be a number, got '1'"),
    (lambda p: optim.LBFGS(p, line_search_fn="armijo"),
     "LBFGS: line_search_fn must be None or 'strong_wolfe', got 'armijo'"),
    (lambda p: optim.LBFGS(p, max_iter=0), "LBFGS: max_iter must be a positive integer, got 0"),
    (lambda p: optim.LBFGS(p, max_iter=2.5), "LBFGS: max_iter must be a positive integer, got 2.5"),
    (lambda p: optim.LBFGS(p, max_eval=0), "LBFGS: max_eval must be a positive integer, got 0"),
    (lambda p: optim.LBFGS(p, history_size=0), "LBFGS: history_size must be a positive integer, got 0"),
    (lambda p: optim.LBFGS(p, tolerance_grad=-1e-7), "LBFGS: tolerance_grad must be >= 0, got -1e-07"),
    (lambda p: optim.LBFGS(p, tolerance_change=-1), "LBFGS: tolerance_change must be >= 0, got -1"),
    (lambda p: optim.LBFGS([{"params": p[:1]}, {"params": p[1:]}]),
     r"LBFGS doesn't support per-parameter options \(parameter groups\)"),
])
def test_bad_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make(_p())


def test_defaults_match_torch():
    ours = inspect.signature(optim.LBFGS).parameters
    theirs = inspect.signature(torch.optim.LBFGS).parameters
    assert list(ours) == list(theirs)
    for key, p in ours.items():
        if key != "params":
            assert p.default == theirs[key].default, key
    p = Parameter(np.zeros(3))
    opt = optim.LBFGS([p], max_iter=8)
    topt = torch.optim.LBFGS([torch.zeros(3, requires_grad=True)], max_iter=8)
    g = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    tg = {k: v for k, v in topt.param_groups[0].items() if k != "params"}
    for k, v in g.items():
        assert tg[k] == v, k
    assert g["max_eval"] == 10
