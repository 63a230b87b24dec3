"""Matrix products: batched ``matmul`` and the fused affine map of a Linear layer."""
from __future__ import annotations

from deepbasic.backend import get_array_module
from deepbasic.ops.im2col import blas_threads_for
from deepbasic.tensor import Function, Tensor, unbroadcast


def _work(a, b) -> int:
    """Multiply-adds of ``a @ b`` (a: (..., n, k), b: (..., k, m)), at least."""
    return max(a.size * b.shape[-1], b.size * a.shape[-2])


class MatMul(Function):
    """Z = A @ B over the last two axes (leading axes broadcast).

    A: (..., n, k), B: (..., k, m) -> Z: (..., n, m);  dA = dZ @ B^T,  dB = A^T @ dZ.
    """

    def forward(self, a, b):
        self.a, self.b = a, b
        blas_threads_for(_work(a, b))  # a large product gets the BLAS's threads back
        return a @ b

    def backward(self, g):
        a, b = self.a, self.b
        blas_threads_for(_work(a, b))
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(g @ b.swapaxes(-1, -2), a.shape)
        if self.needs_input_grad[1]:
            gb = unbroadcast(a.swapaxes(-1, -2) @ g, b.shape)
        return ga, gb


def _shape_str(t) -> str:
    return str(tuple(t.shape))


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules (1-D operands are promoted and the axis dropped)."""
    a = a if isinstance(a, Tensor) else Tensor(a)
    b = b if isinstance(b, Tensor) else Tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dim, got {_shape_str(a)} @ {_shape_str(b)}")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ValueError(
            f"matmul: {_shape_str(a)} @ {_shape_str(b)}: inner sizes {ka} and {kb} differ"
        )
    if a.ndim == 1 and b.ndim == 1:  # dot product: (1, k) @ (k, 1) -> ()
        return matmul(a.unsqueeze(0), b.unsqueeze(-1)).reshape(())
    if a.ndim == 1:
        return matmul(a.unsqueeze(0), b).squeeze(-2)
    if b.ndim == 1:
        return matmul(a, b.unsqueeze(-1)).squeeze(-1)
    try:
        return MatMul.apply(a, b)
    except ValueError:
        raise ValueError(
            f"matmul: {_shape_str(a)} @ {_shape_str(b)}: batch dims do not broadcast"
        ) from None


class Linear(Function):
    """y = x W^T + b, the affine map of a fully connected layer.

    x: (N, in) or (..., in), W: (out, in), b: (out,) -> y: (..., out).
    dx = dy W,  dW = dy^T x (summed over leading axes),  db = sum of dy over leading axes.
    Leading axes are flattened into one, so (N, T, in) input (a temporal affine layer) is one
    (N*T, in) @ (in, out) product rather than N batched ones (1.5x faster in one measurement).
    """

    def forward(self, x, w, b=None):
        self.x, self.w = x, w
        blas_threads_for(x.size * w.shape[0])  # a large product gets the BLAS's threads back
        y = x.reshape(-1, x.shape[-1]) @ w.T
        if b is not None:
            y += b
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, g):
        x, w = self.x, self.w
        blas_threads_for(x.size * w.shape[0])
        needs = self.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g2 @ w).reshape(x.shape) if needs[0] else None
        gw = g2.T @ x.reshape(-1, x.shape[-1]) if needs[1] else None
        if len(needs) > 2:
            # a row of ones times dy: one BLAS GEMV, ~2.5x faster than sum(axis=0) here
            gb = get_array_module(g2).ones(g2.shape[0], dtype=g2.dtype) @ g2 if needs[2] else None
            return gx, gw, gb
        return gx, gw


def linear(x, weight, bias=None) -> Tensor:
    """y = x W^T + b (PyTorch's F.linear). x: (..., in), W: (out, in), b: (out,)."""
    if x.shape[-1] != weight.shape[-1]:
        raise ValueError(
            f"linear: input has {x.shape[-1]} features (shape {_shape_str(x)}) but weight "
            f"{_shape_str(weight)} expects {weight.shape[-1]}"
        )
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)
