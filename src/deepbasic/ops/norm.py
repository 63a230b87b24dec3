"""Normalization ops: batch normalization and layer normalization, fused with their backward.

Both standardize x over some axes, x_hat = (x - mean) / sqrt(var + eps), then scale and shift:
y = gamma * x_hat + beta. With m the number of values averaged, the input gradient is

    dx = (1 / (m sqrt(var + eps))) * (m dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat)),
    dx_hat = dy * gamma,  dgamma = sum(dy * x_hat),  dbeta = sum(dy).
"""
from __future__ import annotations

import math

import numpy as np

from deepbasic.backend import get_array_module
from deepbasic.ops import cuda_kernels
from deepbasic.ops.im2col import parallel_for
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


def _channel_parts(xp, x3, work_fn) -> None:
    """Call ``work_fn(c0, c1)`` on consecutive channel ranges of x3 (N, C, L) that together cover
    every channel: one range per copy thread for a large NumPy array (:func:`parallel_for`, the
    ranges write disjoint channels), else one range."""
    parallel_for(work_fn, x3.shape[1], x3.size, xp)


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

    (evaluation: dx = g * gamma * inv_std). Saves x itself (no copy: the graph keeps the input
    alive anyway) and the per-channel statistics.

    Speed and memory (training): no array of the input's size is saved (PyTorch keeps x too) and
    none is allocated besides the result: the forward pass forms c = x - mean in y's buffer,
    takes var from it, then scales and shifts it in place into y (five passes: sum, subtract,
    dot, multiply, add); the backward pass forms c again in dx's buffer (the two-pass sums stay
    accurate when the mean is far from zero) and turns it into dx in place (seven passes). The
    channels are split over the copy threads (:func:`~deepbasic.ops.im2col.parallel_for`), since
    NumPy runs each pass on one core.
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
        gamma = gamma.astype(x.dtype, copy=False)
        beta = beta.astype(x.dtype, copy=False)
        if training:
            if m <= 1:
                raise ValueError(
                    f"batch norm in training needs more than 1 value per channel, got input "
                    f"{tuple(x.shape)}"
                )
            if xp is not np:  # a GPU: the same passes fused into four kernels
                mean, var, inv_std, scale = cuda_kernels.batch_norm_train(
                    xp.ascontiguousarray(x3), gamma, beta, eps, y3)
            else:
                mean = xp.empty(c, dtype=x.dtype)
                var = xp.empty(c, dtype=x.dtype)
                inv_std = xp.empty(c, dtype=x.dtype)
                scale = xp.empty(c, dtype=x.dtype)

                def part(c0, c1):  # y holds c = x - mean, then becomes c * scale + beta
                    xc, yc = x3[:, c0:c1], y3[:, c0:c1]
                    mean[c0:c1] = _channel_sum(xc) / dt(m)
                    xp.subtract(xc, mean[c0:c1, None], out=yc)
                    var[c0:c1] = _channel_dot(yc, yc) / dt(m)
                    inv_std[c0:c1] = dt(1) / xp.sqrt(var[c0:c1] + dt(eps))
                    scale[c0:c1] = gamma[c0:c1] * inv_std[c0:c1]
                    yc *= scale[c0:c1, None]
                    yc += beta[c0:c1, None]

                _channel_parts(xp, x3, part)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * m / (m - 1)) * var
        else:
            mean = running_mean.astype(x.dtype, copy=False)
            var = running_var.astype(x.dtype, copy=False)
            inv_std = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
            scale = (gamma * inv_std).astype(x.dtype, copy=False)
            xp.multiply(x3, scale[:, None], out=y3)
            y3 += (beta - mean * scale).astype(x.dtype, copy=False)[:, None]
        self.x3, self.mean = x3, mean
        self.inv_std, self.scale = inv_std, scale
        self.m, self.training = m, training
        return y

    def backward(self, g):
        xp = get_array_module(g)
        needs = self.needs_input_grad
        n, c = g.shape[0], g.shape[1]
        g3 = g.reshape(n, c, -1)
        inv_std, m, mean, x3 = self.inv_std, self.m, self.mean, self.x3
        dt = g.dtype.type
        gx = xp.empty(g.shape, dtype=g.dtype) if needs[0] else None
        if not self.training:
            sg = _channel_sum(g3) if needs[2] else None
            sgc = _channel_dot(g3, x3 - mean[:, None]) if needs[1] else None
            if needs[0]:
                xp.multiply(g3, self.scale[:, None], out=gx.reshape(n, c, -1))
        elif xp is not np:  # a GPU: two channel sums and one pass for dx
            sg, sgc = cuda_kernels.batch_norm_train_backward(
                xp.ascontiguousarray(g3), x3, mean, inv_std, self.scale,
                gx.reshape(n, c, -1) if needs[0] else None)
        else:
            sg = xp.empty(c, dtype=g.dtype)
            sgc = xp.empty(c, dtype=g.dtype)
            gx3 = gx.reshape(n, c, -1) if needs[0] else None
            scale = self.scale

            def part(c0, c1):  # gx holds c = x - mean, then becomes scale * (c * k + g) + d
                gc, xc = g3[:, c0:c1], x3[:, c0:c1]
                sg[c0:c1] = _channel_sum(gc)
                cen = xp.subtract(xc, mean[c0:c1, None],
                                  out=gx3[:, c0:c1] if gx3 is not None else None)
                sgc[c0:c1] = _channel_dot(gc, cen)
                if gx3 is not None:
                    s = inv_std[c0:c1]
                    cen *= (-(s * s) * sgc[c0:c1] / dt(m))[:, None]
                    cen += gc
                    cen *= scale[c0:c1, None]
                    cen += (-scale[c0:c1] * sg[c0:c1] / dt(m))[:, None]

            _channel_parts(xp, g3, part)
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
