"""What bounds a NumPy convolution on the CPU: the GEMMs of ResNet-20's layers, and a convolution
without im2col. Two measurements, one thread, float32, for the three stages of ResNet-20 (batch
64, 3x3, padding 1: 16 channels at 32x32, 32 at 16x16, 64 at 8x8):

1. The matrix product of each layer's im2col convolution alone, (F, 9C) @ (9C, N*H*W), by
   NumPy's BLAS in both orientations (W @ cols and cols^T @ W^T) and by PyTorch's ``mm`` on the
   same matrices, beside the machine's 2048^3 SGEMM rate: how much of the convolution's gap to
   PyTorch is the BLAS itself.
2. A shift-and-GEMM convolution that copies the input once instead of nine times: the padded
   input goes into a channels-last buffer (N*Hp*Wp, C); for kernel row i and output rows q = r
   (mod 3), the three taps (i, 0..2) of all those rows are ONE contiguous (rows/3, 3C) matrix of
   that buffer (a view, no copy), multiplied by the (3C, F) slice of the weights; nine GEMMs of
   K = 3C add up into a channels-last output (with Wp - W garbage columns per row) that is
   cropped and transposed back. Timed against deepbasic's conv2d forward and PyTorch's, and
   checked against deepbasic's.

    python benchmarks/bench_conv_limits.py [--repeats 15]
"""
from __future__ import annotations

import argparse
import importlib
import statistics

import numpy as np
from _timing import alternate

STAGES = [(64, 16, 32, 16), (64, 32, 16, 32), (64, 64, 8, 64)]  # N, C, H (= W), F


def shift_conv3x3(x, w):
    """3x3 convolution, stride 1, padding 1, without im2col. x: (N, C, H, W), w: (F, C, 3, 3)
    -> (N, F, H, W)."""
    n, c, h, wd = x.shape
    f = w.shape[0]
    hp, wp = h + 2, wd + 2
    q = n * hp * wp  # output rows in padded coordinates (garbage where the window leaves)
    q3 = -(-q // 3)
    buf = np.zeros((3 * q3 + 2 * wp + 6, c), np.float32)  # room for the last rows' windows
    buf[:q].reshape(n, hp, wp, c)[:, 1:h + 1, 1:wd + 1] = x.transpose(0, 2, 3, 1)
    flat = buf.reshape(-1)
    w_rows = [np.ascontiguousarray(w[:, :, i, :].transpose(2, 1, 0).reshape(3 * c, f))
              for i in range(3)]  # rows (j, c) of kernel row i
    out = np.empty((3 * q3, f), np.float32)
    tmp = np.empty((q3, f), np.float32)
    for r in range(3):
        o = out[r::3]  # rows q = r (mod 3): a strided (q3, F) matrix the BLAS can write
        for i in range(3):
            start = (r + i * wp) * c
            m = flat[start:start + 3 * q3 * c].reshape(q3, 3 * c)  # taps (i, 0..2), a view
            if i == 0:
                np.matmul(m, w_rows[i], out=o)
            else:
                o += np.matmul(m, w_rows[i], out=tmp)
    y = out[:q].reshape(n, hp, wp, f)[:, :h, :wd].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    import torch

    import deepbasic as db
    from deepbasic.nn import functional as F
    from _timing import gemm_rate

    importlib.import_module("deepbasic.ops.im2col").set_copy_threads(1)
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    np_rate, torch_rate = gemm_rate(5)
    print(f"one thread, float32; SGEMM 2048^3: NumPy {np_rate:.0f} GFLOP/s, PyTorch "
          f"{torch_rate:.0f} GFLOP/s")
    rng = np.random.default_rng(0)
    print("1. the im2col GEMM alone, ms (GFLOP/s)")
    for n, c, h, f in STAGES:
        k, m = 9 * c, n * h * h
        w = rng.standard_normal((f, k), dtype=np.float32)
        cols = rng.standard_normal((k, m), dtype=np.float32)
        cols_t = np.ascontiguousarray(cols.T)
        out, out_t = np.empty((f, m), np.float32), np.empty((m, f), np.float32)
        tw, tc = torch.from_numpy(w), torch.from_numpy(cols)
        t = alternate({"W @ cols": lambda: np.matmul(w, cols, out=out),
                       "cols^T @ W^T": lambda: np.matmul(cols_t, w.T, out=out_t),
                       "torch mm": lambda: torch.mm(tw, tc)}, args.repeats)
        flops = 2.0 * f * k * m
        row = "   ".join(f"{name} {1e3 * statistics.median(v):6.2f} "
                         f"({flops / statistics.median(v) / 1e9:4.0f})" for name, v in t.items())
        print(f"  ({f:2d} x {k:3d}) @ ({k:3d} x {m:5d}):   {row}")
    print("2. conv2d forward 3x3 pad 1, ms: deepbasic im2col + GEMM, shift-and-GEMM, PyTorch")
    for n, c, h, f in STAGES:
        x = rng.standard_normal((n, c, h, h), dtype=np.float32)
        w = (0.1 * rng.standard_normal((f, c, 3, 3))).astype(np.float32)
        xt, wt = db.tensor(x), db.tensor(w)
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        ref = F.conv2d(xt, wt, padding=1).numpy()
        err = float(np.abs(shift_conv3x3(x, w) - ref).max() / np.abs(ref).max())

        def db_fwd():
            with db.no_grad():
                F.conv2d(xt, wt, padding=1)

        def torch_fwd():
            with torch.no_grad():
                torch.nn.functional.conv2d(tx, tw, padding=1)

        t = alternate({"im2col": db_fwd, "shift": lambda: shift_conv3x3(x, w),
                       "torch": torch_fwd}, args.repeats)
        a, b, p = (statistics.median(t[k]) * 1e3 for k in ("im2col", "shift", "torch"))
        print(f"  N={n} C=F={c} {h}x{h}:  im2col {a:6.2f}   shift {b:6.2f} ({b / a:.2f}x)   "
              f"PyTorch {p:6.2f}   (shift vs im2col: relative difference {err:.1e})")


if __name__ == "__main__":
    main()
