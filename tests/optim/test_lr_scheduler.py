"""Learning-rate schedules against torch.optim.lr_scheduler: lr sequences, full training
trajectories, ReduceLROnPlateau on a metric sequence, state dicts."""
import math
import warnings

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tls

from deepbasic import optim
from deepbasic.optim import lr_scheduler as ls

from _optim_common import (
    assert_trajectories_close,
    db_params,
    init_arrays,
    json_round_trip,
    run_db,
    run_torch,
    torch_params,
    two_groups,
)

EPOCHS = 30

SCHEDULES = [
    ("StepLR", dict(step_size=5, gamma=0.5)),
    ("StepLR", dict(step_size=3)),
    ("MultiStepLR", dict(milestones=[3, 7, 7, 15], gamma=0.3)),
    ("MultiStepLR", dict(milestones=[20, 2])),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
    ("LinearLR", {}),
    ("LinearLR", dict(start_factor=0.1, end_factor=1.0, total_iters=10)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.2, total_iters=8)),
]


def _ids(items):
    return [f"{n}-{k}" for n, k in items]


def _close(a, b, tol=1e-12):
    return abs(a - b) <= tol * max(1.0, abs(b))


def _db_optimizer(lrs=(0.1, 0.03)):
    ps = db_params(init_arrays())
    return optim.SGD([{"params": ps[:2], "lr": lrs[0]}, {"params": ps[2:], "lr": lrs[1]}], momentum=0.9)


def _torch_optimizer(lrs=(0.1, 0.03)):
    ps = torch_params(init_arrays())
    return torch.optim.SGD([{"params": ps[:2], "lr": lrs[0]}, {"params": ps[2:], "lr": lrs[1]}],
                           momentum=0.9)


def lr_sequence(opt, scheds, epochs=EPOCHS, metrics=None):
    """The groups' lrs at construction and after each of ``epochs`` scheduler steps."""
    seq = [[g["lr"] for g in opt.param_groups]]
    for e in range(epochs):
        opt.step()  # no gradients: a no-op, but schedules expect optimizer.step() first
        for s in scheds:
            s.step() if metrics is None else s.step(metrics[e])
        seq.append([g["lr"] for g in opt.param_groups])
        assert [g["lr"] for g in opt.param_groups] == scheds[-1].get_last_lr()
    return seq


def assert_sequences_equal(ours, theirs, tol=1e-12):
    assert len(ours) == len(theirs)
    for e, (a, b) in enumerate(zip(ours, theirs)):
        assert all(_close(x, y, tol) for x, y in zip(a, b)), f"epoch {e}: {a} != torch {b}"


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=_ids(SCHEDULES))
def test_lr_sequence_matches_torch(name, kwargs):
    opt, topt = _db_optimizer(), _torch_optimizer()
    sched = getattr(ls, name)(opt, **kwargs)
    tsched = getattr(tls, name)(topt, **kwargs)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.03]
    assert sched.base_lrs == tsched.base_lrs and sched.last_epoch == tsched.last_epoch == 0
    ours = lr_sequence(opt, [sched])
    theirs = lr_sequence(topt, [tsched])
    assert_sequences_equal(ours, theirs)
    assert sched.last_epoch == tsched.last_epoch == EPOCHS
    assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=_ids(SCHEDULES))
def test_closed_form_matches_the_recursion(name, kwargs):
    opt = _db_optimizer()
    sched = getattr(ls, name)(opt, **kwargs)
    ours = lr_sequence(opt, [sched])
    for epoch in (0, 1, 4, 9, 10, 17, 29):
        opt2 = _db_optimizer()
        s2 = getattr(ls, name)(opt2, **kwargs)
        opt2.step()
        s2.step(epoch)
        assert s2.last_epoch == epoch
        assert all(_close(a, b, 1e-9) for a, b in zip(s2.get_last_lr(), ours[epoch])), epoch


def test_chained_schedules_match_torch():
    """Warm-up then decay by stepping two schedules on one optimizer (their recursive forms
    compose, as in PyTorch)."""
    opt, topt = _db_optimizer(), _torch_optimizer()
    ours = lr_sequence(opt, [ls.LinearLR(opt, start_factor=0.2, total_iters=4),
                             ls.ExponentialLR(opt, gamma=0.9)])
    theirs = lr_sequence(topt, [tls.LinearLR(topt, start_factor=0.2, total_iters=4),
                                tls.ExponentialLR(topt, gamma=0.9)])
    assert_sequences_equal(ours, theirs)


TRAINING = [
    ("SGD", dict(lr=0.1, momentum=0.9), "StepLR", dict(step_size=10, gamma=0.5)),
    ("SGD", dict(lr=0.1), "MultiStepLR", dict(milestones=[5, 20, 30], gamma=0.3)),
    ("Adam", dict(lr=0.01), "CosineAnnealingLR", dict(T_max=20, eta_min=1e-4)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1), "LinearLR", dict(start_factor=0.25, total_iters=10)),
    ("RMSprop", dict(lr=0.01, centered=True), "ExponentialLR", dict(gamma=0.95)),
    ("Adagrad", dict(lr=0.1), "CosineAnnealingLR", dict(T_max=12)),
]


@pytest.mark.parametrize("opt_name,opt_kwargs,name,kwargs", TRAINING,
                         ids=[f"{o}-{s}" for o, _, s, _ in TRAINING])
def test_training_trajectory_with_schedule_matches_torch(opt_name, opt_kwargs, name, kwargs):
    groups = two_groups(lr=opt_kwargs["lr"] / 2)
    db_traj, db_lrs, *_ = run_db(opt_name, opt_kwargs, 50, groups, scheduler=(getattr(ls, name), kwargs))
    th_traj, th_lrs, *_ = run_torch(opt_name, opt_kwargs, 50, groups, scheduler=(getattr(tls, name), kwargs))
    assert_sequences_equal(db_lrs, th_lrs)
    assert_trajectories_close(db_traj, th_traj)


# ----- ReduceLROnPlateau ------------------------------------------------------------------------

def _metric_sequence(n=60, seed=0):
    """Improves, plateaus, improves a little, plateaus long, with noise."""
    r = np.random.default_rng(seed)
    base = np.concatenate([np.linspace(1.0, 0.5, 10), np.full(8, 0.5), np.linspace(0.5, 0.45, 5),
                           np.full(n - 23, 0.45)])
    return list(base + r.normal(0, 0.003, n))


PLATEAU = [
    {},
    dict(patience=2),
    dict(patience=2, factor=0.5, cooldown=3),
    dict(mode="max", patience=1),
    dict(threshold_mode="abs", threshold=0.01, patience=3),
    dict(mode="max", threshold_mode="abs", threshold=0.005, patience=0, factor=0.7),
    dict(patience=1, min_lr=0.004),
    dict(patience=1, min_lr=[0.02, 0.0], factor=0.5),
    dict(patience=1, eps=0.005),
]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=[str(k) for k in PLATEAU])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    metrics = _metric_sequence()
    opt, topt = _db_optimizer(), _torch_optimizer()
    sched = ls.ReduceLROnPlateau(opt, **kwargs)
    tsched = tls.ReduceLROnPlateau(topt, **kwargs)
    assert "initial_lr" not in opt.param_groups[0]  # like torch
    ours = [[g["lr"] for g in opt.param_groups]]
    theirs = [[g["lr"] for g in topt.param_groups]]
    for m in metrics:
        sched.step(m)
        tsched.step(m)
        ours.append([g["lr"] for g in opt.param_groups])
        theirs.append([g["lr"] for g in topt.param_groups])
        for key in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch"):
            assert getattr(sched, key) == getattr(tsched, key), key
        assert sched.get_last_lr() == tsched.get_last_lr()
    assert_sequences_equal(ours, theirs, tol=0)
    assert ours[-1] != ours[0]  # the schedule did act


def test_reduce_lr_on_plateau_training_trajectory_matches_torch():
    sched = (ls.ReduceLROnPlateau, dict(patience=2, factor=0.5, threshold=0.05))
    tsched = (tls.ReduceLROnPlateau, sched[1])
    db_traj, db_lrs, *_ = run_db("SGD", dict(lr=0.5), 50, scheduler=sched, metric_scheduler=True)
    th_traj, th_lrs, *_ = run_torch("SGD", dict(lr=0.5), 50, scheduler=tsched, metric_scheduler=True)
    assert db_lrs == th_lrs and db_lrs[-1] != db_lrs[0]
    assert_trajectories_close(db_traj, th_traj)


# ----- state dicts ------------------------------------------------------------------------------

ALL = SCHEDULES + [("ReduceLROnPlateau", dict(patience=2, cooldown=1, factor=0.5))]


@pytest.mark.parametrize("name,kwargs", ALL, ids=_ids(ALL))
def test_scheduler_state_dict_resumes_exactly(name, kwargs):
    metrics = _metric_sequence(EPOCHS) if name == "ReduceLROnPlateau" else None
    opt = _db_optimizer()
    full = lr_sequence(opt, [getattr(ls, name)(opt, **kwargs)], metrics=metrics)

    opt = _db_optimizer()
    sched = getattr(ls, name)(opt, **kwargs)
    first = lr_sequence(opt, [sched], 12, metrics=metrics)
    opt_state = json_round_trip(opt.state_dict())
    state = json_round_trip(sched.state_dict())  # strict JSON: no NaN/Infinity literals

    opt2 = _db_optimizer(lrs=(7.0, 7.0))  # a fresh run, other lrs: all come from the state
    sched2 = getattr(ls, name)(opt2, **kwargs)
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(state)
    assert sched2.last_epoch == sched.last_epoch and sched2.base_lrs == sched.base_lrs
    rest = lr_sequence(opt2, [sched2], EPOCHS - 12, metrics=metrics[12:] if metrics else None)
    assert first + rest[1:] == full  # bit for bit


def test_plateau_state_dict_is_strict_json_before_any_metric():
    opt = _db_optimizer()
    sched = ls.ReduceLROnPlateau(opt, mode="max")
    state = json_round_trip(sched.state_dict())
    assert state["best"] == "-inf"
    sched2 = ls.ReduceLROnPlateau(_db_optimizer())
    sched2.load_state_dict(state)
    assert sched2.best == -math.inf and sched2.mode == "max" and sched2.mode_worse == -math.inf


def test_scheduler_state_dict_matches_torch_keys():
    opt, topt = _db_optimizer(), _torch_optimizer()
    s, ts = ls.StepLR(opt, 3, 0.5), tls.StepLR(topt, 3, 0.5)
    ours, theirs = s.state_dict(), ts.state_dict()
    for key in ("step_size", "gamma", "base_lrs", "last_epoch", "_step_count", "_last_lr"):
        assert ours[key] == theirs[key], key


def test_scheduler_load_state_dict_errors():
    opt = _db_optimizer()
    sched = ls.StepLR(opt, 3)
    with pytest.raises(ValueError, match="lacks step_size"):
        sched.load_state_dict(ls.ExponentialLR(_db_optimizer(), 0.9).state_dict())
    one_group_opt = optim.SGD(db_params(init_arrays()), lr=0.1)
    with pytest.raises(ValueError, match="'base_lrs' has 1 value"):
        sched.load_state_dict(ls.StepLR(one_group_opt, 3).state_dict())
    with pytest.raises(ValueError, match="'min_lrs' has 1 value"):
        ls.ReduceLROnPlateau(opt).load_state_dict(ls.ReduceLROnPlateau(one_group_opt).state_dict())


def test_resume_with_last_epoch_needs_initial_lr_and_matches_torch():
    with pytest.raises(KeyError, match="initial_lr"):
        ls.StepLR(_db_optimizer(), 3, last_epoch=5)
    opt, topt = _db_optimizer(), _torch_optimizer()
    for o in (opt, topt):
        for g in o.param_groups:
            g["initial_lr"] = g["lr"] * 2
    ours = lr_sequence(opt, [ls.CosineAnnealingLR(opt, T_max=10, last_epoch=4)], 10)
    theirs = lr_sequence(topt, [tls.CosineAnnealingLR(topt, T_max=10, last_epoch=4)], 10)
    assert_sequences_equal(ours, theirs)


def test_warns_when_scheduler_steps_before_optimizer():
    opt = _db_optimizer()
    sched = ls.StepLR(opt, 3)
    with pytest.warns(UserWarning, match="before optimizer.step"):
        sched.step()
    opt = _db_optimizer()
    sched = ls.StepLR(opt, 3)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()


@pytest.mark.parametrize("make,message", [
    (lambda o: ls.StepLR(o, 0), "StepLR: step_size must be a positive integer, got 0"),
    (lambda o: ls.StepLR(o, 2, gamma=-1), "StepLR: gamma must be a number > 0, got -1"),
    (lambda o: ls.MultiStepLR(o, [2, -1]), "MultiStepLR: milestones must be non-negative integers"),
    (lambda o: ls.CosineAnnealingLR(o, T_max=0), "CosineAnnealingLR: T_max must be a positive integer"),
    (lambda o: ls.LinearLR(o, start_factor=0), r"LinearLR: start_factor must be in \(0, 1\], got 0"),
    (lambda o: ls.LinearLR(o, end_factor=1.5), r"LinearLR: end_factor must be in \[0, 1\], got 1.5"),
    (lambda o: ls.ReduceLROnPlateau(o, mode="avg"), "ReduceLROnPlateau: mode must be 'min' or 'max', got 'avg'"),
    (lambda o: ls.ReduceLROnPlateau(o, factor=1.0), r"ReduceLROnPlateau: factor must be in \[0, 1\), got 1.0"),
    (lambda o: ls.ReduceLROnPlateau(o, threshold_mode="x"), "threshold_mode must be 'rel' or 'abs'"),
    (lambda o: ls.ReduceLROnPlateau(o, min_lr=[0.1]), "min_lr has 1 value"),
    (lambda o: ls.StepLR(o, 2, last_epoch=-3), "last_epoch must be an integer >= -1"),
])
def test_bad_scheduler_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make(_db_optimizer())
