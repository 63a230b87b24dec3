"""Training-step speed of an MLP, deepbasic vs PyTorch (CPU), in one process with the same threads.

The step: forward, softmax cross-entropy, backward, Adam update, for a 784-512-256-10 ReLU MLP on a
batch of 256 in float32. Also the per-op overhead of a tiny op (adding two 4-element tensors with
backward). Prints the median times and the ratio deepbasic / PyTorch.

    python benchmarks/bench_mlp.py [--repeats 200] [--threads N]
"""
from __future__ import annotations

import argparse
import os

import numpy as np
from _timing import median_time


def deepbasic_step(x, y, weights):
    import deepbasic as db
    from deepbasic import nn, optim

    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    model.load_state_dict(weights)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = db.tensor(x), db.tensor(y)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return step


def torch_step(x, y, weights):
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return step


def breakdown(x, y, weights, repeats: int):
    """Where the time goes: forward+backward, the Adam step, and the matrix products alone."""
    import torch

    import deepbasic as db
    from deepbasic import nn, optim

    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    model.load_state_dict(weights)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    tmodel = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                                 torch.nn.ReLU(), torch.nn.Linear(256, 10))
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
    xt, yt, tx, ty = db.tensor(x), db.tensor(y), torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = nn.CrossEntropyLoss()

    def fb():
        opt.zero_grad()
        loss_fn(model(xt), yt).backward()

    def tfb():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tmodel(tx), ty).backward()

    ws = [weights[f"{i}.weight"] for i in (0, 2, 4)]
    tws = [torch.from_numpy(w) for w in ws]

    def gemms(mats, inp):  # forward, input-gradient and weight-gradient products of the 3 layers
        acts = [inp]
        for w in mats:
            acts.append(acts[-1] @ w.T)
        g = acts[-1]
        for i in (2, 1, 0):
            gw = g.T @ acts[i]
            if i:
                g = g @ mats[i]
        return gw

    rows = [("forward + backward", median_time(fb, repeats), median_time(tfb, repeats))]
    fb(), tfb()
    rows.append(("Adam step", median_time(opt.step, repeats), median_time(topt.step, repeats)))
    rows.append(("the 8 matrix products alone", median_time(lambda: gemms(ws, x), repeats),
                 median_time(lambda: gemms(tws, tx), repeats)))
    for name, a, b in rows:
        print(f"  {name:28s} deepbasic {a * 1e3:7.3f} ms   PyTorch {b * 1e3:7.3f} ms   ratio {a / b:.2f}")


def tiny_ops():
    import torch

    import deepbasic as db

    a = db.tensor(np.ones(4, np.float32), requires_grad=True)
    b = db.tensor(np.ones(4, np.float32), requires_grad=True)
    ta = torch.ones(4, requires_grad=True)
    tb = torch.ones(4, requires_grad=True)

    def db_add():
        (a + b).sum().backward()

    def torch_add():
        (ta + tb).sum().backward()

    return db_add, torch_add


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 784)).astype(np.float32)
    y = rng.integers(0, 10, 256).astype(np.int64)
    ref = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                              torch.nn.ReLU(), torch.nn.Linear(256, 10))
    weights = {k: v.detach().numpy().copy() for k, v in ref.state_dict().items()}

    db_fn, torch_fn = deepbasic_step(x, y, weights), torch_step(x, y, weights)
    t_db = median_time(db_fn, args.repeats)
    t_torch = median_time(torch_fn, args.repeats)
    print(f"MLP 784-512-256-10, batch 256, float32, Adam step, torch threads {torch.get_num_threads()}")
    print(f"  deepbasic {t_db * 1e3:8.3f} ms   PyTorch {t_torch * 1e3:8.3f} ms   "
          f"ratio {t_db / t_torch:.2f}")
    breakdown(x, y, weights, args.repeats)

    db_add, torch_add = tiny_ops()
    t_db = median_time(db_add, args.repeats * 10)
    t_torch = median_time(torch_add, args.repeats * 10)
    print("tiny op: (a + b).sum().backward() on 4 elements")
    print(f"  deepbasic {t_db * 1e6:8.1f} us   PyTorch {t_torch * 1e6:8.1f} us   "
          f"ratio {t_db / t_torch:.2f}")


if __name__ == "__main__":
    main()
