"""The functional API (PyTorch's ``torch.nn.functional``): every op and loss as a plain function.

Shapes: ``x: (N, D)`` features, ``(N, C)`` scores / logits, ``target: (N,)`` int64 class indices.
"""
from __future__ import annotations

import numpy as np

from deepbasic import ops
from deepbasic.backend import get_array_module
from deepbasic.ops import embedding as _embedding, rnn as _rnn
from deepbasic.ops.embedding import check_ids
from deepbasic.ops.loss import check_class_target, check_reduction
from deepbasic.tensor import Tensor

# ----- re-exported tensor ops ---------------------------------------------------------------------
linear = ops.linear
matmul = ops.matmul
pad = ops.pad
softmax = ops.softmax
log_softmax = ops.log_softmax
where = ops.where
clamp = ops.clamp
clip = ops.clamp
cat = ops.cat
stack = ops.stack
conv2d = ops.conv2d
conv_transpose2d = ops.conv_transpose2d
max_pool2d = ops.max_pool2d
avg_pool2d = ops.avg_pool2d
adaptive_avg_pool2d = ops.adaptive_avg_pool2d
max_unpool2d = ops.max_unpool2d
interpolate = ops.interpolate
local_response_norm = ops.local_response_norm
embedding = _embedding.embedding
rnn = _rnn.rnn  # one recurrent layer over a sequence: (output, h_n)
lstm = _rnn.lstm  # (output, h_n, c_n)
gru = _rnn.gru


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def exp(x):
    return ops.Exp.apply(_t(x))


def log(x):
    return ops.Log.apply(_t(x))


def sqrt(x):
    return ops.Sqrt.apply(_t(x))


def abs(x):  # noqa: A001 - PyTorch's name
    return ops.Abs.apply(_t(x))


def maximum(a, b):
    return ops.Maximum.apply(a, b)


def minimum(a, b):
    return ops.Minimum.apply(a, b)


# ----- activations --------------------------------------------------------------------------------
def relu(x):
    """max(x, 0)."""
    return ops.ReLU.apply(_t(x))


def leaky_relu(x, negative_slope: float = 0.01):
    """x if x > 0 else negative_slope * x."""
    return ops.LeakyReLU.apply(_t(x), negative_slope=negative_slope)


def elu(x, alpha: float = 1.0):
    """x if x > 0 else alpha * (e^x - 1)."""
    return ops.ELU.apply(_t(x), alpha=alpha)


def softplus(x, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + e^(beta x)) / beta, linear where beta x > threshold."""
    return ops.Softplus.apply(_t(x), beta=beta, threshold=threshold)


def sigmoid(x):
    return ops.Sigmoid.apply(_t(x))


def tanh(x):
    return ops.Tanh.apply(_t(x))


# ----- regularization and normalization -----------------------------------------------------------
def _check_p(p: float, what: str) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{what}: dropout probability must be in [0, 1], got {p}")


def dropout(x, p: float = 0.5, training: bool = True):
    """Inverted dropout: zero with probability p, scale survivors by 1/(1-p); identity if not training."""
    _check_p(p, "dropout")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return ops.Dropout.apply(x, p=p)


def dropout2d(x, p: float = 0.5, training: bool = True):
    """Channel dropout on (N, C, H, W): whole feature maps are zeroed together."""
    _check_p(p, "dropout2d")
    if x.ndim != 4:
        raise ValueError(f"dropout2d: expected input (N, C, H, W), got shape {tuple(x.shape)}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return ops.Dropout.apply(x, p=p, channel_axes=(0, 1))


def _affine_or_constant(param, n, like: Tensor, fill: float) -> Tensor:
    if param is not None:
        return param
    xp = get_array_module(like.data)
    return Tensor._make(xp.full((n,), fill, dtype=like.dtype))


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """Batch normalization over all axes but axis 1. x: (N, C) or (N, C, H, W).

    ``running_mean`` / ``running_var`` (tensors or arrays of shape (C,), or None) are updated in
    place when training; they are required when not training.
    """
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input (N, C, ...), got shape {tuple(x.shape)}")
    c = x.shape[1]
    rm = running_mean.data if isinstance(running_mean, Tensor) else running_mean
    rv = running_var.data if isinstance(running_var, Tensor) else running_var
    if not training and (rm is None or rv is None):
        raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
    for name, arr in (("running_mean", rm), ("running_var", rv)):
        if arr is not None and tuple(arr.shape) != (c,):
            raise ValueError(
                f"batch_norm: input has {c} channels (shape {tuple(x.shape)}) but {name} has "
                f"shape {tuple(arr.shape)}"
            )
    w = _affine_or_constant(weight, c, x, 1.0)
    b = _affine_or_constant(bias, c, x, 0.0)
    return ops.BatchNorm.apply(x, w, b, running_mean=rm, running_var=rv, training=training,
                               momentum=momentum, eps=eps)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalize over the trailing ``normalized_shape`` axes of each example."""
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (int(normalized_shape),)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(x.shape[x.ndim - k:]) != normalized_shape:
        raise ValueError(
            f"layer_norm: input shape {tuple(x.shape)} does not end with normalized_shape "
            f"{normalized_shape}"
        )
    xp = get_array_module(x.data)
    w = weight if weight is not None else Tensor._make(xp.ones(normalized_shape, dtype=x.dtype))
    b = bias if bias is not None else Tensor._make(xp.zeros(normalized_shape, dtype=x.dtype))
    return ops.LayerNorm.apply(x, w, b, k=k, eps=eps)


# ----- losses ---------------------------------------------------------------------------------------
def _flatten_spatial(input, target, what):
    """(N, C, d1, ...) scores with (N, d1, ...) targets -> (N*d1*..., C) and (N*d1*...,).

    Also returns the per-example loss shape, (N, d1, ...), for ``reduction="none"``.
    """
    if input.ndim <= 2:
        return input, target, None
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    loss_shape = (input.shape[0],) + tuple(input.shape[2:])
    if tuple(t.shape) != loss_shape:
        raise ValueError(
            f"{what}: scores of shape {tuple(input.shape)} need target of shape {loss_shape}, "
            f"got {tuple(t.shape)}"
        )
    c = input.shape[1]
    perm = (0,) + tuple(range(2, input.ndim)) + (1,)
    return input.permute(*perm).reshape(-1, c), t.reshape(-1), loss_shape


def _unflatten_losses(loss, reduction, loss_shape):
    return loss.reshape(*loss_shape) if reduction == "none" and loss_shape is not None else loss


def cross_entropy(input, target, *, reduction: str = "mean", label_smoothing: float = 0.0,
                  ignore_index: int = -100):
    """Softmax cross-entropy from logits, computed with log-sum-exp.

    input: (N, C) logits (or (N, C, d1, ...) with target (N, d1, ...)); target: (N,) int64.
    loss_i = -log softmax(input_i)[target_i] (with label smoothing eps: the target distribution
    is (1 - eps) onehot + eps / C). Targets equal to ``ignore_index`` add nothing.
    """
    check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    input, target, loss_shape = _flatten_spatial(input, target, "cross_entropy")
    t = check_class_target(input, target, "cross_entropy", ignore_index=ignore_index)
    loss = ops.CrossEntropy.apply(input, target=t, reduction=reduction,
                                  label_smoothing=label_smoothing, ignore_index=ignore_index)
    return _unflatten_losses(loss, reduction, loss_shape)


TEMPORAL_REDUCTIONS = ("batch", "mean", "sum", "none")


def temporal_cross_entropy(scores, targets, mask=None, *, ignore_index=None,
                           reduction: str = "batch"):
    """Softmax cross-entropy at every time step of a sequence, skipping padding.

    scores: (N, T, V) (e.g. an RNN's per-step vocabulary scores), targets: (N, T) int64 ids,
    mask: (N, T) bool, True where the position counts (None: all), ignore_index: a target id
    that never counts (e.g. the <NULL> padding token); both may be given.
    With l_nt = -log softmax(scores_nt)[targets_nt] over the positions that count:

    * ``reduction="batch"`` (default): sum of l_nt / N, CS231n's ``temporal_softmax_loss``
      (the loss per sequence, so longer captions weigh more);
    * ``"mean"``: sum of l_nt / (number of positions that count), which is PyTorch's
      ``cross_entropy(scores.permute(0, 2, 1), targets, ignore_index=...)``;
    * ``"sum"``; ``"none"``: the (N, T) losses, 0 where a position does not count.

    One fused op (:class:`deepbasic.ops.TemporalCrossEntropy`): a stable log-softmax forward,
    gradient (softmax - onehot) * mask * factor.
    """
    if reduction not in TEMPORAL_REDUCTIONS:
        raise ValueError(f"temporal_cross_entropy: reduction must be one of "
                         f"{TEMPORAL_REDUCTIONS}, got {reduction!r}")
    scores = _t(scores)
    if scores.ndim != 3:
        raise ValueError(f"temporal_cross_entropy: expected scores of shape (N, T, V), got "
                         f"{tuple(scores.shape)}")
    n, t, v = scores.shape
    xp = get_array_module(scores.data)
    y = targets.data if isinstance(targets, Tensor) else xp.asarray(targets)
    if tuple(y.shape) != (n, t):
        raise ValueError(f"temporal_cross_entropy: scores {tuple(scores.shape)} need targets of "
                         f"shape ({n}, {t}), got {tuple(y.shape)}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"temporal_cross_entropy: targets must be integer ids (int64), got dtype "
                        f"{y.dtype}")
    keep = xp.ones((n, t), dtype=bool)
    if mask is not None:
        m = mask.data if isinstance(mask, Tensor) else xp.asarray(mask)
        if tuple(m.shape) != (n, t):
            raise ValueError(f"temporal_cross_entropy: expected mask of shape ({n}, {t}), got "
                             f"{tuple(m.shape)}")
        keep &= m.astype(bool, copy=False)
    if ignore_index is not None:
        keep &= y != ignore_index
    check_ids(y[keep], v, "temporal_cross_entropy")
    return ops.TemporalCrossEntropy.apply(scores, target=y, keep=keep, reduction=reduction)


def nll_loss(input, target, *, reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities: loss_i = -input[i, target_i].

    input: (N, C) (or (N, C, d1, ...) with target (N, d1, ...)), target: (N,) int64.
    """
    check_reduction(reduction, "nll_loss")
    input, target, loss_shape = _flatten_spatial(input, target, "nll_loss")
    t = check_class_target(input, target, "nll_loss")
    return _unflatten_losses(ops.NLLLoss.apply(input, target=t, reduction=reduction), reduction,
                             loss_shape)


def svm_loss(scores, target, margin: float = 1.0, *, reduction: str = "mean"):
    """Multiclass hinge (SVM) loss: mean over the batch of sum_{j != y} max(0, s_j - s_y + margin).

    scores: (N, C), target: (N,).
    """
    check_reduction(reduction, "svm_loss")
    t = check_class_target(scores, target, "svm_loss")
    return ops.SVMLoss.apply(scores, target=t, margin=margin, reduction=reduction)


def _check_same_shape(a, b, what):
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{what}: input shape {tuple(a.shape)} and target shape {tuple(b.shape)} differ"
        )


def mse_loss(input, target, *, reduction: str = "mean"):
    """Mean squared error: mean (input - target)^2 over all elements."""
    check_reduction(reduction, "mse_loss")
    _check_same_shape(input, target, "mse_loss")
    return ops.MSELoss.apply(input, target, reduction=reduction)


def l1_loss(input, target, *, reduction: str = "mean"):
    """Mean absolute error: mean |input - target| over all elements."""
    check_reduction(reduction, "l1_loss")
    _check_same_shape(input, target, "l1_loss")
    return ops.L1Loss.apply(input, target, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, *, reduction: str = "mean"):
    """Binary cross-entropy of sigmoid(input) against target in [0, 1], computed stably."""
    check_reduction(reduction, "binary_cross_entropy_with_logits")
    _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    return ops.BCEWithLogits.apply(input, target, reduction=reduction)
