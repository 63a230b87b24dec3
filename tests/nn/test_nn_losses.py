"""Loss modules and functional losses against PyTorch (value, input gradient), and gradcheck."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import deepbasic as db
from deepbasic import nn
from deepbasic.nn import functional as F

from _parity import assert_close, check_module_parity


def rng(seed=0):
    return np.random.default_rng(seed)


REDUCTIONS = ["mean", "sum", "none"]


def classes(r, shape, c):
    return r.integers(0, c, shape).astype(np.int64)


# ----- cross-entropy ------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("n,c", [(6, 4), (1, 3), (9, 10)])
def test_cross_entropy_parity(reduction, smoothing, n, c):
    r = rng(n * c)
    x, t = 3 * r.standard_normal((n, c)), classes(r, n, c)
    check_module_parity(nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing),
                        torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing), x, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_cross_entropy_ignore_index(reduction, smoothing, ignore_index):
    r = rng(1)
    x, t = r.standard_normal((8, 4)), classes(r, 8, 4)
    t[[1, 4, 5]] = ignore_index
    check_module_parity(
        nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing, ignore_index=ignore_index),
        torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing, ignore_index=ignore_index),
        x, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 4, 6), (1, 2, 3, 1)])
def test_cross_entropy_spatial_like_segmentation(reduction, smoothing, shape):
    r = rng(2)
    x = r.standard_normal(shape)
    t = classes(r, (shape[0],) + shape[2:], shape[1])
    t.reshape(-1)[::7] = -100  # some "void" pixels
    out, _ = check_module_parity(nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing),
                                 torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing),
                                 x, t)
    if reduction == "none":
        assert out.shape == t.shape


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cross_entropy_all_targets_ignored_is_nan_like_torch():
    x, t = rng(12).standard_normal((3, 4)), np.full(3, -100)
    a = F.cross_entropy(db.tensor(x), db.tensor(t))
    assert np.isnan(a.item()) and np.isnan(TF.cross_entropy(torch.tensor(x), torch.tensor(t)).item())
    assert F.cross_entropy(db.tensor(x), db.tensor(t), reduction="sum").item() == 0.0


def test_cross_entropy_gradcheck():
    r = rng(3)
    t = db.tensor(np.array([0, 2, 1, -100, 2]))
    x = db.tensor(r.standard_normal((5, 3)), requires_grad=True)
    assert db.gradcheck(lambda x: F.cross_entropy(x, t, label_smoothing=0.1), [x])
    x4 = db.tensor(r.standard_normal((2, 3, 2, 2)), requires_grad=True)
    t4 = db.tensor(classes(r, (2, 2, 2), 3))
    assert db.gradcheck(lambda x: F.cross_entropy(x, t4, reduction="none"), [x4])


def test_cross_entropy_is_stable_for_huge_logits():
    x = np.array([[1000.0, -1000.0, 0.0], [-5e3, 5e3, 1.0]])
    t = np.array([1, 1])
    a = F.cross_entropy(db.tensor(x), db.tensor(t))
    assert np.isfinite(a.item())
    assert_close(a, TF.cross_entropy(torch.tensor(x), torch.tensor(t)))


def test_cross_entropy_functional_keywords_match_torch():
    r = rng(4)
    x, t = r.standard_normal((5, 3)), classes(r, 5, 3)
    a = F.cross_entropy(db.tensor(x), db.tensor(t), reduction="sum", label_smoothing=0.3, ignore_index=1)
    b = TF.cross_entropy(torch.tensor(x), torch.tensor(t), reduction="sum", label_smoothing=0.3, ignore_index=1)
    assert_close(a, b)


def test_cross_entropy_errors():
    x = db.randn(4, 3)
    with pytest.raises(IndexError, match="out of range"):
        F.cross_entropy(x, db.tensor(np.array([0, 1, 3, 0])))
    with pytest.raises(TypeError, match="int"):
        F.cross_entropy(x, db.tensor(np.array([0.0, 1.0, 2.0, 0.0])))
    with pytest.raises(ValueError, match="target shape"):
        F.cross_entropy(x, db.tensor(np.array([0, 1])))
    with pytest.raises(ValueError, match=r"\(2, 4, 4\)"):
        F.cross_entropy(db.randn(2, 3, 4, 4), db.tensor(np.zeros((2, 4), dtype=np.int64)))
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")(x, db.tensor(np.array([0, 1, 2, 0])))


# ----- NLL --------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (2, 3, 2, 2)])
def test_nll_loss_parity(reduction, shape):
    r = rng(5)
    x = r.standard_normal(shape)
    t = classes(r, (shape[0],) + shape[2:], shape[1])
    check_module_parity(nn.NLLLoss(reduction=reduction), torch.nn.NLLLoss(reduction=reduction), x, t)


def test_log_softmax_then_nll_equals_cross_entropy():
    r = rng(6)
    x, t = db.tensor(r.standard_normal((6, 5))), db.tensor(classes(r, 6, 5))
    assert_close(F.nll_loss(F.log_softmax(x, 1), t), F.cross_entropy(x, t).numpy())


def test_nll_gradcheck():
    r = rng(7)
    x = db.tensor(r.standard_normal((4, 3)), requires_grad=True)
    t = db.tensor(classes(r, 4, 3))
    assert db.gradcheck(lambda x: F.nll_loss(x, t, reduction="sum"), [x])


# ----- regression and binary losses -----------------------------------------------------------------
REGRESSION = [
    (nn.MSELoss, torch.nn.MSELoss),
    (nn.L1Loss, torch.nn.L1Loss),
    (nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss),
]


@pytest.mark.parametrize("pair", REGRESSION, ids=lambda p: p[0].__name__)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (4, 3), (2, 3, 4)])
def test_regression_loss_parity_with_target_grad(pair, reduction, shape):
    r = rng(8)
    x = 3 * r.standard_normal(shape)
    y = r.uniform(0, 1, shape) if pair[0] is nn.BCEWithLogitsLoss else r.standard_normal(shape)
    check_module_parity(pair[0](reduction=reduction), pair[1](reduction=reduction), x, y)


@pytest.mark.parametrize("fn", [F.mse_loss, F.l1_loss, F.binary_cross_entropy_with_logits])
def test_regression_loss_gradcheck(fn):
    r = rng(9)
    x = db.tensor(r.standard_normal((3, 4)), requires_grad=True)
    y = db.tensor(r.uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    assert db.gradcheck(fn, [x, y])


def test_bce_with_logits_stable_for_huge_logits():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    a = F.binary_cross_entropy_with_logits(db.tensor(x), db.tensor(y), reduction="none")
    assert_close(a, TF.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(y), reduction="none"))


def test_regression_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 1\)"):
        F.mse_loss(db.randn(4, 3), db.randn(4, 1))


# ----- multiclass hinge (SVM) -------------------------------------------------------------------
def svm_loss_torch(s, y, margin, reduction):
    """mean over the batch of sum_{j != y} max(0, s_j - s_y + margin), written with torch ops."""
    correct = s.gather(1, y[:, None])
    m = torch.clamp(s - correct + margin, min=0)
    m = m * (1 - TF.one_hot(y, s.shape[1]).to(s.dtype))
    per = m.sum(dim=1)
    return {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]


class _TorchSVM(torch.nn.Module):
    def __init__(self, margin, reduction):
        super().__init__()
        self.margin, self.reduction = margin, reduction

    def forward(self, s, y):
        return svm_loss_torch(s, y, self.margin, self.reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [1.0, 0.5, 3.0])
def test_svm_loss_parity(reduction, margin):
    r = rng(10)
    s, t = r.standard_normal((8, 5)), classes(r, 8, 5)
    check_module_parity(nn.MultiClassHingeLoss(margin=margin, reduction=reduction),
                        _TorchSVM(margin, reduction), s, t)
    a = F.svm_loss(db.tensor(s), db.tensor(t), margin, reduction=reduction)
    assert_close(a, svm_loss_torch(torch.tensor(s), torch.tensor(t), margin, reduction))


def test_svm_loss_known_value_and_gradcheck():
    # the CS231n example: scores (3.2, 5.1, -1.7), correct class 0 -> 2.9 + 0 = 2.9
    s = db.tensor(np.array([[3.2, 5.1, -1.7]]), requires_grad=True)
    loss = F.svm_loss(s, db.tensor(np.array([0])))
    assert abs(loss.item() - 2.9) < 1e-12
    loss.backward()
    np.testing.assert_allclose(s.grad, [[-1.0, 1.0, 0.0]])
    r = rng(11)
    x = db.tensor(r.standard_normal((4, 3)), requires_grad=True)
    t = db.tensor(classes(r, 4, 3))
    assert db.gradcheck(lambda x: F.svm_loss(x, t), [x])
