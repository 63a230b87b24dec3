"""Training-step speed of an LSTM layer, deepbasic vs PyTorch (CPU), in one process, float32.

The step: zero_grad, forward of one LSTM layer over a whole sequence (batch 64, 100 time steps,
input 128, hidden 256 by default, zero initial states, time-major as PyTorch's default), a
mean-squared-error loss on all the outputs against a fixed random target, backward (gradients
of the input and every parameter). deepbasic runs its fused sequence op (the input projection
of all steps as one matrix product, one (N, H) @ (H, 4H) product per step, backward written
out); PyTorch runs torch.nn.LSTM (its CPU kernel plus autograd). Both get the same weights (the
deepbasic state dict copied into torch; the outputs are compared first) and the same number of
threads (``--threads``: PyTorch's intra-op threads and NumPy's BLAS threads through
threadpoolctl). After a warmup the two steps alternate within each repeat, so a change in
machine load hits both; printed: the median wall time per step (best in brackets), the median
process CPU time per step, and the ratios deepbasic / PyTorch, then the same for the forward
pass alone (under no_grad). On a machine shared with other jobs the CPU times at
``--threads 1`` are the steadiest comparison: with several threads each of the 200 small
per-step products waits for every thread, and idle threads that spin (OpenBLAS, PyTorch's
OpenMP) take cores from the working ones (``--passive`` makes them sleep instead).
``--modes gru rnn`` times those layers too.

    python benchmarks/bench_lstm.py [--repeats 20] [--threads 1] [--batch 64] [--steps 100]
        [--input 128] [--hidden 256] [--modes lstm gru rnn] [--passive]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np
from _timing import alternate

STEP_TARGET = 1.5  # the chapter's target: deepbasic / PyTorch training-step time
ENV_PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}


def set_threads(n: int) -> str:
    """The same thread count for PyTorch and NumPy's BLAS; a description."""
    import torch

    from deepbasic import backend

    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    torch.set_num_threads(n)
    return f"torch threads {torch.get_num_threads()}, NumPy BLAS {backend.blas_threads()}"


def setup(mode: str, batch: int, steps: int, d_in: int, hidden: int):
    """deepbasic and torch (train step, forward-only step) pairs on the same weights and data;
    also the largest relative difference of their outputs."""
    import torch

    import deepbasic as db
    from deepbasic import nn
    from deepbasic.nn import functional as F

    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, batch, d_in), dtype=np.float32)
    target = rng.standard_normal((steps, batch, hidden), dtype=np.float32)
    db.manual_seed(0)
    cls = {"lstm": (nn.LSTM, torch.nn.LSTM), "gru": (nn.GRU, torch.nn.GRU),
           "rnn": (nn.RNN, torch.nn.RNN)}[mode]
    model, tmodel = cls[0](d_in, hidden), cls[1](d_in, hidden)
    tmodel.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    xt, yt = db.tensor(x, requires_grad=True), db.tensor(target)
    txt, tyt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(target)

    def db_step():
        model.zero_grad()
        xt.grad = None
        out, _ = model(xt)
        loss = F.mse_loss(out, yt)
        loss.backward()
        return loss

    def torch_step():
        tmodel.zero_grad()
        txt.grad = None
        out, _ = tmodel(txt)
        loss = torch.nn.functional.mse_loss(out, tyt)
        loss.backward()
        return loss

    def db_forward():
        with db.no_grad():
            return model(xt)[0]

    def torch_forward():
        with torch.no_grad():
            return tmodel(txt)[0]

    a, b = db_forward().numpy(), torch_forward().numpy()
    err = float(np.abs(a - b).max() / max(1e-6, np.abs(b).max()))
    db_step(), torch_step()
    gerr = float(np.abs(model.weight_hh_l0.grad - tmodel.weight_hh_l0.grad.numpy()).max()
                 / max(1e-12, np.abs(tmodel.weight_hh_l0.grad.numpy()).max()))
    return (db_step, torch_step), (db_forward, torch_forward), max(err, gerr)


def gemm_flops(mode: str, batch: int, steps: int, d_in: int, hidden: int) -> float:
    """Multiply-add FLOPs of one training step's matrix products (forward: input and recurrent
    projections; backward: twice that, for the weight and the input / state gradients)."""
    g = {"lstm": 4, "gru": 3, "rnn": 1}[mode] * hidden
    forward = 2.0 * steps * batch * g * (d_in + hidden)
    return 3 * forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--input", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--modes", nargs="+", default=["lstm"], choices=["lstm", "gru", "rnn"])
    parser.add_argument("--passive", action="store_true",
                        help="idle threads sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE "
                             "for PyTorch, OPENBLAS_THREAD_TIMEOUT=4 for NumPy); they must be "
                             "set before the libraries load, so the script restarts itself")
    args = parser.parse_args()
    if args.passive and any(os.environ.get(k) != v for k, v in ENV_PASSIVE.items()):
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:],
                  dict(os.environ, **ENV_PASSIVE))

    threads = set_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    shape = (f"batch {args.batch}, {args.steps} steps, input {args.input}, hidden "
             f"{args.hidden}")
    print(f"Recurrent layer training step (forward + MSE loss on all outputs + backward), "
          f"{shape}, float32; {threads}; median of {args.repeats} (best in brackets); "
          f"load average {load:.2f} on {cores} cores"
          f"{'; idle threads passive' if args.passive else ''}")
    print(f"  {'':16s} {'wall ms: deepbasic':>20s} {'PyTorch':>17s} {'ratio':>5s}   "
          f"{'CPU ms: deepbasic':>17s} {'PyTorch':>7s} {'ratio':>5s}")
    verdicts = []
    for mode in args.modes:
        (db_step, t_step), (db_fwd, t_fwd), err = setup(mode, args.batch, args.steps,
                                                        args.input, args.hidden)
        flops = gemm_flops(mode, args.batch, args.steps, args.input, args.hidden)
        for what, pair in (("step", (db_step, t_step)), ("forward only", (db_fwd, t_fwd))):
            cpu = {}
            wall = alternate({"db": pair[0], "torch": pair[1]}, args.repeats, cpu=cpu)
            a, b = statistics.median(wall["db"]), statistics.median(wall["torch"])
            ca, cb = statistics.median(cpu["db"]), statistics.median(cpu["torch"])
            label = f"{mode.upper()} {what}"
            print(f"  {label:16s} {a * 1e3:7.1f} ({min(wall['db']) * 1e3:7.1f}) {b * 1e3:7.1f} "
                  f"({min(wall['torch']) * 1e3:7.1f}) {a / b:5.2f}   {ca * 1e3:17.1f} "
                  f"{cb * 1e3:7.1f} {ca / cb:5.2f}")
            if what == "step":
                verdicts.append((mode, a / b, ca / cb, flops / a / 1e9, flops / b / 1e9))
        print(f"  ({mode.upper()}: outputs and weight_hh gradient agree to {err:.1e} relative)")
    print("  (CPU ms: the process's CPU time per step, all its threads)")
    for mode, ratio, cpu_ratio, rate, trate in verdicts:
        print(f"  {mode.upper()} step: matrix products {rate:.1f} GFLOP/s deepbasic, "
              f"{trate:.1f} PyTorch (of the whole step's time)")
        print(f"  target deepbasic / PyTorch <= {STEP_TARGET}: {mode.upper()} "
              f"{'met' if ratio <= STEP_TARGET else 'NOT met'} in wall time ({ratio:.2f}), "
              f"{'met' if cpu_ratio <= STEP_TARGET else 'NOT met'} in CPU time ({cpu_ratio:.2f})")


if __name__ == "__main__":
    main()
