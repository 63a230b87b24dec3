"""Reductions against PyTorch (float64) and gradcheck: sum, mean, var, amax/amin, max/min with
dim (values and indices), argmax/argmin, logsumexp; single, multiple and all axes, keepdim, negative
dims."""
import numpy as np
import pytest
import torch

import deepbasic as db
from helpers import check_op, const

SHAPE = (2, 3, 4)
DIMS = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2), [1, 2]]


def _dims_ids(d):
    return "all" if d is None else str(d).replace(" ", "")


def _torch_dim(d):
    return tuple(d) if isinstance(d, list) else d


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=_dims_ids)
@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "logsumexp"])
def test_reductions(name, dim, keepdim):
    def fn(x):
        return getattr(x, name)(dim=dim, keepdim=keepdim) if dim is not None or keepdim \
            else getattr(x, name)()

    def tfn(x):
        if dim is None:
            d = tuple(range(x.ndim))
            if name in ("sum", "mean") and not keepdim:
                return getattr(x, name)()
            return getattr(x, name)(dim=d, keepdim=keepdim)
        return getattr(x, name)(dim=_torch_dim(dim), keepdim=keepdim)

    res = check_op(fn, tfn, [SHAPE])
    assert res.db_out[0].shape == tuple(res.torch_out[0].shape)


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "logsumexp"])
def test_reductions_axis_keyword(name):
    check_op(lambda x: getattr(x, name)(axis=1), lambda x: getattr(x, name)(dim=1), [SHAPE])


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, -1, (0, 2), (0, 1, 2)], ids=_dims_ids)
@pytest.mark.parametrize("correction", [0, 1])
def test_var(dim, keepdim, correction):
    check_op(lambda x: x.var(dim=dim, keepdim=keepdim, correction=correction),
             lambda x: x.var(dim=dim, keepdim=keepdim, correction=correction), [SHAPE])


@pytest.mark.parametrize("unbiased", [True, False])
def test_var_std_unbiased_keyword(unbiased):
    check_op(lambda x: x.var(1, unbiased=unbiased), lambda x: x.var(1, unbiased=unbiased), [SHAPE])
    check_op(lambda x: x.std(1, unbiased=unbiased), lambda x: x.std(1, unbiased=unbiased), [SHAPE])
    check_op(lambda x: x.std(), lambda x: x.std(), [SHAPE])


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch: degrees of freedom <= 0
def test_var_of_one_element_is_nan_like_torch():
    check_op(lambda x: x.var(0), lambda x: x.var(0), [(1, 3)], gradcheck=False)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1, -3])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_with_dim_values_and_indices(name, dim, keepdim):
    res = check_op(lambda x: getattr(x, name)(dim, keepdim), lambda x: getattr(x, name)(dim, keepdim),
                   [SHAPE])
    values, indices = res.db_out
    assert indices.dtype == np.int64 and not indices.requires_grad
    out = getattr(res.db_inputs[0], name)(dim=dim, keepdim=keepdim)
    assert out.values is out[0] and out.indices is out[1]


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_without_dim(name):
    check_op(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), [SHAPE])


def test_full_reductions_split_gradient_among_ties_like_torch():
    x = np.array([[1.0, 3.0, 3.0], [3.0, 0.0, -1.0]])
    for name in ("max", "min", "amax", "amin"):
        check_op(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), [x], gradcheck=False)
    check_op(lambda x: x.amax(dim=1), lambda x: x.amax(dim=1), [x], gradcheck=False)
    check_op(lambda x: x.amin(dim=0), lambda x: x.amin(dim=0), [x], gradcheck=False)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, -1])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name, dim, keepdim):
    res = check_op(lambda x: getattr(x, name)(dim, keepdim), lambda x: getattr(x, name)(dim, keepdim),
                   [SHAPE])
    assert res.db_out[0].dtype == np.int64


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # log(0) for all -inf
def test_logsumexp_is_stable_for_large_and_infinite_inputs():
    x = np.array([[1000.0, 1000.0, -1000.0], [-np.inf, 0.0, 1.0], [-1e4, -1e4 + 1, -1e4 + 2]])
    check_op(lambda x: x.logsumexp(1), lambda x: x.logsumexp(1), [x], gradcheck=False)
    check_op(lambda x: x.logsumexp(), lambda x: x.logsumexp(dim=(0, 1)), [x], gradcheck=False)
    allneg = db.tensor([[-np.inf, -np.inf]], dtype="float64").logsumexp(1)
    assert allneg.tolist() == [-np.inf]


def test_scalar_tensor_reductions():
    check_op(lambda x: x.sum(), lambda x: x.sum(), [()])
    check_op(lambda x: x.mean(), lambda x: x.mean(), [()])
    check_op(lambda x: x.sum(0), lambda x: x.sum(0), [()])


def test_reduced_results_are_arrays_not_numpy_scalars():
    """0-d results hold 0-d arrays (as on CuPy), so in-place ops work on them and on their grads."""
    x = db.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    for out in (x.sum(), x.mean(), x.var(), x.amax(), x.logsumexp(), x[0, 0]):
        assert isinstance(out.data, np.ndarray) and out.shape == ()
    w = db.tensor(2.0, requires_grad=True)
    (w * 3).backward()
    assert isinstance(w.grad, np.ndarray) and w.grad.shape == () and w.grad == 3
    w.grad[...] = 0  # what Module.zero_grad(set_to_none=False) does
    s = x.sum().detach()
    s.zero_()
    assert s.item() == 0


def test_sum_dims_pass_through_as_const():
    check_op(lambda x, d: x.sum(d), lambda x, d: x.sum(d), [SHAPE, const((0, 2))])
