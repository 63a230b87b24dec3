"""Dropout layers (inverted dropout: identity in evaluation mode)."""
from __future__ import annotations

from deepbasic.nn import functional as F
from deepbasic.nn.module import Module


class Dropout(Module):
    """Zero each value with probability p in training and scale the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(Module):
    """Channel dropout on (N, C, H, W): in training each whole feature map x[n, c] is zeroed
    with probability p (one draw per example and channel from the global generator) and the kept
    ones are scaled by 1/(1-p); identity in evaluation."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout2d: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
