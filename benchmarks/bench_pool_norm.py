"""Speed of pooling and batch normalization, deepbasic vs PyTorch (CPU), in one process with the
same threads, float32.

Each row is a training-style step on x: (64, 64, 32, 32) that requires grad: forward, then
backward of a fixed upstream gradient (x.grad reset each time). Rows: MaxPool2d 2x2 stride 2
(non-overlapping), MaxPool2d 3x3 stride 2 (overlapping, AlexNet / GoogLeNet), BatchNorm2d in
training mode; plus their forward passes alone under no_grad. The two libraries' steps alternate
within each repeat, so a change in machine load hits both; prints medians and the ratio
deepbasic / PyTorch.

    python benchmarks/bench_pool_norm.py [--repeats 30] [--threads N] [--batch 64]
"""
from __future__ import annotations

import argparse
import os
import statistics

import numpy as np
from _timing import alternate


def cases(x_np, rng):
    """(name, deepbasic step, torch step, deepbasic forward, torch forward) for each row."""
    import torch

    import deepbasic as db
    from deepbasic.nn.layers.normalization import BatchNorm2d
    from deepbasic.nn.layers.pooling import MaxPool2d

    x = db.tensor(x_np, requires_grad=True)
    tx = torch.from_numpy(x_np.copy()).requires_grad_(True)
    out = []
    for k in (2, 3):
        m, tm = MaxPool2d(k, 2), torch.nn.MaxPool2d(k, 2)
        out.append((f"MaxPool2d {k}x{k} stride 2", m, tm))
    bn, tbn = BatchNorm2d(x_np.shape[1]), torch.nn.BatchNorm2d(x_np.shape[1])
    out.append(("BatchNorm2d train", bn, tbn))

    rows = []
    for name, m, tm in out:
        with db.no_grad():
            shape = m(x).shape
        g_np = rng.standard_normal(shape, dtype=np.float32)
        g, tg = db.tensor(g_np), torch.from_numpy(g_np.copy())

        def step(m=m, g=g):
            x.grad = None
            m.zero_grad()
            m(x).backward(g)

        def tstep(tm=tm, tg=tg):
            tx.grad = None
            tm.zero_grad()
            tm(tx).backward(tg)

        def fwd(m=m):
            with db.no_grad():
                m(x)

        def tfwd(tm=tm):
            with torch.no_grad():
                tm(tx)

        rows.append((name, step, tstep, fwd, tfwd))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((args.batch, 64, 32, 32), dtype=np.float32)
    print(f"x: {x_np.shape} float32, torch threads {torch.get_num_threads()}, "
          f"median of {args.repeats} alternating repeats")
    print(f"  {'':44s} {'deepbasic':>11s} {'PyTorch':>11s} {'ratio':>6s}")
    for name, step, tstep, fwd, tfwd in cases(x_np, rng):
        for label, a, b in ((f"{name}, forward + backward", step, tstep),
                            (f"{name}, forward only", fwd, tfwd)):
            t = alternate({"db": a, "torch": b}, args.repeats)
            t_db, t_torch = statistics.median(t["db"]), statistics.median(t["torch"])
            print(f"  {label:44s} {t_db * 1e3:8.2f} ms {t_torch * 1e3:8.2f} ms "
                  f"{t_db / t_torch:6.2f}")


if __name__ == "__main__":
    main()
