"""A multilayer perceptron classifier."""
from __future__ import annotations

import math

from deepbasic import init, nn


class MLP(nn.Module):
    """Fully connected ReLU network: flatten -> [Linear -> (BatchNorm) -> ReLU -> (Dropout)] * k -> Linear.

    x: (N, *input_shape) -> scores (N, num_classes). Hidden weights use He (Kaiming) normal init
    for ReLU, the output layer Xavier; biases start at 0.
    """

    def __init__(self, in_features: int, num_classes: int, hidden=(256, 128),
                 batch_norm: bool = False, dropout: float = 0.0):
        super().__init__()
        if isinstance(hidden, int):
            hidden = (hidden,)
        self.in_features, self.num_classes, self.hidden = in_features, num_classes, tuple(hidden)
        layers = [nn.Flatten()]
        width = in_features
        for h in self.hidden:
            layers.append(nn.Linear(width, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)
        for m in self.net:
            if isinstance(m, nn.Linear):
                if m is layers[-1]:
                    init.xavier_normal_(m.weight)
                else:
                    init.kaiming_normal_(m.weight, nonlinearity="relu")
                init.zeros_(m.bias)

    def forward(self, x):
        n = math.prod(x.shape[1:])
        if n != self.in_features:
            raise ValueError(
                f"MLP: expected {self.in_features} input features per example, got input shape "
                f"{tuple(x.shape)} ({n} features)"
            )
        return self.net(x)
