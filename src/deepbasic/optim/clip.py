"""Gradient clipping: rescale all gradients to a maximum total norm, or clamp each entry."""
from __future__ import annotations

import math
import numbers

from deepbasic import backend
from deepbasic.tensor import Tensor


def _grads(parameters, what: str) -> list:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"{what}: expected Parameters (deepbasic Tensors), got {type(p).__name__}")
        if p.grad is not None:
            grads.append(p.grad)
    return grads


def _norm(g, p: float) -> float:
    """The p-norm of one gradient array, as a Python float."""
    if g.size == 0:
        return 0.0
    xp = backend.get_array_module(g)
    flat = g.reshape(-1)
    if p == 2:
        return math.sqrt(float(xp.dot(flat, flat)))
    if p == 1:
        return float(xp.abs(flat).sum())
    if p == math.inf:
        return float(xp.abs(flat).max())
    if p == -math.inf:
        return float(xp.abs(flat).min())
    if p == 0:
        return float(xp.count_nonzero(flat))
    return float((xp.abs(flat) ** p).sum()) ** (1.0 / p)


def _combine(norms: list, p: float) -> float:
    """The p-norm of the vector of per-array norms (= the norm of all entries together)."""
    if p == math.inf:
        return max(norms)
    if p == -math.inf:
        return min(norms)
    if p == 0:
        return float(sum(norms))
    if p == 2:
        return math.sqrt(math.fsum(n * n for n in norms))
    return math.fsum(n**p for n in norms) ** (1.0 / p)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    r"""Rescale the gradients of ``parameters`` in place so that their total norm is at most
    ``max_norm``; returns the total norm before clipping, as a float.

    The total norm treats all gradients as one vector::

        total = (sum_i ||g_i||_p^p)^(1/p)          (max_i ||g_i||_inf for p = inf)
        coef  = max_norm / (total + 1e-6)
        g_i   = g_i * coef        for every gradient, if coef < 1

    Parameters without a gradient are ignored. Like ``torch.nn.utils.clip_grad_norm_``.

    Args:
        parameters: a Parameter or an iterable of them (e.g. ``model.parameters()``).
        max_norm: the largest allowed total norm.
        norm_type: p of the p-norm: 2 (default), 1, ``float('inf')``, any positive number.
        error_if_nonfinite: raise if the total norm is nan or inf (otherwise the gradients are
            scaled by a nan/zero factor, as in PyTorch).
    """
    if not isinstance(max_norm, numbers.Real):
        raise TypeError(f"clip_grad_norm_: max_norm must be a number, got {max_norm!r}")
    try:
        p = float(norm_type)
    except (TypeError, ValueError):
        raise ValueError(f"clip_grad_norm_: norm_type must be a number or 'inf', got {norm_type!r}") from None
    grads = _grads(parameters, "clip_grad_norm_")
    if not grads:
        return 0.0
    total = _combine([_norm(g, p) for g in grads], p)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, "
            f"so they cannot be clipped; set error_if_nonfinite=False to scale them anyway"
        )
    coef = float(max_norm) / (total + 1e-6)
    if not coef >= 1.0:  # also when coef is nan, as PyTorch does
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient entry of ``parameters`` into ``[-clip_value, clip_value]``, in place.

    Like ``torch.nn.utils.clip_grad_value_``; parameters without a gradient are ignored.
    """
    if not isinstance(clip_value, numbers.Real) or isinstance(clip_value, bool):
        raise TypeError(f"clip_grad_value_: clip_value must be a number, got {clip_value!r}")
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value!r}")
    v = float(clip_value)
    for g in _grads(parameters, "clip_grad_value_"):
        xp = backend.get_array_module(g)
        xp.clip(g, -v, v, out=g)
