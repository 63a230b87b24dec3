"""Optimizer state dicts: plain data (JSON + NumPy arrays), exact resume, clear errors on mismatch."""
import numpy as np
import pytest

import deepbasic as db
from deepbasic import nn, optim
from deepbasic.optim import lr_scheduler as ls

from _optim_common import db_loss, db_params, init_arrays, json_round_trip, one_group, two_groups

CONFIGS = [
    ("SGD", dict(lr=0.1), one_group),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01), two_groups(lr=0.05)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01), one_group),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True), two_groups(alpha=0.9)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.01), two_groups(betas=(0.8, 0.99))),
    ("AdamW", dict(lr=0.01), one_group),
]
SCHEDULERS = [None, (ls.StepLR, dict(step_size=4, gamma=0.5)), (ls.CosineAnnealingLR, dict(T_max=15)),
              (ls.LinearLR, dict(start_factor=0.2, total_iters=12))]


def _train(ps, opt, sched, steps):
    out = []
    for _ in range(steps):
        opt.zero_grad()
        db_loss(ps).backward()
        opt.step()
        if sched is not None:
            sched.step()
        out.append([p.data.copy() for p in ps])
    return out


def _make(name, kwargs, groups, sched_spec, arrays):
    ps = db_params(arrays)
    opt = getattr(optim, name)(groups(ps), **kwargs)
    sched = sched_spec[0](opt, **sched_spec[1]) if sched_spec else None
    return ps, opt, sched


@pytest.mark.parametrize("sched_spec", SCHEDULERS, ids=lambda s: s[0].__name__ if s else "none")
@pytest.mark.parametrize("name,kwargs,groups", CONFIGS, ids=[f"{n}-{k}" for n, k, _ in CONFIGS])
def test_resume_is_bit_for_bit(name, kwargs, groups, sched_spec):
    ps, opt, sched = _make(name, kwargs, groups, sched_spec, init_arrays())
    full = _train(ps, opt, sched, 20)

    ps, opt, sched = _make(name, kwargs, groups, sched_spec, init_arrays())
    first = _train(ps, opt, sched, 10)
    state = opt.state_dict()
    saved = json_round_trip(state)
    sched_state = json_round_trip(sched.state_dict()) if sched else None
    weights = [p.data.copy() for p in ps]

    # a fresh run: other weights and hyperparameters, overwritten by the checkpoint
    ps2, opt2, sched2 = _make(name, dict(kwargs, lr=123.0), groups, sched_spec, init_arrays(seed=5))
    for p, w in zip(ps2, weights):
        p.data[...] = w
    opt2.load_state_dict(saved)
    if sched:
        sched2.load_state_dict(sched_state)
    rest = _train(ps2, opt2, sched2, 10)
    for k, (a, b) in enumerate(zip(first + rest, full)):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y, err_msg=f"step {k + 1}")
    # the saved state is a snapshot: training on did not change it
    for k, s in state["state"].items():
        for key, v in s.items():
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(v, saved["state"][str(k)][key])


def test_state_dict_layout_is_like_torch():
    ps = db_params(init_arrays())
    opt = optim.Adam(two_groups(lr=0.1)(ps), lr=0.01, amsgrad=True)
    _train(ps, opt, None, 2)
    state = opt.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0, 1], [2, 3]]
    assert state["param_groups"][0]["lr"] == 0.1 and state["param_groups"][1]["lr"] == 0.01
    assert state["param_groups"][0]["betas"] == [0.9, 0.999]  # JSON-friendly list
    assert sorted(state["state"]) == [0, 1, 2, 3]
    s0 = state["state"][0]
    assert s0["step"] == 2 and type(s0["step"]) is int
    # Adam keeps decayed sums (see its docstring) and saves them as they are: exact resume
    assert set(s0) == {"step", "grad_sum", "sq_sum", "max_sq_sum", "sum_betas"}
    assert all(s0[k].shape == ps[0].shape for k in ("grad_sum", "sq_sum", "max_sq_sum"))
    assert s0["grad_sum"] is not opt.state[ps[0]]["grad_sum"]  # copies
    assert s0["sum_betas"] == [0.9, 0.999]
    opt.load_state_dict(json_round_trip(state))
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)  # a tuple again
    assert opt.param_groups[0]["params"][0] is ps[0]
    assert opt.state[ps[0]]["step"] == 2
    assert opt.state[ps[0]]["grad_sum"] is not state["state"][0]["grad_sum"]


def test_state_without_steps_and_with_gradless_parameters():
    ps = db_params(init_arrays())
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    assert opt.state_dict()["state"] == {}
    opt.zero_grad()
    db_loss(ps[:2] + [db.tensor(p.data) for p in ps[2:]]).backward()  # only W1, b1 get grads
    opt.step()
    state = opt.state_dict()
    assert sorted(state["state"]) == [0, 1]
    opt2 = optim.SGD(db_params(init_arrays()), lr=0.1, momentum=0.9)
    opt2.load_state_dict(json_round_trip(state))
    assert len(opt2.state) == 2


def test_load_casts_state_to_the_parameter_dtype():
    ps = db_params(init_arrays())
    opt = optim.Adam(ps, lr=0.01)
    _train(ps, opt, None, 2)
    ps32 = [nn.Parameter(p.data.astype(np.float32)) for p in ps]
    opt32 = optim.Adam(ps32, lr=0.01)
    opt32.load_state_dict(opt.state_dict())
    assert all(v.dtype == np.float32 for s in opt32.state.values() for v in s.values()
               if isinstance(v, np.ndarray))


def test_load_state_dict_errors():
    ps = db_params(init_arrays())
    opt = optim.Adam(two_groups()(ps), lr=0.01)
    _train(ps, opt, None, 1)
    state = opt.state_dict()

    one = optim.Adam(db_params(init_arrays()), lr=0.01)
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: the state dict has 2 parameter group\(s\), "
                                         r"but the optimizer has 1"):
        one.load_state_dict(state)

    ps3 = db_params(init_arrays())
    three = optim.Adam([{"params": ps3[:2]}, {"params": ps3[2:3]}], lr=0.01)
    with pytest.raises(ValueError, match=r"parameter group 1 has 2 parameter\(s\) in the state dict, "
                                         r"but 1 in the optimizer"):
        three.load_state_dict(state)

    other = [np.zeros((5, 4)), np.zeros(4), np.zeros((4, 3)), np.zeros(3)]  # hidden size 4, not 8
    wrong = optim.Adam(two_groups()(db_params(other)), lr=0.01)
    before = wrong.param_groups[0]["lr"]
    with pytest.raises(ValueError, match=r"state 'grad_sum' of parameter 0 has shape \(5, 8\), but the "
                                         r"parameter has shape \(5, 4\)"):
        wrong.load_state_dict(state)
    assert wrong.param_groups[0]["lr"] == before and not wrong.state  # nothing changed

    with pytest.raises(ValueError, match="expected a dict with 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    bad = json_round_trip(state)
    bad["state"]["9"] = bad["state"].pop("0")
    with pytest.raises(ValueError, match=r"state for parameter 9, but the optimizer's parameters are "
                                         r"numbered 0..3"):
        opt.load_state_dict(bad)
    bad = json_round_trip(state)
    bad["param_groups"][1]["lr"] = -1.0
    with pytest.raises(ValueError, match=r"Adam: lr must be >= 0, got -1.0 \(param group 1 of the loaded state\)"):
        opt.load_state_dict(bad)


def test_checkpoint_round_trip_resumes_exactly(tmp_path):
    """Through the training checkpoint (safetensors + JSON metadata) of deepbasic.train."""
    from deepbasic.train.checkpoint import load_checkpoint, restore, save_checkpoint

    x = db.tensor(np.random.default_rng(0).standard_normal((12, 4)))
    y = db.tensor(np.arange(12) % 3)

    def setup():
        db.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double()
        opt = optim.AdamW(model.parameters(), lr=0.01, amsgrad=True)
        return model, opt, ls.StepLR(opt, step_size=3, gamma=0.5)

    def train(model, opt, sched, steps):
        for _ in range(steps):
            opt.zero_grad()
            nn.CrossEntropyLoss()(model(x), y).backward()
            opt.step()
            sched.step()
        return model.state_dict()

    full = train(*setup(), 12)
    model, opt, sched = setup()
    train(model, opt, sched, 6)
    save_checkpoint(tmp_path / "ck.safetensors", model, opt, sched, epoch=6)
    model2, opt2, sched2 = setup()
    assert restore(load_checkpoint(tmp_path / "ck.safetensors"), model2, opt2, sched2) == 6
    resumed = train(model2, opt2, sched2, 6)
    for k in full:
        np.testing.assert_array_equal(resumed[k], full[k])
