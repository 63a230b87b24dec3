"""Shape ops against PyTorch (float64) and gradcheck: reshape/view, transpose, permute, .T, flatten,
squeeze/unsqueeze, expand, indexing, cat, stack, pad, split, chunk."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import deepbasic as db
from deepbasic import ops
from helpers import check_op


# ----- reshape / view -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 4), (-1, 4), (2, -1), (24,), (-1,), (2, 3, 2, 2), (1, 24, 1)])
def test_reshape_and_view(shape):
    check_op(lambda x: x.reshape(*shape), lambda x: x.reshape(*shape), [(2, 3, 4)])
    check_op(lambda x: x.reshape(shape), lambda x: x.reshape(shape), [(2, 3, 4)])
    check_op(lambda x: x.view(*shape), lambda x: x.view(*shape), [(2, 3, 4)])


def test_reshape_scalar_and_back():
    check_op(lambda x: x.reshape(()), lambda x: x.reshape(()), [(1, 1)])
    check_op(lambda x: x.reshape(1, 1), lambda x: x.reshape(1, 1), [()])


# ----- transpose / permute / T ----------------------------------------------------------------------
@pytest.mark.parametrize("d0,d1", [(0, 1), (1, 2), (0, -1), (-1, -2), (2, 2)])
def test_transpose(d0, d1):
    check_op(lambda x: x.transpose(d0, d1), lambda x: x.transpose(d0, d1), [(2, 3, 4)])


@pytest.mark.parametrize("dims", [(2, 0, 1), (0, 1, 2), (1, 0, 2), (-1, 0, -2)])
def test_permute(dims):
    check_op(lambda x: x.permute(*dims), lambda x: x.permute(*dims), [(2, 3, 4)])
    check_op(lambda x: x.permute(dims), lambda x: x.permute(dims), [(2, 3, 4)])
    check_op(lambda x: ops.permute(x, dims), lambda x: x.permute(dims), [(2, 3, 4)])


def test_T():
    check_op(lambda x: x.T, lambda x: x.T, [(2, 3)])
    check_op(lambda x: x.T, lambda x: x, [(3,)])


def test_T_reverses_all_dims():
    check_op(lambda x: x.T, lambda x: x.permute(2, 1, 0), [(2, 3, 4)])


# ----- flatten / squeeze / unsqueeze ------------------------------------------------------------------
@pytest.mark.parametrize("start,end", [(0, -1), (1, -1), (0, 1), (1, 2), (-2, -1), (2, 2)])
def test_flatten(start, end):
    check_op(lambda x: x.flatten(start, end), lambda x: x.flatten(start, end), [(2, 3, 2, 2)])


def test_flatten_scalar():
    check_op(lambda x: x.flatten(), lambda x: x.flatten(), [()])


@pytest.mark.parametrize("dim", [None, 0, 2, -1, 1])
def test_squeeze(dim):
    if dim is None:
        check_op(lambda x: x.squeeze(), lambda x: x.squeeze(), [(1, 3, 1, 1)])
    else:
        check_op(lambda x: x.squeeze(dim), lambda x: x.squeeze(dim), [(1, 3, 1, 1)])


@pytest.mark.parametrize("dim", [0, 1, 3, -1, -4])
def test_unsqueeze(dim):
    check_op(lambda x: x.unsqueeze(dim), lambda x: x.unsqueeze(dim), [(2, 3, 4)])


# ----- expand ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("src,shape", [((3, 1), (3, 4)), ((1,), (2, 5)), ((3, 1), (2, 3, 4)),
                                       ((3, 1), (-1, 4)), ((3, 1), (2, -1, 4)), ((1, 1), (1, 1))])
def test_expand(src, shape):
    check_op(lambda x: x.expand(*shape), lambda x: x.expand(*shape), [src])
    check_op(lambda x: x.expand(shape), lambda x: x.expand(shape), [src])


# ----- indexing -------------------------------------------------------------------------------------
IDX = np.array([0, 2, 0, 0, 3])  # repeated indices: their gradients must add up
MASK = np.array([True, False, True, True])
INDICES = {
    "int": 1,
    "negative int": -1,
    "slice": slice(1, 3),
    "slice step": slice(None, None, 2),
    "negative step": slice(None, None, -1),
    "negative step 2": slice(3, 0, -2),
    "tuple slices": (slice(1, None), slice(None, 2)),
    "int and slice": (0, slice(1, 3)),
    "None": (None, slice(None), 1),
    "Ellipsis": (Ellipsis, 1),
    "Ellipsis None": (Ellipsis, None, slice(0, 2)),
    "empty slice": slice(2, 2),
    "int array repeated": IDX % 3,
    "list repeated": [0, 1, 0, 2, 0],
    "negative int array": np.array([-1, 0, -1]),
    "empty int array": np.array([], dtype=np.int64),
    "list of lists": [[0, 1], [2, 2]],
    "bool list in tuple": (slice(None), [True, False, True, False]),
    "int arrays pair": (np.array([0, 2, 2]), np.array([1, 1, 3])),
    "int array and slice": (slice(None), IDX % 4),
    "slice and int array 2": (np.array([[0, 1], [2, 2]]), slice(1, 3)),
    "bool mask row": np.array([True, False, True]),
    "bool mask cols": (slice(None), MASK),
    "bool mask full": None,  # filled below: data-dependent
    "mixed int array and bool": (np.array([0, 2, 1]), MASK),
    "ellipsis and array": (Ellipsis, np.array([3, 3, 0])),
}


@pytest.mark.parametrize("name", list(INDICES))
def test_getitem(name):
    index = INDICES[name]
    if name == "bool mask full":
        def fn(x):
            return x[x > 0]

        def tfn(x):
            return x[x > 0]
    else:
        def fn(x):
            return x[index]

        def tfn(x):
            idx = index
            if isinstance(idx, slice) and idx.step is not None and idx.step < 0:
                return _torch_negative_step(x, (idx,))
            if isinstance(idx, (np.ndarray, list)):
                idx = torch.tensor(idx)
            elif isinstance(idx, tuple):
                idx = tuple(torch.tensor(i) if isinstance(i, (np.ndarray, list)) else i
                            for i in idx)
            return x[idx]

    check_op(fn, tfn, [(3, 4)])


def _torch_negative_step(x, index):
    """torch has no negative slice steps: flip, then slice forward, over the first dim."""
    (s,) = index
    start, stop, step = s.indices(x.shape[0])
    rows = list(range(start, stop, step))
    return x[torch.tensor(rows, dtype=torch.long)] if rows else x[0:0]


def test_getitem_repeated_indices_accumulate():
    x = db.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


def test_getitem_with_tensor_indices():
    idx = db.tensor([2, 0, 2])
    check_op(lambda x: x[idx], lambda x: x[torch.tensor([2, 0, 2])], [(3, 2)])
    check_op(lambda x: x[db.tensor(1)], lambda x: x[torch.tensor(1)], [(3, 2)])
    check_op(lambda x: x[:, db.tensor([True, False])], lambda x: x[:, torch.tensor([True, False])],
             [(3, 2)])


def test_getitem_3d_mixed():
    check_op(lambda x: x[1:, np.array([0, 2, 0]), ::-1][..., None],
             lambda x: x[1:, torch.tensor([0, 2, 0])].flip(-1)[..., None], [(3, 4, 2)])
    check_op(lambda x: x[:, 1, np.array([True, False])], lambda x: x[:, 1, torch.tensor([True, False])],
             [(3, 4, 2)])


# ----- cat / stack ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_cat(dim):
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for i, s in enumerate(shapes):
        s[dim] = i + 1  # different lengths along dim
    check_op(lambda *xs: db.cat(xs, dim), lambda *xs: torch.cat(xs, dim), [tuple(s) for s in shapes])
    check_op(lambda *xs: ops.cat(list(xs), dim=dim), lambda *xs: torch.cat(xs, dim=dim),
             [tuple(s) for s in shapes])


def test_cat_same_tensor_twice_and_single():
    check_op(lambda x: db.cat([x, x * 2, x]), lambda x: torch.cat([x, x * 2, x]), [(2, 3)])
    check_op(lambda x: db.cat([x]), lambda x: torch.cat([x]), [(2, 3)])


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack(dim):
    check_op(lambda *xs: db.stack(xs, dim), lambda *xs: torch.stack(xs, dim), [(2, 3)] * 3)
    check_op(lambda *xs: ops.stack(xs, dim=dim), lambda *xs: torch.stack(xs, dim=dim), [(2, 3)] * 3)


def test_cat_stack_with_a_constant():
    c = np.ones((2, 3))
    check_op(lambda x: db.cat([x, db.tensor(c)], 1), lambda x: torch.cat([x, torch.tensor(c)], 1),
             [(2, 3)])
    check_op(lambda x: db.stack([db.tensor(c), x]), lambda x: torch.stack([torch.tensor(c), x]),
             [(2, 3)])


# ----- pad ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pad", [(1, 2), (0, 0), (1, 1, 2, 0), (0, 1, 2, 3, 1, 1), (3, 0, 0, 0)])
@pytest.mark.parametrize("value", [0.0, -1.5])
def test_pad(pad, value):
    check_op(lambda x: ops.pad(x, pad, value), lambda x: TF.pad(x, pad, value=value), [(2, 3, 4)])


# ----- split / chunk ----------------------------------------------------------------------------------
@pytest.mark.parametrize("size,dim", [(2, 0), (3, 1), (1, -1), (4, 1), (10, 0), ([1, 4], 1),
                                      ([2, 0, 3], -1), ([5], 1)])
def test_split(size, dim):
    shape = (5, 5)
    check_op(lambda x: x.split(size, dim), lambda x: x.split(size, dim), [shape])
    check_op(lambda x: ops.split(x, size, dim), lambda x: torch.split(x, size, dim), [shape])


@pytest.mark.parametrize("chunks,dim,n", [(2, 0, 5), (3, 1, 6), (4, 0, 6), (1, 0, 3), (5, 1, 5),
                                          (6, 0, 4)])
def test_chunk(chunks, dim, n):
    shape = (n, n)
    check_op(lambda x: x.chunk(chunks, dim), lambda x: x.chunk(chunks, dim), [shape])
    check_op(lambda x: ops.chunk(x, chunks, dim), lambda x: torch.chunk(x, chunks, dim), [shape])


def test_split_pieces_used_unevenly():
    def fn(x):
        a, b, c = x.split(2, 1)
        return a * 2 + c.sum(1, keepdim=True)

    check_op(fn, fn, [(3, 5)])


# ----- shape ops compose --------------------------------------------------------------------------------
def test_composed_shape_ops():
    def fn(x):
        y = x.permute(2, 0, 1).reshape(4, -1)[:, 1::2].T
        return y.unsqueeze(0).expand(2, -1, -1).flatten(1)

    check_op(fn, fn, [(2, 3, 4)])
