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
