"""Adam keeps its moments as decayed sums (fewer passes): the moments it reports, PyTorch state
it loads and betas changed mid-run must all behave exactly like PyTorch's averages."""
import numpy as np
import pytest
import torch

from deepbasic import optim

from _optim_common import (db_loss, db_params, init_arrays, json_round_trip, run_db, run_torch,
                           torch_loss, torch_params, two_groups)

KEYS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")


@pytest.mark.parametrize("name,kwargs", [("Adam", dict(lr=0.01, amsgrad=True)),
                                         ("AdamW", dict(lr=0.01, betas=(0.5, 0.9)))])
def test_moments_are_torchs(name, kwargs):
    _, _, ps, opt, _ = run_db(name, kwargs, 7)
    _, _, tps, topt, _ = run_torch(name, kwargs, 7)
    for p, tp in zip(ps, tps):
        mine, theirs = opt.moments(p), topt.state[tp]
        assert set(mine) == {k for k in KEYS if k in theirs}
        for k in mine:
            np.testing.assert_allclose(mine[k], theirs[k].numpy(), rtol=1e-10, atol=1e-14)
    assert optim.Adam(db_params(init_arrays())).moments(ps[0]) == {}


def test_loads_torchs_state_and_continues_like_torch():
    kwargs = dict(lr=0.01, amsgrad=True, weight_decay=0.01)
    groups = two_groups(betas=(0.8, 0.99))
    _, _, tps, topt, _ = run_torch("Adam", kwargs, 5, groups=groups)
    tstate = topt.state_dict()
    plain = {"state": {i: {k: (v.numpy().copy() if k != "step" else int(v.item()))
                           for k, v in s.items()} for i, s in tstate["state"].items()},
             "param_groups": tstate["param_groups"]}
    ps = db_params([p.detach().numpy() for p in tps])
    opt = optim.Adam(groups(ps), lr=0.5)
    opt.load_state_dict(json_round_trip(plain))
    for _ in range(5):
        for o, loss in ((opt, db_loss(ps)), (topt, torch_loss(tps))):
            o.zero_grad()
            loss.backward()
            o.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_betas_changed_mid_run_match_torch():
    ps, tps = db_params(init_arrays()), torch_params(init_arrays())
    opt = optim.Adam(ps, lr=0.01, amsgrad=True)
    topt = torch.optim.Adam(tps, lr=0.01, amsgrad=True)
    for step in range(12):
        if step in (4, 8):  # e.g. a one-cycle schedule moving beta1, or a user's change
            betas = (0.5, 0.9) if step == 4 else (0.95, 0.99)
            opt.param_groups[0]["betas"] = topt.param_groups[0]["betas"] = betas
        for o, loss in ((opt, db_loss(ps)), (topt, torch_loss(tps))):
            o.zero_grad()
            loss.backward()
            o.step()
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-9, atol=1e-12,
                                       err_msg=f"step {step + 1}")
