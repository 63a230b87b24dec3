"""matmul / @ and linear, softmax / log_softmax and the fused losses of ops/loss.py, against
PyTorch (float64) and gradcheck."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import deepbasic as db
from deepbasic import ops
from helpers import check_op, floats, ints


# ----- matmul ---------------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((3, 4), (4, 2)),
    ((1, 4), (4, 1)),
    ((2, 3, 4), (2, 4, 5)),  # batched
    ((2, 3, 4), (4, 5)),  # batch dims broadcast
    ((3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (4, 3)),  # 1-D cases
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(sa, sb):
    check_op(lambda a, b: a @ b, lambda a, b: a @ b, [sa, sb])
    check_op(lambda a, b: db.matmul(a, b), torch.matmul, [sa, sb])
    check_op(lambda a, b: ops.matmul(a, b), torch.matmul, [sa, sb])


def test_matmul_one_side_constant():
    check_op(lambda a, b: a @ b, lambda a, b: a @ b,
             [(2, 3, 4), floats((4, 2), requires_grad=False)])
    check_op(lambda a, b: a @ b, lambda a, b: a @ b,
             [floats((3, 4), requires_grad=False), (2, 4, 2)])


def test_matmul_with_ndarray_operand():
    w = np.random.default_rng(3).standard_normal((4, 2))
    check_op(lambda a: a @ w, lambda a: a @ torch.tensor(w), [(3, 4)])
    check_op(lambda a: w.T @ a, lambda a: torch.tensor(w.T) @ a, [(4, 3)])


@pytest.mark.parametrize("xs,bias", [((5, 3), True), ((5, 3), False), ((2, 4, 3), True),
                                     ((3,), True)])
def test_linear(xs, bias):
    inputs = [xs, (4, 3)] + ([(4,)] if bias else [])
    check_op(lambda *a: ops.linear(*a), lambda *a: TF.linear(*a), inputs)


# ----- softmax / log_softmax ------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1, 2])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax(name, dim):
    check_op(lambda x: getattr(x, name)(dim), lambda x: getattr(x, name)(dim), [(2, 3, 4)])
    check_op(lambda x: getattr(ops, name)(x, dim), lambda x: getattr(torch, name)(x, dim),
             [(2, 3, 4)])


def test_softmax_default_dim_and_large_inputs():
    x = np.array([[1000.0, 0.0, -1000.0], [3.0, 3.0, 3.0]])
    check_op(lambda x: x.softmax(), lambda x: x.softmax(-1), [x], gradcheck=False)
    check_op(lambda x: x.log_softmax(), lambda x: x.log_softmax(-1), [x], gradcheck=False)


# ----- cross-entropy --------------------------------------------------------------------------------
def _ce(reduction="mean", label_smoothing=0.0, ignore_index=-100):
    def fn(x, t):
        return ops.CrossEntropy.apply(x, target=t.data, reduction=reduction,
                                      label_smoothing=label_smoothing, ignore_index=ignore_index)

    def tfn(x, t):
        return TF.cross_entropy(x, t, reduction=reduction, label_smoothing=label_smoothing,
                                ignore_index=ignore_index)

    return fn, tfn


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
def test_cross_entropy(reduction, label_smoothing):
    fn, tfn = _ce(reduction, label_smoothing)
    check_op(fn, tfn, [(4, 5), ints((4,), high=5)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore_index", [-100, 1])
def test_cross_entropy_ignore_index(reduction, label_smoothing, ignore_index):
    t = np.array([0, ignore_index, 2, ignore_index, 3])
    fn, tfn = _ce(reduction, label_smoothing, ignore_index)
    check_op(fn, tfn, [(5, 4), t])


def test_cross_entropy_single_example_and_large_logits():
    fn, tfn = _ce()
    check_op(fn, tfn, [(1, 3), ints((1,), high=3)])
    x = np.array([[1000.0, -1000.0, 0.0], [-500.0, 500.0, 499.0]])
    check_op(fn, tfn, [x, np.array([1, 2])], gradcheck=False)


# ----- NLL --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(reduction):
    check_op(lambda x, t: ops.NLLLoss.apply(x, target=t.data, reduction=reduction),
             lambda x, t: TF.nll_loss(x, t, reduction=reduction), [(4, 5), ints((4,), high=5)])


def test_nll_of_log_softmax_equals_cross_entropy():
    check_op(lambda x, t: ops.NLLLoss.apply(x.log_softmax(1), target=t.data),
             lambda x, t: TF.cross_entropy(x, t), [(4, 5), ints((4,), high=5)])


# ----- SVM (multiclass hinge) ---------------------------------------------------------------------------
def _torch_svm(s, y, margin=1.0, reduction="mean"):
    """mean over the batch of sum_{j != y} max(0, s_j - s_y + margin), written with torch ops
    (torch's multi_margin_loss divides by C as well, so it is not the same loss)."""
    correct = s.gather(1, y[:, None])
    margins = (s - correct + margin).clamp(min=0) * (1 - TF.one_hot(y, s.shape[1]).to(s.dtype))
    losses = margins.sum(1)
    return {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("margin", [1.0, 0.5])
def test_svm_loss(reduction, margin):
    check_op(lambda s, t: ops.SVMLoss.apply(s, target=t.data, margin=margin, reduction=reduction),
             lambda s, t: _torch_svm(s, t, margin, reduction), [(6, 4), ints((6,), high=4)])


def test_svm_loss_all_margins_satisfied_is_zero():
    s = np.array([[5.0, 0.0, 0.0], [0.0, 0.0, 9.0]])
    res = check_op(lambda s, t: ops.SVMLoss.apply(s, target=t.data), _torch_svm,
                   [s, np.array([0, 2])], gradcheck=False)
    assert res.db_out[0].item() == 0 and not res.db_inputs[0].grad.any()


# ----- regression losses ----------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(3, 4), (5,), (2, 1, 3)])
def test_mse_l1(reduction, shape):
    check_op(lambda a, b: ops.MSELoss.apply(a, b, reduction=reduction),
             lambda a, b: TF.mse_loss(a, b, reduction=reduction), [shape, shape])
    check_op(lambda a, b: ops.L1Loss.apply(a, b, reduction=reduction),
             lambda a, b: TF.l1_loss(a, b, reduction=reduction), [shape, shape])


def test_mse_l1_constant_target():
    check_op(lambda a, b: ops.MSELoss.apply(a, b), TF.mse_loss,
             [(3, 4), floats((3, 4), requires_grad=False)])
    check_op(lambda a, b: ops.L1Loss.apply(a, b), TF.l1_loss,
             [(3, 4), floats((3, 4), requires_grad=False)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits(reduction):
    check_op(lambda x, y: ops.BCEWithLogits.apply(x, y, reduction=reduction),
             lambda x, y: TF.binary_cross_entropy_with_logits(x, y, reduction=reduction),
             [(3, 4), floats((3, 4), 0.0, 1.0)])


def test_bce_with_logits_hard_targets_and_large_logits():
    x = np.array([-800.0, -30.0, -1.0, 0.0, 2.0, 40.0, 800.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    check_op(lambda x, y: ops.BCEWithLogits.apply(x, y), TF.binary_cross_entropy_with_logits,
             [x, floats(y, requires_grad=False)], gradcheck=False)


def test_losses_keep_float32():
    x = db.randn(4, 3, requires_grad=True)
    t = np.array([0, 1, 2, 0])
    for loss in (ops.CrossEntropy.apply(x, target=t), ops.NLLLoss.apply(x, target=t),
                 ops.SVMLoss.apply(x, target=t), ops.MSELoss.apply(x, x.detach() * 0),
                 ops.BCEWithLogits.apply(x, x.detach().sigmoid())):
        assert loss.dtype == np.float32
        x.grad = None
        loss.backward()
        assert x.grad.dtype == np.float32
