"""Weight initialization, in place on a tensor's data (PyTorch's ``torch.nn.init`` names).

fan_in / fan_out of a weight (out, in, *kernel) are in * prod(kernel) and out * prod(kernel).

* Gaussian: N(0, std^2) with a chosen std (``normal_``, alias ``gaussian_``).
* Xavier / Glorot (tanh, sigmoid, linear units): Var(w) = gain^2 * 2 / (fan_in + fan_out);
  uniform in +-gain * sqrt(6 / (fan_in + fan_out)), or normal with that variance.
* Kaiming / He (ReLU units): Var(w) = gain^2 / fan (fan_in keeps forward activations' variance,
  fan_out the gradients'), gain = sqrt(2) for ReLU; uniform in +-gain * sqrt(3 / fan).

``with skip_init():`` builds models without drawing their random weights (to look at their
structure only: ``deepbasic summary``).
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from deepbasic import backend
from deepbasic.tensor import Tensor, no_grad


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (relu: sqrt(2), tanh: 5/3, linear/sigmoid: 1)."""
    if nonlinearity in ("linear", "identity", "sigmoid") or nonlinearity.startswith("conv"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(
        f"calculate_gain: unknown nonlinearity {nonlinearity!r}: expected linear, sigmoid, tanh, "
        f"relu, leaky_relu or selu"
    )


def fan_in_and_fan_out(t: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    if t.ndim < 2:
        raise ValueError(f"fan in and fan out need a weight with at least 2 dims, got shape {tuple(t.shape)}")
    receptive = math.prod(t.shape[2:])
    return t.shape[1] * receptive, t.shape[0] * receptive


def _fill(t: Tensor, values: np.ndarray) -> Tensor:
    xp = backend.get_array_module(t.data)
    with no_grad():
        t.data[...] = xp.asarray(values, dtype=t.dtype)
    return t


_skip_random = False


@contextlib.contextmanager
def skip_init():
    """Within the block the random initializers (``uniform_``, ``normal_`` and the Xavier and
    Kaiming ones built on them) leave their tensor as it is and draw nothing from the generator:
    new layers keep the zeros they were allocated with (constant fills, such as batch norm's
    weight of ones, still happen).

    For building a model only to look at its structure (shapes, parameter counts and
    multiply-adds, as ``deepbasic summary`` does), where drawing VGG-16's 138M random weights
    would take most of the time. Not for training. A module-level switch: not thread-safe.
    """
    global _skip_random
    before, _skip_random = _skip_random, True
    try:
        yield
    finally:
        _skip_random = before


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with U(a, b) (nothing inside :func:`skip_init`)."""
    if _skip_random:
        return t
    return _fill(t, backend.generator().uniform(a, b, t.shape))


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with N(mean, std^2) (the plain Gaussian init, e.g. std=0.01; nothing inside
    :func:`skip_init`)."""
    if _skip_random:
        return t
    return _fill(t, backend.generator().normal(mean, std, t.shape))


gaussian_ = normal_


def constant_(t: Tensor, value: float) -> Tensor:
    return _fill(t, np.full(t.shape, value))


def zeros_(t: Tensor) -> Tensor:
    return constant_(t, 0.0)


def ones_(t: Tensor) -> Tensor:
    return constant_(t, 1.0)


def xavier_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a)


def xavier_normal_(t: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(t: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(t)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He uniform: U(-b, b), b = gain * sqrt(3 / fan); gain sqrt(2) for ReLU (a = 0)."""
    bound = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity)
    return uniform_(t, -bound, bound)


def kaiming_normal_(t: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """He normal: N(0, std^2), std = gain / sqrt(fan); gain sqrt(2) for ReLU (a = 0)."""
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity))
