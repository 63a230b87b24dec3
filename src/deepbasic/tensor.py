"""The Tensor and the autograd engine.

A :class:`Tensor` wraps an array (``.data``: NumPy, or CuPy on a GPU). When an op runs on tensors that
require gradients, it records a :class:`Function` node: the op's object, which saved what its backward
needs and knows its input tensors (``parents``). ``loss.backward()`` then walks that graph once in
reverse topological order and applies the chain rule::

    dL/d(input) = backward(dL/d(output))      for every Function, outputs before inputs

Gradients that reach a tensor along several paths are summed, and leaves (tensors made by the user,
such as parameters) accumulate them in ``.grad`` across backward calls, like PyTorch. The walk is
iterative, so graphs of any depth (an LSTM unrolled over thousands of steps) work, and each node's
saved arrays are released as soon as it has been visited (unless ``retain_graph=True``).

Ways to step into backpropagation:

* ``t.register_hook(fn)``: ``fn(grad) -> grad or None`` sees (and may replace) the gradient that
  flows into ``t`` before it goes further.
* A custom op: subclass :class:`Function`, write ``forward`` and ``backward``, call ``MyOp.apply``.
* :func:`override_backward`: replace one Function's backward for the duration of a ``with`` block
  (guided backpropagation swaps ReLU's backward this way, without copying the network).
"""
from __future__ import annotations

import contextlib
import functools
from collections import namedtuple

import numpy as np

from deepbasic import backend

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Whether ops record the graph (False inside :class:`no_grad`)."""
    return _grad_enabled


class _GradMode:
    """A context manager and decorator that sets whether gradients are recorded."""

    enabled = True

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = self.enabled

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Inside ``with deepbasic.no_grad():`` ops record no graph (evaluation, parameter updates)."""

    enabled = False


class enable_grad(_GradMode):
    """Turn graph recording back on inside a :class:`no_grad` block."""

    enabled = True


class Function:
    """One differentiable operation: ``forward`` on arrays, ``backward`` from the output's gradient.

    Subclasses implement::

        def forward(self, *arrays, **options) -> array
        def backward(self, grad_output) -> grad or tuple of grads, one per array input
                                            (None for an input that needs no gradient)

    ``forward`` stores on ``self`` what ``backward`` needs; ``self.needs_input_grad[i]`` says
    whether input ``i`` wants a gradient, so backward can skip work. Gradients must have the
    shape of their input (ops that broadcast sum the gradient back with :func:`unbroadcast`).
    Call an op with ``MyFunction.apply(*inputs, **options)``: tensors, arrays or Python numbers.
    """

    __slots__ = ("parents", "needs_input_grad", "__dict__")

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    @classmethod
    def apply(cls, *inputs, **kwargs) -> "Tensor":
        ref = None  # the tensor whose dtype Python numbers take: the first float one, if any
        for x in inputs:
            if isinstance(x, Tensor) and (ref is None or ref.data.dtype.kind != "f"):
                ref = x
        tensors = tuple(x if isinstance(x, Tensor) else _lift(x, ref) for x in inputs)
        fn = cls()
        out = fn.forward(*[t.data for t in tensors], **kwargs)
        if isinstance(out, np.generic):  # NumPy reductions return scalars: keep 0-d arrays
            out = np.asarray(out)
        result = Tensor._make(out)
        if _grad_enabled:
            needs = tuple(t.requires_grad for t in tensors)
            if any(needs):
                fn.needs_input_grad = needs
                fn.parents = tensors
                result.requires_grad = True
                result._ctx = fn
        return result


def _lift(x, ref: "Tensor | None") -> "Tensor":
    """Turn a Python number or array used next to ``ref`` into a constant tensor.

    A Python number (or NumPy scalar) takes ``ref``'s dtype (``x * 2`` keeps float32), as in
    PyTorch, unless that would change its value: a float next to an integer or boolean tensor
    takes the default float dtype, an int next to a boolean tensor int64.
    """
    if ref is not None and isinstance(x, (int, float, bool, np.integer, np.floating, np.bool_)):
        xp = backend.get_array_module(ref.data)
        dtype = ref.data.dtype
        if dtype.kind != "f" and isinstance(x, (float, np.floating)):
            dtype = backend.get_default_dtype()
        elif dtype.kind == "b" and not isinstance(x, (bool, np.bool_)):
            dtype = np.dtype(np.int64)
        return Tensor._make(xp.asarray(x, dtype=dtype))
    return tensor(x)


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, to get back ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


class _GraphFreed:
    """Marker left in a Function after backward released its graph."""


def _topological_order(root: "Tensor") -> list:
    """Tensors reachable from ``root`` through requires-grad edges, inputs before outputs."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            if ctx.parents is _GraphFreed:
                raise RuntimeError(
                    "backward through a graph that was already freed: a second backward over "
                    "the same graph needs retain_graph=True on the first"
                )
            for p in ctx.parents:
                if p.requires_grad and id(p) not in visited:
                    stack.append((p, False))
    return order


def _accumulate(t: "Tensor", g, stored: set) -> None:
    """Add ``g`` into ``t.grad``. A new ``.grad`` owns its memory: an array that is a view, or
    that this pass already stored on another tensor (an op may hand one array to several
    inputs), is copied first, so later in-place accumulation never changes another tensor's grad.
    """
    if g.dtype != t.data.dtype:
        g = g.astype(t.data.dtype)
    if t.grad is None:
        if id(g) in stored or not g.flags.owndata:
            g = g.copy()
        t.grad = g
        stored.add(id(g))
    else:
        t.grad += g


def _backward(root: "Tensor", grad, retain_graph: bool) -> None:
    grads = {id(root): grad}
    stored: set = set()
    for node in reversed(_topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if isinstance(g, np.generic):  # NumPy math on 0-d arrays returns scalars
            g = np.asarray(g)
        if node._hooks:
            for hook in node._hooks:
                new = hook(g)
                if isinstance(new, Tensor):
                    new = new.data
                if new is not None:
                    if tuple(new.shape) != tuple(g.shape):
                        raise RuntimeError(
                            f"gradient hook returned shape {tuple(new.shape)}, "
                            f"expected {tuple(g.shape)}"
                        )
                    g = new
        ctx = node._ctx
        if ctx is None or node._retains_grad:
            _accumulate(node, g, stored)
        if ctx is None:
            continue
        in_grads = ctx.backward(g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for i, (parent, pg) in enumerate(zip(ctx.parents, in_grads)):
            if pg is None or not parent.requires_grad:
                continue
            if tuple(pg.shape) != tuple(parent.data.shape):
                raise RuntimeError(
                    f"{type(ctx).__name__}.backward returned a gradient of shape "
                    f"{tuple(pg.shape)} for input {i} of shape {tuple(parent.data.shape)}"
                )
            key = id(parent)
            prev = grads.get(key)
            grads[key] = pg if prev is None else prev + pg
        if not retain_graph:
            ctx.parents = _GraphFreed
            ctx.__dict__.clear()


@contextlib.contextmanager
def override_backward(function_cls: type, backward):
    """Replace ``function_cls.backward`` inside a ``with`` block.

    ``backward(fn, grad)`` is called as a method: ``fn`` is the op's Function object, with what its
    forward saved. Used by guided backpropagation to change how ReLU passes gradients back::

        def guided(fn, grad):
            return grad * (fn.x > 0) * (grad > 0)
        with override_backward(ops.ReLU, guided):
            score.backward()
    """
    if not (isinstance(function_cls, type) and issubclass(function_cls, Function)):
        raise TypeError(f"override_backward: expected a Function subclass, got {function_cls!r}")
    original = function_cls.__dict__.get("backward")
    function_cls.backward = backward
    try:
        yield
    finally:
        if original is None:
            del function_cls.backward
        else:
            function_cls.backward = original


MaxResult = namedtuple("MaxResult", ["values", "indices"])


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``data`` is the array, ``grad`` the accumulated gradient (an array of the same shape, or None),
    ``requires_grad`` whether ops on this tensor build a graph for backward.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_hooks", "_retains_grad", "__weakref__")
    __array_priority__ = 1000  # ndarray + Tensor dispatches to Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        arr = _to_array(data, dtype)
        if requires_grad and arr.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {arr.dtype}"
            )
        self.data = arr
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None
        self._hooks = None
        self._retains_grad = False

    @classmethod
    def _make(cls, data) -> "Tensor":
        """Wrap an array without copying or converting (used by ops)."""
        t = object.__new__(cls)
        t.data = data
        t.grad = None
        t.requires_grad = False
        t._ctx = None
        t._hooks = None
        t._retains_grad = False
        return t

    # ----- basic properties -------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None):
        """The shape (like ``torch.Tensor.size()``), or one dimension's length."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def dim(self) -> int:
        return self.data.ndim

    @property
    def device(self) -> str:
        return "cpu" if backend.get_array_module(self.data) is np else "cuda"

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(backend.to_numpy(self.data), separator=", ", prefix="tensor(")
        extra = []
        if self.data.dtype != backend.get_default_dtype() and self.data.dtype.kind == "f":
            extra.append(f"dtype={self.data.dtype}")
        if self._ctx is not None:
            extra.append(f"grad_fn=<{type(self._ctx).__name__}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    def __hash__(self):
        return id(self)

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous"
            )
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __array__(self, dtype=None, copy=None):
        arr = backend.to_numpy(self.data)
        return arr if dtype is None else arr.astype(dtype)

    # ----- conversion -------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied to the host for a GPU tensor)."""
        return backend.to_numpy(self.data)

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item(): only one-element tensors can be converted, this one has shape "
                f"{tuple(self.data.shape)}"
            )
        return self.data.reshape(()).item()

    def detach(self) -> "Tensor":
        """A tensor sharing this data, cut from the graph (requires_grad False)."""
        return Tensor._make(self.data)

    def clone(self) -> "Tensor":
        return _ops.Clone.apply(self)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype}"
            )
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def astype(self, dtype) -> "Tensor":
        """This tensor in another dtype (differentiable between float dtypes)."""
        return _ops.Cast.apply(self, dtype=backend.to_dtype(dtype))

    def float(self) -> "Tensor":
        return self.astype(np.float32)

    def double(self) -> "Tensor":
        return self.astype(np.float64)

    def long(self) -> "Tensor":
        return Tensor._make(self.data.astype(np.int64))

    def to(self, device=None, dtype=None) -> "Tensor":
        """Move to ``"cpu"`` or ``"cuda"`` and/or change dtype; a leaf keeps requires_grad."""
        out = self
        if device is not None and device != self.device:
            xp = backend.device_module(device)
            data = xp.asarray(backend.to_numpy(self.data)) if xp is not np else self.numpy()
            out = Tensor._make(data)
            out.requires_grad = self.requires_grad
        if dtype is not None:
            out = out.astype(dtype)
        return out

    def cpu(self) -> "Tensor":
        """This tensor in host memory (itself when it is there already), like ``to("cpu")``."""
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        """This tensor on the GPU (itself when it is there already), like ``to("cuda")``; needs
        CuPy."""
        return self.to("cuda")

    def zero_(self) -> "Tensor":
        self.data[...] = 0
        return self

    # ----- autograd ---------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Compute the gradient of this tensor with respect to every leaf that requires one.

        ``grad`` is dL/d(self), required unless this tensor has one element (then 1).
        Leaves accumulate into ``.grad``; call ``zero_grad`` between steps.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the "
                "computation had requires_grad=True (or it ran under no_grad)"
            )
        xp = backend.get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar output, got shape "
                    f"{tuple(self.data.shape)}: pass grad= of that shape, or reduce first "
                    f"(e.g. loss.sum())"
                )
            g = xp.ones_like(self.data)
        else:
            g = xp.array(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
            if tuple(g.shape) != tuple(self.data.shape):
                raise RuntimeError(
                    f"backward(): grad has shape {tuple(g.shape)}, expected "
                    f"{tuple(self.data.shape)} like the tensor"
                )
        _backward(self, g, retain_graph)

    def register_hook(self, hook):
        """Call ``hook(grad)`` with the gradient flowing into this tensor during backward.

        The hook may return a replacement array (or tensor) of the same shape, or None to leave it.
        Returns a handle with ``remove()``.
        """
        if not self.requires_grad:
            raise RuntimeError("register_hook on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return _HookHandle(self, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad on a tensor that does not require grad")
        self._retains_grad = True

    # ----- arithmetic -------------------------------------------------------------------------
    def __add__(self, o):
        return _ops.Add.apply(self, o)

    def __radd__(self, o):
        return _ops.Add.apply(o, self)

    def __sub__(self, o):
        return _ops.Sub.apply(self, o)

    def __rsub__(self, o):
        return _ops.Sub.apply(o, self)

    def __mul__(self, o):
        return _ops.Mul.apply(self, o)

    def __rmul__(self, o):
        return _ops.Mul.apply(o, self)

    def __truediv__(self, o):
        return _ops.Div.apply(self, o)

    def __rtruediv__(self, o):
        return _ops.Div.apply(o, self)

    def __pow__(self, o):
        return _ops.pow(self, o)

    def __rpow__(self, o):
        return _ops.pow(o, self)

    def __neg__(self):
        return _ops.Neg.apply(self)

    def __matmul__(self, o):
        return _ops.matmul(self, o)

    def __rmatmul__(self, o):
        return _ops.matmul(o, self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    def __setitem__(self, index, value):
        if _grad_enabled and self.requires_grad:
            raise RuntimeError(
                "in-place assignment to a tensor that requires grad: do it under "
                "deepbasic.no_grad() or build a new tensor"
            )
        self.data[_ops.plain_index(index)] = value.data if isinstance(value, Tensor) else value

    # comparisons: no gradient, boolean result
    def __lt__(self, o):
        return _ops.compare(self, o, "less")

    def __le__(self, o):
        return _ops.compare(self, o, "less_equal")

    def __gt__(self, o):
        return _ops.compare(self, o, "greater")

    def __ge__(self, o):
        return _ops.compare(self, o, "greater_equal")

    def __eq__(self, o):
        return _ops.compare(self, o, "equal")

    def __ne__(self, o):
        return _ops.compare(self, o, "not_equal")

    def eq(self, o):
        return self == o

    # ----- elementwise functions --------------------------------------------------------------
    def exp(self):
        return _ops.Exp.apply(self)

    def log(self):
        return _ops.Log.apply(self)

    def sqrt(self):
        return _ops.Sqrt.apply(self)

    def abs(self):
        return _ops.Abs.apply(self)

    def tanh(self):
        return _ops.Tanh.apply(self)

    def sigmoid(self):
        return _ops.Sigmoid.apply(self)

    def relu(self):
        return _ops.ReLU.apply(self)

    def clamp(self, min=None, max=None):
        return _ops.clamp(self, min, max)

    clip = clamp

    def maximum(self, o):
        return _ops.Maximum.apply(self, o)

    def minimum(self, o):
        return _ops.Minimum.apply(self, o)

    # ----- reductions -------------------------------------------------------------------------
    def sum(self, dim=None, keepdim: bool = False, axis=None):
        return _ops.Sum.apply(self, axis=_ops.axes_arg(dim, axis, self.ndim), keepdims=keepdim)

    def mean(self, dim=None, keepdim: bool = False, axis=None):
        return _ops.Mean.apply(self, axis=_ops.axes_arg(dim, axis, self.ndim), keepdims=keepdim)

    def var(self, dim=None, keepdim: bool = False, correction: int = 1, unbiased=None, axis=None):
        if unbiased is not None:
            correction = 1 if unbiased else 0
        return _ops.Var.apply(
            self, axis=_ops.axes_arg(dim, axis, self.ndim), keepdims=keepdim, correction=correction
        )

    def std(self, dim=None, keepdim: bool = False, correction: int = 1, unbiased=None, axis=None):
        return self.var(dim, keepdim, correction, unbiased, axis).sqrt()

    def amax(self, dim=None, keepdim: bool = False, axis=None):
        return _ops.Amax.apply(self, axis=_ops.axes_arg(dim, axis, self.ndim), keepdims=keepdim)

    def amin(self, dim=None, keepdim: bool = False, axis=None):
        return _ops.Amin.apply(self, axis=_ops.axes_arg(dim, axis, self.ndim), keepdims=keepdim)

    def max(self, dim=None, keepdim: bool = False):
        """Largest element; with ``dim``, the pair (values, indices) along it, like PyTorch."""
        if dim is None:
            return self.amax()
        return _ops.max_along(self, dim, keepdim, largest=True)

    def min(self, dim=None, keepdim: bool = False):
        """Smallest element; with ``dim``, the pair (values, indices) along it, like PyTorch."""
        if dim is None:
            return self.amin()
        return _ops.max_along(self, dim, keepdim, largest=False)

    def argmax(self, dim=None, keepdim: bool = False):
        return _ops.arg_reduce(self, dim, keepdim, "argmax")

    def argmin(self, dim=None, keepdim: bool = False):
        return _ops.arg_reduce(self, dim, keepdim, "argmin")

    def logsumexp(self, dim=None, keepdim: bool = False, axis=None):
        return _ops.LogSumExp.apply(
            self, axis=_ops.axes_arg(dim, axis, self.ndim), keepdims=keepdim
        )

    def softmax(self, dim=-1):
        return _ops.softmax(self, dim)

    def log_softmax(self, dim=-1):
        return _ops.log_softmax(self, dim)

    # ----- shape ------------------------------------------------------------------------------
    def reshape(self, *shape):
        return _ops.reshape(self, shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return _ops.flatten(self, start_dim, end_dim)

    def transpose(self, dim0: int = 0, dim1: int = 1):
        return _ops.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return _ops.permute(self, dims)

    @property
    def T(self):
        return _ops.permute(self, tuple(reversed(range(self.ndim))))

    def squeeze(self, dim=None):
        return _ops.squeeze(self, dim)

    def unsqueeze(self, dim: int):
        return _ops.unsqueeze(self, dim)

    def expand(self, *shape):
        return _ops.expand(self, shape)

    def split(self, split_size_or_sections, dim: int = 0):
        return _ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0):
        return _ops.chunk(self, chunks, dim)


class _HookHandle:
    def __init__(self, t: Tensor, hook):
        self._t, self._hook = t, hook

    def remove(self) -> None:
        if self._t._hooks and self._hook in self._t._hooks:
            self._t._hooks.remove(self._hook)


def _to_array(data, dtype=None):
    """Convert user data to an array: Python floats get the default dtype, ints int64."""
    if isinstance(data, Tensor):
        data = data.data
    xp = backend.get_array_module(data)
    if dtype is not None:
        return xp.array(data, dtype=backend.to_dtype(dtype))
    if isinstance(data, (np.ndarray, np.generic)) or xp is not np:
        arr = xp.array(data)
        return arr if arr.dtype != np.float16 else arr.astype(backend.get_default_dtype())
    arr = np.array(data)
    if arr.dtype.kind == "f":
        arr = arr.astype(backend.get_default_dtype(), copy=False)
    elif arr.dtype.kind in "iu":
        arr = arr.astype(np.int64, copy=False)
    elif arr.dtype.kind not in "b":
        raise TypeError(f"tensor(): cannot make a tensor from data of dtype {arr.dtype}")
    return arr


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Make a tensor from a list, number or array (copied). Floats default to float32."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


from deepbasic import ops as _ops  # noqa: E402  (ops need Tensor and Function defined above)
