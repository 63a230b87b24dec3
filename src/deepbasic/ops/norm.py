"""Normalization ops: batch normalization and layer normalization, fused with their backward.

Both standardize x over some axes, x_hat = (x - mean) / sqrt(var + eps), then scale and shift:
y = gamma * x_hat + beta. With m the number of values averaged, the input gradient is

    dx = (1 / (m sqrt(var + eps))) * (m dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat)),
    dx_hat = dy * gamma,  dgamma = sum(dy * x_hat),  dbeta = sum(dy).
"""
from __future__ import annotations

import math

from deepbasic.backend import get_array_module
from deepbasic.tensor import Function


def _standardized_grad(gxh, xhat, inv_std, axes, m):
    """dx from dx_hat when mean and var were computed from x over ``axes`` (m values)."""
    s1 = gxh.sum(axis=axes, keepdims=True)
    s2 = (gxh * xhat).sum(axis=axes, keepdims=True)
    return (gxh * m - s1 - xhat * s2) * (inv_std / m)


class BatchNorm(Function):
    """Batch normalization over every axis but the channel axis 1.

    x: (N, C) or (N, C, H, W); gamma, beta: (C,). In training, mean and var are the batch's
    (biased var), and ``running_mean`` / ``running_var`` (arrays, (C,)) are updated in place:
    r = (1 - momentum) r + momentum * batch_stat, with the unbiased var, as PyTorch does.
    In evaluation the running statistics are used, and dx = dy * gamma / sqrt(running_var + eps).
    """

    def forward(self, x, gamma, beta, running_mean=None, running_var=None, training=True,
                momentum=0.1, eps=1e-5):
        xp = get_array_module(x)
        axes = (0,) + tuple(range(2, x.ndim))
        bshape = (1, -1) + (1,) * (x.ndim - 2)
        m = math.prod(x.shape[a] for a in axes)
        if training:
            if m <= 1:
                raise ValueError(
                    f"batch norm in training needs more than 1 value per channel, got input "
                    f"{tuple(x.shape)}"
                )
            mean = x.mean(axis=axes)
            centered = x - mean.reshape(bshape)
            var = (centered * centered).mean(axis=axes)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * m / (m - 1)) * var
        else:
            mean, var = running_mean, running_var
            centered = x - mean.reshape(bshape)
        inv_std = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False).reshape(bshape)
        xhat = centered * inv_std
        self.xhat, self.inv_std, self.gamma = xhat, inv_std, gamma
        self.axes, self.bshape, self.m, self.training = axes, bshape, m, training
        return xhat * gamma.reshape(bshape) + beta.reshape(bshape)

    def backward(self, g):
        needs = self.needs_input_grad
        axes, xhat = self.axes, self.xhat
        gx = None
        if needs[0]:
            gxh = g * self.gamma.reshape(self.bshape)
            if self.training:
                gx = _standardized_grad(gxh, xhat, self.inv_std, axes, self.m)
            else:
                gx = gxh * self.inv_std
        ggamma = (g * xhat).sum(axis=axes) if needs[1] else None
        gbeta = g.sum(axis=axes) if needs[2] else None
        return gx, ggamma, gbeta


class LayerNorm(Function):
    """Layer normalization over the last ``k`` axes of each example.

    x: (..., *normalized_shape); gamma, beta: normalized_shape. Statistics are per example
    (biased var), identical in training and evaluation.
    """

    def forward(self, x, gamma, beta, k=1, eps=1e-5):
        xp = get_array_module(x)
        axes = tuple(range(x.ndim - k, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=axes, keepdims=True)
        inv_std = 1.0 / xp.sqrt(var + eps)
        xhat = centered * inv_std
        self.xhat, self.inv_std, self.gamma, self.axes = xhat, inv_std, gamma, axes
        self.m = math.prod(x.shape[a] for a in axes)
        return xhat * gamma + beta

    def backward(self, g):
        needs = self.needs_input_grad
        lead = tuple(range(g.ndim - len(self.axes)))
        gx = None
        if needs[0]:
            gx = _standardized_grad(g * self.gamma, self.xhat, self.inv_std, self.axes, self.m)
        ggamma = (g * self.xhat).sum(axis=lead) if needs[1] else None
        gbeta = g.sum(axis=lead) if needs[2] else None
        return gx, ggamma, gbeta
