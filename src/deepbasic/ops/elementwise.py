"""Elementwise ops: arithmetic with broadcasting, and the pointwise functions and activations.

Each op's docstring gives the derivative its backward applies. For binary ops the inputs broadcast
like NumPy, and backward sums each gradient back to its input's shape (:func:`unbroadcast`).
"""
from __future__ import annotations

from deepbasic.backend import get_array_module
from deepbasic.tensor import Function, Tensor, unbroadcast


class Add(Function):
    """z = a + b;  dz/da = 1, dz/db = 1."""

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, g):
        sa, sb = self.shapes
        return unbroadcast(g, sa), unbroadcast(g, sb)


class Sub(Function):
    """z = a - b;  dz/da = 1, dz/db = -1."""

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, g):
        sa, sb = self.shapes
        gb = unbroadcast(-g, sb) if self.needs_input_grad[1] else None
        return unbroadcast(g, sa), gb


class Mul(Function):
    """z = a * b;  dz/da = b, dz/db = a."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        a, b = self.a, self.b
        ga = unbroadcast(g * b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """z = a / b;  dz/da = 1/b, dz/db = -a/b^2."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        a, b = self.a, self.b
        ga = unbroadcast(g / b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    """z = -a;  dz/da = -1."""

    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class PowScalar(Function):
    """z = a^p for a constant exponent p;  dz/da = p a^(p-1) (0 for p = 0, also at a = 0)."""

    def forward(self, a, p):
        self.a, self.p = a, p
        return a**p

    def backward(self, g):
        a, p = self.a, self.p
        if p == 2:
            return g * 2 * a
        if p == 0:
            return get_array_module(g).zeros_like(g)
        return g * p * a ** (p - 1)


class Pow(Function):
    """z = a^b (both tensors);  dz/da = b a^(b-1), dz/db = a^b log(a)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.z = a**b
        return self.z

    def backward(self, g):
        a, b, z = self.a, self.b, self.z
        xp = get_array_module(a)
        ga = unbroadcast(g * b * a ** (b - 1), a.shape) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            safe_log = xp.log(xp.where(a > 0, a, 1))
            gb = unbroadcast(g * z * safe_log, b.shape)
        return ga, gb


def pow(a, b):
    """a ** b: a fast path when the exponent is a Python number."""
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return PowScalar.apply(a, p=b)
    return Pow.apply(a, b)


class Exp(Function):
    """z = e^a;  dz/da = z."""

    def forward(self, a):
        self.z = get_array_module(a).exp(a)
        return self.z

    def backward(self, g):
        return g * self.z


class Log(Function):
    """z = log a;  dz/da = 1/a."""

    def forward(self, a):
        self.a = a
        return get_array_module(a).log(a)

    def backward(self, g):
        return g / self.a


class Sqrt(Function):
    """z = sqrt(a);  dz/da = 1 / (2 z)."""

    def forward(self, a):
        self.z = get_array_module(a).sqrt(a)
        return self.z

    def backward(self, g):
        return g / (2 * self.z)


class Abs(Function):
    """z = |a|;  dz/da = sign(a) (0 at 0, as in PyTorch)."""

    def forward(self, a):
        self.a = a
        return get_array_module(a).abs(a)

    def backward(self, g):
        return g * get_array_module(g).sign(self.a)


class Tanh(Function):
    """z = tanh(a);  dz/da = 1 - z^2."""

    def forward(self, a):
        self.z = get_array_module(a).tanh(a)
        return self.z

    def backward(self, g):
        return g * (1 - self.z * self.z)


def stable_sigmoid(a):
    """1 / (1 + e^-a) computed as 0.5 tanh(a/2) + 0.5, which never overflows."""
    xp = get_array_module(a)
    return xp.tanh(a * 0.5) * 0.5 + 0.5


class Sigmoid(Function):
    """z = 1 / (1 + e^-a);  dz/da = z (1 - z)."""

    def forward(self, a):
        self.z = stable_sigmoid(a)
        return self.z

    def backward(self, g):
        return g * self.z * (1 - self.z)


class ReLU(Function):
    """z = max(a, 0);  dz/da = 1 where a > 0, else 0 (0 at a = 0, as in PyTorch)."""

    def forward(self, a):
        self.x = a
        return get_array_module(a).maximum(a, 0)

    def backward(self, g):
        return g * (self.x > 0)


class LeakyReLU(Function):
    """z = a if a > 0 else slope * a;  dz/da = 1 or slope."""

    def forward(self, a, negative_slope=0.01):
        self.x, self.slope = a, negative_slope
        xp = get_array_module(a)
        return xp.where(a > 0, a, a * negative_slope)

    def backward(self, g):
        xp = get_array_module(g)
        return xp.where(self.x > 0, g, g * self.slope)


class ELU(Function):
    """z = a if a > 0 else alpha (e^a - 1);  dz/da = 1 or z + alpha."""

    def forward(self, a, alpha=1.0):
        xp = get_array_module(a)
        self.x, self.alpha = a, alpha
        self.z = xp.where(a > 0, a, alpha * xp.expm1(xp.minimum(a, 0)))
        return self.z

    def backward(self, g):
        xp = get_array_module(g)
        return xp.where(self.x > 0, g, g * (self.z + self.alpha))


class Softplus(Function):
    """z = log(1 + e^(beta a)) / beta (linear above ``threshold``);  dz/da = sigmoid(beta a)."""

    def forward(self, a, beta=1.0, threshold=20.0):
        xp = get_array_module(a)
        self.x, self.beta, self.threshold = a, beta, threshold
        ba = a * beta
        return xp.where(ba > threshold, a, xp.logaddexp(0, ba) / beta)

    def backward(self, g):
        xp = get_array_module(g)
        ba = self.x * self.beta
        return xp.where(ba > self.threshold, g, g * stable_sigmoid(ba))


class Clamp(Function):
    """z = min(max(a, lo), hi);  dz/da = 1 inside [lo, hi], else 0."""

    def forward(self, a, lo=None, hi=None):
        xp = get_array_module(a)
        self.mask = xp.ones(a.shape, dtype=bool)
        if lo is not None:
            self.mask &= a >= lo
        if hi is not None:
            self.mask &= a <= hi
        return xp.clip(a, lo, hi)

    def backward(self, g):
        return g * self.mask


def clamp(a, min=None, max=None):
    """Clamp ``a`` to [min, max]; either bound may be None."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return Clamp.apply(a, lo=min, hi=max)


class Maximum(Function):
    """z = max(a, b) elementwise;  the gradient goes to the larger, split evenly on ties."""

    def forward(self, a, b):
        xp = get_array_module(a)
        self.a, self.b = a, b
        return xp.maximum(a, b)

    def backward(self, g):
        a, b = self.a, self.b
        wa = (a > b) + g.dtype.type(0.5) * (a == b)  # g's dtype: float32 stays float32
        ga = unbroadcast(g * wa, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * (1 - wa), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Minimum(Function):
    """z = min(a, b) elementwise;  the gradient goes to the smaller, split evenly on ties."""

    def forward(self, a, b):
        xp = get_array_module(a)
        self.a, self.b = a, b
        return xp.minimum(a, b)

    def backward(self, g):
        a, b = self.a, self.b
        wa = (a < b) + g.dtype.type(0.5) * (a == b)  # g's dtype: float32 stays float32
        ga = unbroadcast(g * wa, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * (1 - wa), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Where(Function):
    """z = a where cond else b;  dz/da = cond, dz/db = not cond (cond gets no gradient)."""

    def forward(self, cond, a, b):
        xp = get_array_module(a)
        self.cond = cond.astype(bool)
        self.shapes = (a.shape, b.shape)
        return xp.where(self.cond, a, b)

    def backward(self, g):
        sa, sb = self.shapes
        zero = g.dtype.type(0)
        xp = get_array_module(g)
        ga = unbroadcast(xp.where(self.cond, g, zero), sa) if self.needs_input_grad[1] else None
        gb = unbroadcast(xp.where(self.cond, zero, g), sb) if self.needs_input_grad[2] else None
        return None, ga, gb


def where(cond, a, b):
    """Elementwise choice: ``a`` where ``cond`` is true, else ``b`` (gradients flow to a and b)."""
    if not isinstance(a, Tensor) and isinstance(b, Tensor):
        a = Tensor._make(get_array_module(b.data).asarray(a, dtype=b.dtype))
    return Where.apply(cond, a, b)


class Cast(Function):
    """z = a in another dtype;  dz/da = 1 (cast back)."""

    def forward(self, a, dtype):
        self.src = a.dtype
        return a.astype(dtype, copy=False)

    def backward(self, g):
        return g.astype(self.src, copy=False)


class Clone(Function):
    """z = a copied;  dz/da = 1."""

    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return g


_COMPARISONS = {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal"}


def compare(a, b, name: str) -> Tensor:
    """Elementwise comparison; a boolean tensor with no gradient."""
    assert name in _COMPARISONS
    ad = a.data if isinstance(a, Tensor) else a
    bd = b.data if isinstance(b, Tensor) else b
    xp = get_array_module(ad, bd)
    return Tensor._make(getattr(xp, name)(ad, bd))
