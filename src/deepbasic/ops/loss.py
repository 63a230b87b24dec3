"""Softmax and the losses, each fused into one op with its gradient written out.

Shapes: scores / logits ``(N, C)``, class targets ``(N,)`` int64 in [0, C); regression inputs and
targets of equal shape. ``reduction`` is ``"mean"`` (default), ``"sum"`` or ``"none"``.
"""
from __future__ import annotations

import numpy as np

from deepbasic.backend import get_array_module
from deepbasic.ops.elementwise import stable_sigmoid
from deepbasic.ops.reduce import normalize_axis
from deepbasic.tensor import Function, Tensor

REDUCTIONS = ("mean", "sum", "none")


def _softmax(x, axis):
    xp = get_array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis):
    xp = get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    """p = e^x / sum e^x along ``axis``;  dx = p * (dp - sum(dp * p))."""

    def forward(self, x, axis=-1):
        self.axis = axis
        self.p = _softmax(x, axis)
        return self.p

    def backward(self, g):
        p = self.p
        return p * (g - (g * p).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """l = x - logsumexp(x) along ``axis``;  dx = dl - softmax(x) * sum(dl)."""

    def forward(self, x, axis=-1):
        self.axis = axis
        self.l = _log_softmax(x, axis)
        return self.l

    def backward(self, g):
        xp = get_array_module(g)
        return g - xp.exp(self.l) * g.sum(axis=self.axis, keepdims=True)


def check_reduction(reduction: str, what: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{what}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def check_class_target(scores: Tensor, target, what: str, ignore_index=None):
    """Validate (N, C) scores and (N,) integer class targets; returns the target array."""
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if scores.ndim != 2:
        raise ValueError(f"{what}: expected scores of shape (N, C), got {tuple(scores.shape)}")
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{what}: target must hold integer class indices (int64), got dtype {t.dtype}"
        )
    n, c = scores.shape
    if t.shape != (n,):
        raise ValueError(
            f"{what}: target shape {tuple(t.shape)} does not match scores {tuple(scores.shape)}: "
            f"expected ({n},)"
        )
    valid = t if ignore_index is None else t[t != ignore_index]
    if valid.size:
        lo, hi = int(valid.min()), int(valid.max())
        if lo < 0 or hi >= c:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{what}: target {bad} is out of range for {c} classes [0, {c - 1}]")
    return t


def _reduce(losses, reduction, count=None):
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    return total / losses.dtype.type(losses.shape[0] if count is None else count)


def _scale_back(g, n, reduction, dtype, count=None):
    """The per-example factor that the reduced loss's gradient ``g`` turns into."""
    if reduction == "none":
        return g.reshape(-1, 1)
    if reduction == "sum":
        return g
    return g / dtype.type(max(n if count is None else count, 1))


class CrossEntropy(Function):
    """Softmax cross-entropy from logits, with optional label smoothing and ignored targets.

    x: (N, C), y: (N,). With q = (1 - eps) onehot(y) + eps / C:
    loss_i = -sum_j q_ij log softmax(x_i)_j;  dx_i = softmax(x_i) - q_i.
    """

    def forward(self, x, target=None, reduction="mean", label_smoothing=0.0, ignore_index=-100):
        xp = get_array_module(x)
        n, c = x.shape
        logp = _log_softmax(x, 1)
        keep = target != ignore_index
        safe_t = xp.where(keep, target, 0)
        picked = logp[xp.arange(n), safe_t]
        losses = -(1 - label_smoothing) * picked
        if label_smoothing:
            losses = losses - (label_smoothing / c) * logp.sum(axis=1)
        losses = losses * keep
        self.logp, self.t, self.keep, self.eps = logp, safe_t, keep, label_smoothing
        self.reduction = reduction
        self.count = int(keep.sum()) if reduction == "mean" else None
        return _reduce(losses, reduction, self.count)

    def backward(self, g):
        xp = get_array_module(g)
        n, c = self.logp.shape
        grad = xp.exp(self.logp)
        grad[xp.arange(n), self.t] -= 1 - self.eps
        if self.eps:
            grad -= self.eps / c
        grad *= self.keep[:, None]
        return grad * _scale_back(g, n, self.reduction, grad.dtype, self.count)


class TemporalCrossEntropy(Function):
    """Softmax cross-entropy of a score vector at every time step, with a mask for padding.

    x: (N, T, V) scores, target: (N, T) int ids, keep: (N, T) bool (False at padding) ->
    loss_nt = keep_nt * (logsumexp(x_nt) - x_nt[target_nt]), reduced by ``reduction``:
    "batch" sum / N (CS231n's temporal_softmax_loss), "mean" sum / (number of kept
    positions), "sum", or "none" (the (N, T) losses, zeros at masked positions).
    dx_nt = keep_nt * (softmax(x_nt) - onehot(target_nt)) * (the reduction's factor).
    The log-sum-exp subtracts each row's maximum first. Saves softmax(x) (N, T, V).
    """

    def forward(self, x, target=None, keep=None, reduction="batch"):
        xp = get_array_module(x)
        rows, steps = xp.indices(target.shape)
        where = (rows, steps, xp.where(keep, target, 0))  # (n, t, target) of every position
        p = x - x.max(axis=-1, keepdims=True)
        picked = p[where]
        xp.exp(p, out=p)
        s = p.sum(axis=-1)
        p /= s[..., None]
        losses = (xp.log(s) - picked) * keep
        self.p, self.where, self.keep, self.reduction = p, where, keep, reduction
        n = x.shape[0]
        if reduction == "none":
            return losses
        total = losses.sum()
        if reduction == "sum":
            self.count = 1
        elif reduction == "batch":
            self.count = n
        else:
            self.count = int(keep.sum())
        return total / x.dtype.type(self.count) if reduction != "sum" else total

    def backward(self, g):
        dt = self.p.dtype
        if self.reduction == "none":
            w = g * self.keep
        else:
            w = self.keep * (g / dt.type(max(self.count, 1)))
        w = w.astype(dt, copy=False)
        grad = self.p * w[..., None]
        grad[self.where] -= w
        return grad


class NLLLoss(Function):
    """Negative log-likelihood of log-probabilities: loss_i = -logp[i, y_i];  dlogp = -onehot."""

    def forward(self, logp, target=None, reduction="mean"):
        xp = get_array_module(logp)
        n = logp.shape[0]
        self.shape, self.t, self.reduction = logp.shape, target, reduction
        return _reduce(-logp[xp.arange(n), target], reduction)

    def backward(self, g):
        xp = get_array_module(g)
        n = self.shape[0]
        grad = xp.zeros(self.shape, dtype=g.dtype)
        grad[xp.arange(n), self.t] = -1
        return grad * _scale_back(g, n, self.reduction, grad.dtype)


class SVMLoss(Function):
    """Multiclass hinge loss: loss_i = sum_{j != y_i} max(0, s_ij - s_iy + margin).

    s: (N, C). ds_ij = 1[margin_ij > 0] for j != y_i;  ds_iy = -(number of positive margins).
    """

    def forward(self, s, target=None, margin=1.0, reduction="mean"):
        xp = get_array_module(s)
        n = s.shape[0]
        rows = xp.arange(n)
        correct = s[rows, target][:, None]
        margins = xp.maximum(0, s - correct + s.dtype.type(margin))
        margins[rows, target] = 0
        self.positive, self.t, self.reduction = (margins > 0).astype(s.dtype), target, reduction
        return _reduce(margins.sum(axis=1), reduction)

    def backward(self, g):
        xp = get_array_module(g)
        grad = self.positive.copy()
        n = grad.shape[0]
        grad[xp.arange(n), self.t] = -grad.sum(axis=1)
        return grad * _scale_back(g, n, self.reduction, grad.dtype)


def _elementwise_reduce(losses, reduction):
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


def _elementwise_scale(g, size, reduction, dtype):
    if reduction == "mean":
        return g / dtype.type(max(size, 1))
    return g


class MSELoss(Function):
    """loss = mean (a - b)^2;  da = 2 (a - b) / n, db = -da."""

    def forward(self, a, b, reduction="mean"):
        self.diff, self.reduction = a - b, reduction
        return _elementwise_reduce(self.diff * self.diff, reduction)

    def backward(self, g):
        d = self.diff
        ga = 2 * d * _elementwise_scale(g, d.size, self.reduction, d.dtype)
        return ga, (-ga if self.needs_input_grad[1] else None)


class L1Loss(Function):
    """loss = mean |a - b|;  da = sign(a - b) / n, db = -da."""

    def forward(self, a, b, reduction="mean"):
        xp = get_array_module(a)
        self.sign, self.reduction = xp.sign(a - b), reduction
        return _elementwise_reduce(xp.abs(a - b), reduction)

    def backward(self, g):
        s = self.sign
        ga = s * _elementwise_scale(g, s.size, self.reduction, s.dtype)
        return ga, (-ga if self.needs_input_grad[1] else None)


class BCEWithLogits(Function):
    """Binary cross-entropy on logits x with targets y in [0, 1], computed stably:
    loss = max(x, 0) - x y + log(1 + e^-|x|);  dx = sigmoid(x) - y,  dy = -x.
    """

    def forward(self, x, y, reduction="mean"):
        xp = get_array_module(x)
        self.x, self.y, self.reduction = x, y, reduction
        losses = xp.maximum(x, 0) - x * y + xp.log1p(xp.exp(-xp.abs(x)))
        return _elementwise_reduce(losses, reduction)

    def backward(self, g):
        x, y = self.x, self.y
        scale = _elementwise_scale(g, x.size, self.reduction, x.dtype)
        gx = (stable_sigmoid(x) - y) * scale
        gy = -x * scale if self.needs_input_grad[1] else None
        return gx, gy


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    return Softmax.apply(x, axis=normalize_axis(dim, x.ndim))


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    return LogSoftmax.apply(x, axis=normalize_axis(dim, x.ndim))
