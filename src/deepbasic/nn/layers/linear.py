"""Fully connected layers."""
from __future__ import annotations

import math

from deepbasic import init
from deepbasic.creation import zeros
from deepbasic.nn import functional as F
from deepbasic.nn.module import Module, Parameter


class Linear(Module):
    """y = x W^T + b.  x: (N, in_features) or (..., in_features) -> y: (..., out_features).

    Any leading axes are kept, so on (N, T, D) sequence features (an RNN's hidden states) it is
    the temporal affine layer: the same W and b at every time step, y[n, t] = x[n, t] W^T + b.

    weight: (out_features, in_features), bias: (out_features,). Default init (PyTorch's): both
    U(-1/sqrt(in_features), 1/sqrt(in_features)); use ``deepbasic.init`` for He or Xavier.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(
                f"Linear: sizes must be positive, got in_features={in_features}, "
                f"out_features={out_features}"
            )
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(zeros(out_features, in_features, dtype=dtype))
        bound = 1.0 / math.sqrt(in_features)
        init.uniform_(self.weight, -bound, bound)
        if bias:
            self.bias = Parameter(zeros(out_features, dtype=dtype))
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear: expected input (..., {self.in_features}), got shape {tuple(x.shape)}"
            )
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
