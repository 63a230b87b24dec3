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


def _channel_sum(a3):
    """sum over axes 0 and 2 of a3: (N, C, L) -> (C,), one pass (einsum is about twice as fast
    as ``sum(axis=(0, 2))`` here, with the same float32 accuracy)."""
    return get_array_module(a3).einsum("ncl->c", a3)


def _channel_dot(a3, b3):
    """sum over axes 0 and 2 of a3 * b3: (N, C, L) twice -> (C,), without the product array."""
    return get_array_module(a3).einsum("ncl,ncl->c", a3, b3)


class BatchNorm(Function):
    """Batch normalization over every axis but the channel axis 1.

    x: (N, C) or (N, C, H, W) (any (N, C, ...)); gamma, beta: (C,). With m = N*H*W values per
    channel, in training

        mean = sum(x) / m,  c = x - mean,  var = sum(c^2) / m (biased),  inv_std = 1/sqrt(var + eps)
        y = c * (gamma inv_std) + beta

    and ``running_mean`` / ``running_var`` (arrays, (C,)) are updated in place:
    r = (1 - momentum) r + momentum * batch_stat, with the unbiased var (m / (m - 1) var), as
    PyTorch does. In evaluation y = x * (gamma inv_std) + (beta - mean gamma inv_std) with the
    running statistics. All sums are per channel over (N, H, W), computed on an (N, C, H*W) view
    without transposing copies. Backward (training), with sg = sum(g), sgc = sum(g * c):

        dx = gamma inv_std * (g - sg / m - c * inv_std^2 * sgc / m)
        dgamma = inv_std * sgc,  dbeta = sg

    (evaluation: dx = g * gamma * inv_std). Saves c (training) or x (evaluation).
    """

    def forward(self, x, gamma, beta, running_mean=None, running_var=None, training=True,
                momentum=0.1, eps=1e-5):
        xp = get_array_module(x)
        dt = x.dtype.type
        n, c = x.shape[0], x.shape[1]
        x3 = x.reshape(n, c, -1)  # (N, C, L): a view when x is contiguous
        m = n * x3.shape[2]
        y = xp.empty(x.shape, dtype=x.dtype)
        y3 = y.reshape(n, c, -1)
        if training:
            if m <= 1:
                raise ValueError(
                    f"batch norm in training needs more than 1 value per channel, got input "
                    f"{tuple(x.shape)}"
                )
            mean = _channel_sum(x3) / dt(m)
            centered = x3 - mean[:, None]
            var = _channel_dot(centered, centered) / dt(m)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * m / (m - 1)) * var
        else:
            mean = running_mean.astype(x.dtype, copy=False)
            var = running_var.astype(x.dtype, copy=False)
            centered = None
        inv_std = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        scale = (gamma * inv_std).astype(x.dtype, copy=False)
        if training:
            xp.multiply(centered, scale[:, None], out=y3)
            y3 += beta.astype(x.dtype, copy=False)[:, None]
        else:
            xp.multiply(x3, scale[:, None], out=y3)
            y3 += (beta - mean * scale).astype(x.dtype, copy=False)[:, None]
            self.x3, self.mean = x3, mean
        self.centered, self.inv_std, self.scale = centered, inv_std, scale
        self.m, self.training = m, training
        return y

    def backward(self, g):
        xp = get_array_module(g)
        needs = self.needs_input_grad
        n, c = g.shape[0], g.shape[1]
        g3 = g.reshape(n, c, -1)
        inv_std, m = self.inv_std, self.m
        centered = self.centered
        if not self.training and needs[1]:
            centered = self.x3 - self.mean[:, None]
        sg = _channel_sum(g3) if needs[2] or (needs[0] and self.training) else None
        sgc = _channel_dot(g3, centered) if needs[1] or (needs[0] and self.training) else None
        gx = None
        if needs[0]:
            gx = xp.empty(g.shape, dtype=g.dtype)
            gx3 = gx.reshape(n, c, -1)
            if self.training:  # gx = a * (c * k + g) + d: four passes, no temporary
                k = (-(inv_std * inv_std) * sgc / m).astype(g.dtype, copy=False)
                xp.multiply(centered, k[:, None], out=gx3)
                gx3 += g3
                gx3 *= self.scale[:, None]
                gx3 += (-self.scale * sg / m).astype(g.dtype, copy=False)[:, None]
            else:
                xp.multiply(g3, self.scale[:, None], out=gx3)
        ggamma = sgc * inv_std if needs[1] else None
        gbeta = sg if needs[2] else None
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
