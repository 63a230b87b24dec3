"""Conv2d speed, deepbasic vs PyTorch (CPU), in one process with the same threads, float32.

For each case: the forward pass alone (graph recorded, as in training) and forward + backward
(gradients of the input, weight and bias for a fixed upstream gradient). deepbasic and PyTorch
run alternately, after a warmup, and the median (and best) of the repeats are reported with the
ratio deepbasic / PyTorch. GFLOP/s counts the convolution's multiply-adds,
2 * N * F * (C / groups) * kH * kW * Ho * Wo per pass (x3 for forward + backward: forward, weight
gradient, input gradient), next to the machine's single-precision GEMM rate (a 2048^3 NumPy
matmul timed in this script), which bounds what im2col + GEMM can reach. ``--threads`` sets
PyTorch's threads, NumPy's BLAS threads (threadpoolctl) and deepbasic's im2col copy threads.
On a machine shared with other jobs the numbers move a lot (multi-threaded BLAS and OpenMP
suffer most): run it a few times, and compare with ``--threads 1``.

    python benchmarks/bench_conv.py [--repeats 10] [--threads N] [--quick]
"""
from __future__ import annotations

import argparse
import os
import statistics

import numpy as np
from _timing import alternate, gemm_rate

CASES = [
    # name, N, C, H, W, F, k, stride, padding
    ("3x3 pad 1", 64, 32, 32, 32, 64, 3, 1, 1),
    ("3x3 stride 2", 64, 64, 32, 32, 128, 3, 2, 1),
    ("1x1", 64, 64, 16, 16, 256, 1, 1, 0),
    ("3x3 small map", 64, 128, 8, 8, 128, 3, 1, 1),
]


def conv_case(N, C, H, W, F, k, stride, padding, repeats):
    import torch

    import deepbasic as db
    from deepbasic.nn.layers.conv import Conv2d

    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    tconv = torch.nn.Conv2d(C, F, k, stride, padding)
    conv = Conv2d(C, F, k, stride, padding)
    conv.load_state_dict({k_: v.detach().numpy().copy() for k_, v in tconv.state_dict().items()})
    tx = torch.from_numpy(x.copy()).requires_grad_()
    xt = db.tensor(x, requires_grad=True)
    out_shape = tuple(tconv(tx).shape)
    g = rng.standard_normal(out_shape, dtype=np.float32)
    tg, gt = torch.from_numpy(g), db.tensor(g)

    def db_fwd():
        return conv(xt)

    def torch_fwd():
        return tconv(tx)

    def db_step():
        conv.zero_grad()
        xt.grad = None
        conv(xt).backward(gt)

    def torch_step():
        tconv.zero_grad()
        tx.grad = None
        tconv(tx).backward(tg)

    fwd = alternate({"db": db_fwd, "torch": torch_fwd}, repeats)
    step = alternate({"db": db_step, "torch": torch_step}, repeats)
    # correctness of what was timed
    out, tout = conv(xt), tconv(tx)
    err = float(np.abs(out.numpy() - tout.detach().numpy()).max())
    flops = 2.0 * N * F * C * k * k * out_shape[2] * out_shape[3]
    return fwd, step, flops, err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="3 repeats (a smoke run)")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats

    import torch

    from deepbasic import backend

    torch.set_num_threads(args.threads)
    try:  # the same number of threads for NumPy's BLAS
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.threads, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    import importlib

    im2col = importlib.import_module("deepbasic.ops.im2col")  # the module: ops.im2col is a function

    im2col.set_copy_threads(args.threads)  # and for deepbasic's im2col / col2im copies
    np_rate, torch_rate = gemm_rate(repeats)
    print(f"Conv2d float32, torch threads {torch.get_num_threads()}, NumPy BLAS "
          f"{backend.blas_threads()}, deepbasic copy threads {im2col.get_copy_threads()}, "
          f"median of {repeats} (best in brackets)")
    print(f"single-precision GEMM 2048^3: NumPy {np_rate:6.1f} GFLOP/s   PyTorch {torch_rate:6.1f} "
          f"GFLOP/s")
    head = (f"{'case':15s} {'N,C,HxW -> F':22s} {'pass':9s} {'deepbasic ms':>17s} "
            f"{'PyTorch ms':>17s} {'ratio':>5s} {'db GF/s':>8s} {'pt GF/s':>8s}")
    print(head)
    print("-" * len(head))
    for name, N, C, H, W, F, k, s, p in CASES:
        fwd, step, flops, err = conv_case(N, C, H, W, F, k, s, p, repeats)
        shape = f"{N},{C},{H}x{W}->{F} s{s}"
        for label, t, passes in (("forward", fwd, 1), ("fwd+bwd", step, 3)):
            a, b = statistics.median(t["db"]), statistics.median(t["torch"])
            ab, bb = min(t["db"]), min(t["torch"])
            print(f"{name:15s} {shape:22s} {label:9s} {a * 1e3:7.1f} ({ab * 1e3:7.1f}) "
                  f"{b * 1e3:7.1f} ({bb * 1e3:7.1f}) {a / b:5.2f} {passes * flops / a / 1e9:8.1f} "
                  f"{passes * flops / b / 1e9:8.1f}")
        if err > 1e-3:
            print(f"  WARNING: outputs differ from PyTorch by {err:.2e}")


if __name__ == "__main__":
    main()
