"""Inverted dropout: zero each value with probability p and scale the rest by 1 / (1 - p), so the
expected activation is unchanged and evaluation needs no rescaling.
"""
from __future__ import annotations

from deepbasic import backend
from deepbasic.tensor import Function


class Dropout(Function):
    """y = x * mask / (1 - p), mask ~ Bernoulli(1 - p);  dx = dy * mask / (1 - p).

    ``channel_axes``: when given (e.g. (0, 1) for Dropout2d on (N, C, H, W)), one mask value is
    drawn per (example, channel) and shared over the remaining axes.
    """

    def forward(self, x, p=0.5, channel_axes=None):
        xp = backend.get_array_module(x)
        shape = x.shape
        if channel_axes is not None:
            shape = tuple(n if i in channel_axes else 1 for i, n in enumerate(x.shape))
        keep = backend.random_uniform(shape, xp, x.dtype) >= p
        self.mask = keep * x.dtype.type(1.0 / (1.0 - p))
        return x * self.mask

    def backward(self, g):
        return g * self.mask
