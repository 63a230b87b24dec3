"""Would Winograd's F(2x2, 3x3) beat im2col + GEMM in NumPy? A measured prototype.

Winograd's minimal filtering computes each 2x2 block of a 3x3 convolution's output from a 4x4
tile of the input with 16 multiplies instead of 36: V = B^T d B (input transform, additions
only), M = U . V with U = G g G^T (the transformed filter; per tile position one (F x C) @ (C x
tiles) GEMM, 16 of them), Y = A^T M A (output transform). The multiply count falls 2.25x; the
transforms are elementwise passes over the whole input and output. This script times a plain
NumPy version of it against deepbasic's conv2d forward on a ResNet-20 stage-1 layer (N=64,
C=F=16, 32x32, padding 1), one thread for both, and checks that they agree.

    python benchmarks/bench_winograd.py [--repeats 15]
"""
from __future__ import annotations

import argparse
import importlib
import statistics

import numpy as np
from _timing import alternate

# F(2x2, 3x3): Y = A^T [(G g G^T) * (B^T d B)] A
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)


def winograd_conv3x3(x, w):
    """3x3 convolution, stride 1, padding 1, by F(2x2, 3x3). x: (N, C, H, W), H and W even;
    w: (F, C, 3, 3) -> (N, F, H, W)."""
    n, c, h, wd = x.shape
    f = w.shape[0]
    th, tw = h // 2, wd // 2
    u = np.ascontiguousarray(np.einsum("ai,fcij,bj->abfc", G, w, G).reshape(16, f, c))
    xp = np.zeros((c, n, h + 2, wd + 2), np.float32)
    xp[:, :, 1:-1, 1:-1] = x.transpose(1, 0, 2, 3)
    d = [[xp[:, :, a:a + 2 * th:2, b:b + 2 * tw:2] for b in range(4)] for a in range(4)]
    # B^T d B with B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    rows = [[d[0][b] - d[2][b] for b in range(4)], [d[1][b] + d[2][b] for b in range(4)],
            [d[2][b] - d[1][b] for b in range(4)], [d[1][b] - d[3][b] for b in range(4)]]
    v = np.empty((16, c, n * th * tw), np.float32)
    for a, r in enumerate(rows):
        for b, col in enumerate((r[0] - r[2], r[1] + r[2], r[2] - r[1], r[1] - r[3])):
            v[4 * a + b] = col.reshape(c, -1)
    m = np.matmul(u, v).reshape(4, 4, f, n, th, tw)
    # A^T M A with A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]
    s = [[m[0][b] + m[1][b] + m[2][b] for b in range(4)],
         [m[1][b] - m[2][b] - m[3][b] for b in range(4)]]
    out = np.empty((n, f, h, wd), np.float32)
    for i, r in enumerate(s):
        out[:, :, i::2, 0::2] = (r[0] + r[1] + r[2]).transpose(1, 0, 2, 3)
        out[:, :, i::2, 1::2] = (r[1] - r[2] - r[3]).transpose(1, 0, 2, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    import deepbasic as db
    from deepbasic.nn import functional as F

    importlib.import_module("deepbasic.ops.im2col").set_copy_threads(1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 16, 32, 32)).astype(np.float32)
    w = (0.1 * rng.standard_normal((16, 16, 3, 3))).astype(np.float32)
    xt, wt = db.tensor(x), db.tensor(w)
    ref = F.conv2d(xt, wt, padding=1).numpy()
    err = float(np.abs(winograd_conv3x3(x, w) - ref).max())
    t = alternate({"im2col": lambda: F.conv2d(xt, wt, padding=1),
                   "winograd": lambda: winograd_conv3x3(x, w)}, args.repeats)
    a, b = statistics.median(t["im2col"]), statistics.median(t["winograd"])
    print(f"3x3 conv forward, N=64 C=F=16 32x32 pad 1, float32, one thread (max difference {err:.1e})")
    print(f"  deepbasic im2col + GEMM {1e3 * a:7.2f} ms   Winograd F(2x2,3x3) in NumPy "
          f"{1e3 * b:7.2f} ms   ratio {b / a:.2f}")


if __name__ == "__main__":
    main()
