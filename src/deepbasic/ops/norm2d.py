"""Local response normalization (AlexNet): each activation divided by the energy of its
neighbouring channels at the same position.

PyTorch's formula, with n = ``size`` and the window of channel c being c - n//2 .. c + (n-1)//2
(channels outside 0..C-1 count as zeros):

    D_c = k + (alpha / n) * sum_{c' in window(c)} x_{c'}^2,         y_c = x_c / D_c^beta.

(alpha is divided by n: the window's squares are averaged, not summed.) The gradient:

    dx_j = g_j / D_j^beta - (2 alpha beta / n) x_j * sum_{c : j in window(c)} g_c y_c / D_c,

where j lies in window(c) for c = j - (n-1)//2 .. j + n//2 (the transposed window).
"""
from __future__ import annotations

from deepbasic.tensor import Function, Tensor


def channel_window_sum(a, before: int, after: int):
    """s[:, c] = sum of a[:, c - before .. c + after] along axis 1, zeros outside. a: (N, C, ...).
    A loop over the before + after + 1 channel offsets, each one slice addition."""
    c = a.shape[1]
    s = a.copy()
    for o in range(-before, after + 1):
        lo, hi = max(0, -o), min(c, c - o)
        if o == 0 or lo >= hi:
            continue
        s[:, lo:hi] += a[:, lo + o:hi + o]
    return s


class LocalResponseNorm(Function):
    """y = x / (k + alpha/n * windowed sum of x^2 over channels)^beta (see the module docstring).

    x: (N, C, ...) -> y: same shape. Saves x, y, D and D^beta.
    """

    def forward(self, x, size=5, alpha=1e-4, beta=0.75, k=1.0):
        dt = x.dtype.type
        s = channel_window_sum(x * x, size // 2, (size - 1) // 2)
        s /= dt(size)  # the window's mean square, as PyTorch's average pooling over channels
        s *= dt(alpha)
        s += dt(k)  # s is now D
        dpow = s ** dt(beta)
        y = x / dpow
        self.x, self.y, self.d, self.dpow = x, y, s, dpow
        self.size, self.coef = size, dt(2.0 * alpha * beta / size)
        return y

    def backward(self, g):
        t = channel_window_sum(g * self.y / self.d, (self.size - 1) // 2, self.size // 2)
        t *= self.x
        t *= self.coef
        return g / self.dpow - t


def local_response_norm(x, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
    """Local response normalization over channels. x: (N, C, ...) with at least 3 dims.

    size: the number of neighbouring channels in the window (including the channel itself).
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim < 3:
        raise ValueError(f"local_response_norm: expected an input with 3 or more dims (N, C, ...), "
                         f"got shape {tuple(x.shape)}")
    if int(size) < 1:
        raise ValueError(f"local_response_norm: size must be >= 1, got {size}")
    return LocalResponseNorm.apply(x, size=int(size), alpha=float(alpha), beta=float(beta),
                                   k=float(k))
