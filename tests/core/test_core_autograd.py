"""The autograd engine: accumulation, freed graphs, no_grad, detach, hooks, retain_grad, deep graphs,
override_backward, custom Functions, dtypes."""
import gc
import sys

import numpy as np
import pytest
import torch

import deepbasic as db
from deepbasic import ops
from deepbasic.tensor import Function
from helpers import assert_close


def leaf(values, dtype="float64"):
    return db.tensor(values, requires_grad=True, dtype=dtype)


# ----- accumulation ---------------------------------------------------------------------------------
def test_gradient_sums_over_two_uses_of_a_tensor():
    x = leaf([1.0, 2.0, 3.0])
    (x * x + 3 * x).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0, 9.0]


def test_gradient_sums_over_diamond_graph():
    x = leaf([[1.0, -2.0], [0.5, 3.0]])
    tx = torch.tensor(x.numpy(), requires_grad=True)
    for t, lib in ((x, db), (tx, torch)):
        a = t.exp()
        b = a * 2
        c = a.tanh()
        (b * c + a).sum().backward()
    assert_close(x.grad, tx.grad)


def test_leaf_grads_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_two_leaves_sharing_one_gradient_array_do_not_alias():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad += 10
    assert b.grad.tolist() == [1.0, 1.0]
    c = leaf([1.0, 1.0])
    y = c.reshape(2)  # backward hands c a view of the upstream gradient
    y.sum().backward()
    c.grad[0] = 5
    assert y.grad is None


def test_backward_with_explicit_gradient():
    x = leaf([1.0, 2.0])
    (x * 2).backward(db.tensor([1.0, 10.0]))
    assert x.grad.tolist() == [2.0, 20.0]
    x.grad = None
    (x * 2).backward(np.array([3.0, 0.0]))
    assert x.grad.tolist() == [6.0, 0.0]


def test_backward_on_a_leaf():
    x = leaf(2.0)
    x.backward()
    assert x.grad == 1.0


def test_backward_through_inputs_that_need_no_grad():
    x = leaf([1.0, 2.0])
    c = db.tensor([5.0, 6.0], dtype="float64")
    (x * c + c).sum().backward()
    assert x.grad.tolist() == [5.0, 6.0] and c.grad is None


# ----- errors -----------------------------------------------------------------------------------------
def test_second_backward_over_freed_graph_raises_clear_error():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="already freed.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first)


def test_backward_on_non_scalar_without_grad_raises():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"needs a scalar output, got shape \(2,\)"):
        (x * 2).backward()


def test_backward_with_wrong_gradient_shape_raises():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"grad has shape \(3,\), expected \(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        db.tensor([1.0]).sum().backward()


def test_requires_grad_on_int_tensor_raises():
    with pytest.raises(TypeError, match="floating-point.*int64"):
        db.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        db.tensor([1, 2]).requires_grad_()
    with pytest.raises(TypeError, match="floating-point"):
        db.zeros(2, dtype="int64", requires_grad=True)


# ----- no_grad / detach -----------------------------------------------------------------------------
def test_no_grad_context_records_nothing():
    x = leaf([1.0, 2.0])
    with db.no_grad():
        assert not db.is_grad_enabled()
        y = x * 2
        with db.enable_grad():
            z = x * 3
    assert db.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad


def test_no_grad_decorator_records_nothing_and_restores():
    @db.no_grad()
    def f(t):
        return t.exp().sum()

    x = leaf([1.0, 2.0])
    out = f(x)
    assert not out.requires_grad and out.grad_fn is None and db.is_grad_enabled()
    assert f.__name__ == "f"


def test_no_grad_restores_after_exception():
    with pytest.raises(ValueError):
        with db.no_grad():
            raise ValueError
    assert db.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    y = (x * d).sum()
    y.backward()
    assert x.grad.tolist() == [2.0, 4.0]  # d acted as a constant
    assert d.grad is None


# ----- hooks / retain_grad --------------------------------------------------------------------------------
def test_hook_sees_gradient_and_can_replace_it():
    x = leaf([1.0, 2.0])
    y = x * 3
    seen = []
    y.register_hook(lambda g: seen.append(np.array(g)))
    h = y.register_hook(lambda g: g * 0 + 1)
    (y * y).sum().backward(retain_graph=True)
    np.testing.assert_allclose(seen[0], [6.0, 12.0])
    assert x.grad.tolist() == [3.0, 3.0]  # the replaced gradient (1) times dy/dx (3)
    h.remove()
    h.remove()  # removing twice is harmless
    x.grad = None
    (y * 2).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]


def test_hook_may_return_a_tensor():
    x = leaf([1.0, 2.0])
    y = x * 1
    y.register_hook(lambda g: db.tensor(g * 10))
    y.sum().backward()
    assert isinstance(x.grad, np.ndarray) and x.grad.tolist() == [10.0, 10.0]


def test_hook_on_leaf_changes_what_is_accumulated():
    x = leaf([1.0, -1.0])
    x.register_hook(lambda g: np.clip(g, 0, None))
    (x * db.tensor([2.0, -2.0], dtype="float64")).sum().backward()
    assert x.grad.tolist() == [2.0, 0.0]


def test_hook_with_wrong_shape_raises():
    x = leaf([1.0, 2.0])
    y = x * 2
    y.register_hook(lambda g: np.ones(3))
    with pytest.raises(RuntimeError, match=r"hook returned shape \(3,\), expected \(2,\)"):
        y.sum().backward()


def test_hook_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        db.tensor([1.0]).register_hook(lambda g: g)


def test_retain_grad_on_intermediate():
    x = leaf([1.0, 2.0])
    y = x * x
    z = y * 3
    y.retain_grad()
    z.sum().backward()
    assert y.grad.tolist() == [3.0, 3.0]
    assert z.grad is None  # not retained
    assert x.grad.tolist() == [6.0, 12.0]


# ----- deep graphs --------------------------------------------------------------------------------------
def test_very_long_chain_backpropagates_without_recursion_error():
    n = 20_000
    assert n > sys.getrecursionlimit()
    x = leaf([1.0, 2.0])
    y = x
    for _ in range(n):
        y = y * 1.0 + 0.0
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    del y
    gc.collect()


def test_very_long_chain_with_retain_graph_and_teardown():
    x = leaf([0.5])
    y = x
    for _ in range(20_000):
        y = y + 1e-4
    y.sum().backward(retain_graph=True)
    y.sum().backward()
    assert x.grad.tolist() == [2.0]
    z = x
    for _ in range(20_000):
        z = z * 1.0
    del z  # freeing an un-backpropagated deep graph must not overflow the C stack
    gc.collect()


# ----- override_backward -----------------------------------------------------------------------------
def _guided(fn, grad):
    return grad * (fn.x > 0) * (grad > 0)


def test_override_backward_swaps_and_restores():
    x = leaf([1.0, -1.0, 2.0])
    up = db.tensor([-1.0, 1.0, 3.0], dtype="float64")
    original = ops.ReLU.backward
    with db.override_backward(ops.ReLU, _guided):
        (x.relu() * up).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 3.0]
    assert ops.ReLU.backward is original
    x.grad = None
    (x.relu() * up).sum().backward()
    assert x.grad.tolist() == [-1.0, 0.0, 3.0]


def test_override_backward_restores_after_exception():
    original = ops.ReLU.backward
    with pytest.raises(KeyError):
        with db.override_backward(ops.ReLU, _guided):
            assert ops.ReLU.backward is _guided
            raise KeyError
    assert ops.ReLU.backward is original


def test_override_backward_of_inherited_backward():
    original = ops.Amax.backward  # defined on the shared base class
    with db.override_backward(ops.Amax, lambda fn, g: np.zeros(fn.shape)):
        x = leaf([1.0, 3.0])
        x.amax().backward()
        assert x.grad.tolist() == [0.0, 0.0]
    assert ops.Amax.backward is original and "backward" not in ops.Amax.__dict__


def test_backward_returning_wrong_shape_raises():
    class Bad(Function):
        def forward(self, a):
            return a.sum()

        def backward(self, g):
            return g  # forgot to broadcast back to the input's shape

    with pytest.raises(RuntimeError, match=r"Bad.backward returned a gradient of shape \(\) for "
                                           r"input 0 of shape \(2,\)"):
        Bad.apply(leaf([1.0, 2.0])).backward()


def test_override_backward_rejects_non_function():
    with pytest.raises(TypeError, match="Function subclass"):
        with db.override_backward(object, _guided):
            pass


# ----- custom Function ------------------------------------------------------------------------------------
class Cube(Function):
    """z = a^3 * k;  dz/da = 3 k a^2."""

    def forward(self, a, k=1.0):
        self.a, self.k = a, k
        return a ** 3 * k

    def backward(self, g):
        return g * 3 * self.k * self.a ** 2


class MulAdd(Function):
    """z = a * b + c;  gradients b, a, 1; skips work for inputs that need none."""

    def forward(self, a, b, c):
        self.a, self.b = a, b
        return a * b + c

    def backward(self, g):
        need = self.needs_input_grad
        return (g * self.b if need[0] else None, g * self.a if need[1] else None,
                g if need[2] else None)


def test_custom_function_apply():
    x = leaf([1.0, 2.0])
    y = Cube.apply(x, k=2.0)
    assert isinstance(y.grad_fn, Cube) and y.tolist() == [2.0, 16.0]
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 24.0]
    assert db.gradcheck(lambda t: Cube.apply(t, k=0.5), [leaf([0.3, -1.2])])


def test_custom_function_mixed_inputs_and_needs_input_grad():
    a = leaf([1.0, 2.0])
    b = db.tensor([3.0, 4.0], dtype="float64")
    out = MulAdd.apply(a, b, 1.5)  # a Python number is lifted to a constant tensor
    assert out.grad_fn.needs_input_grad == (True, False, False)
    out.sum().backward()
    assert a.grad.tolist() == [3.0, 4.0] and b.grad is None
    with db.no_grad():
        assert MulAdd.apply(a, b, 1.0).grad_fn is None


# ----- dtypes -------------------------------------------------------------------------------------------
def test_python_scalars_keep_float32():
    x = db.tensor([1.0, 2.0], requires_grad=True)
    assert x.dtype == np.float32
    for y in (x * 2, 2 * x, x + 1.5, x / 3, 3 / x, x - 1, 1 - x, x ** 2, 2 ** x, x ** 0.5,
              x.maximum(0.0), db.where(x > 1, x, 0.0), db.where(x > 1, 1, x), x.clamp(0.5, 1.5),
              x * np.int64(2), x / np.sum(np.ones(3, dtype=bool)), x * np.float64(0.5)):
        assert y.dtype == np.float32, y
    (x * 2).sum().backward()
    assert x.grad.dtype == np.float32


def test_float64_stays_float64():
    x = db.tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert x.dtype == np.float64
    y = (x * 2 + 1).exp().sum() / 3
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float64


def test_dtype_by_name_and_type():
    assert db.tensor([1, 2], dtype="float64").dtype == np.float64
    assert db.tensor([1.0], dtype=np.float16).dtype == np.float16
    assert db.zeros(2, 3, dtype="float64").dtype == np.float64
    assert db.tensor([1.0]).astype("float64").dtype == np.float64
    assert db.tensor([1.0]).double().float().dtype == np.float32
    with pytest.raises(TypeError, match="unknown dtype"):
        db.tensor([1.0], dtype="notatype")


def test_default_dtypes_of_python_data():
    assert db.tensor([1.0, 2.0]).dtype == np.float32
    assert db.tensor([1, 2]).dtype == np.int64
    assert db.tensor([True, False]).dtype == np.bool_
    assert db.tensor(np.float16([1.0])).dtype == np.float32


def test_python_floats_with_integer_tensors_keep_their_value():
    """An int tensor times 0.5 is not truncated to int (PyTorch promotes to float)."""
    i = db.arange(4)
    assert (i * 0.5).tolist() == [0.0, 0.5, 1.0, 1.5]
    assert (i + 0.25).tolist() == [0.25, 1.25, 2.25, 3.25]
    assert (i * 2).dtype == np.int64
    mask = db.tensor([True, False])
    assert (mask * 2).tolist() == [2, 0]
    assert (mask + 0.5).tolist() == [1.5, 0.5]


def test_cast_is_differentiable():
    x = db.tensor([1.0, 2.0], requires_grad=True)
    y = (x.double() * 3).sum()
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 3.0]


def test_item_and_conversions():
    x = db.tensor([[2.5]])
    assert x.item() == 2.5 and float(x) == 2.5 and int(db.tensor(3)) == 3
    assert db.tensor([1.0, 2.0]).tolist() == [1.0, 2.0]
    assert len(db.tensor([1.0, 2.0, 3.0])) == 3


class _Probe(Function):
    """Identity that records the dtype of the gradient flowing back through it."""

    seen = []

    def forward(self, a):
        return a

    def backward(self, g):
        _Probe.seen.append(g.dtype)
        return g


FLOAT32_OPS = {
    "pow tensor": lambda x, y, p: (p + 0.5) ** y,
    "rpow": lambda x, y, p: 2 ** x,
    "pow scalar": lambda x, y, p: (p + 0.1) ** 0.5,
    "pow 0": lambda x, y, p: x ** 0,
    "div": lambda x, y, p: 1 / (p + 1) - x / 3,
    "exp log sqrt": lambda x, y, p: (p + 1).log() + (p + 1).sqrt() + x.exp(),
    "activations": lambda x, y, p: x.sigmoid() + x.tanh() + x.abs() + x.relu()
    + ops.ELU.apply(x) + ops.LeakyReLU.apply(x) + ops.Softplus.apply(x),
    "clamp": lambda x, y, p: x.clamp(-0.5, 0.5),
    "maximum": lambda x, y, p: x.maximum(y),
    "minimum scalar": lambda x, y, p: x.minimum(0.1),
    "where": lambda x, y, p: db.where(x > 0, x, 0.3),
    "reductions": lambda x, y, p: x.mean(0) + x.var(0) + x.amax(0) + x.logsumexp(0)
    + x.max(0)[0] + x.std(),
    "softmax": lambda x, y, p: x.softmax(1) + x.log_softmax(0),
    "matmul": lambda x, y, p: x @ y,
    "linear": lambda x, y, p: ops.linear(x, db.randn(2, 4), db.randn(2)),
    "shape": lambda x, y, p: db.cat([x, p])[[0, 0, 5]] + db.stack([x, p]).sum(0)
    + y.expand(3, 4) + ops.pad(x, (1, 1), 0.5)[:, 1:-1],
    "cross entropy": lambda x, y, p: ops.CrossEntropy.apply(x[:, :3], target=np.array([0, 1, 2]),
                                                            label_smoothing=0.1),
    "svm nll": lambda x, y, p: ops.SVMLoss.apply(x, target=np.array([0, 1, 2]))
    + ops.NLLLoss.apply(x, target=np.array([0, 1, 2])),
    "regression": lambda x, y, p: ops.MSELoss.apply(x, p) + ops.L1Loss.apply(x, p)
    + ops.BCEWithLogits.apply(x, p),
}


@pytest.mark.parametrize("name", list(FLOAT32_OPS))
def test_float32_stays_float32_forward_and_backward(name):
    """No op promotes float32 to float64, in its output or in the gradients it passes back."""
    db.manual_seed(0)
    leaves = [db.randn(3, 4, requires_grad=True), db.randn(4, requires_grad=True),
              db.rand(3, 4, requires_grad=True)]
    _Probe.seen = []
    out = FLOAT32_OPS[name](*[_Probe.apply(t) for t in leaves])
    assert out.dtype == np.float32
    out.sum().backward()
    assert _Probe.seen and all(dt == np.float32 for dt in _Probe.seen), _Probe.seen
