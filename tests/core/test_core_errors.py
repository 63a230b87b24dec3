"""Bad inputs raise the right exception with a message that says what is wrong."""
import re

import numpy as np
import pytest

import deepbasic as db
from deepbasic import ops
from deepbasic.nn import functional as F
from deepbasic.ops.loss import check_class_target


def x23():
    return db.randn(2, 3)


def test_matmul_inner_size_mismatch_message_is_exact():
    with pytest.raises(ValueError) as e:
        db.randn(3, 4) @ db.randn(5, 2)
    assert str(e.value) == "matmul: (3, 4) @ (5, 2): inner sizes 4 and 5 differ"
    with pytest.raises(ValueError, match=re.escape("matmul: (3,) @ (4, 2): inner sizes 3 and 4")):
        db.matmul(db.randn(3), db.randn(4, 2))


def test_matmul_batch_and_scalar_errors():
    with pytest.raises(ValueError, match=re.escape("(2, 3, 4) @ (3, 4, 2): batch dims do not")):
        db.randn(2, 3, 4) @ db.randn(3, 4, 2)
    with pytest.raises(ValueError, match="at least 1 dim"):
        db.tensor(1.0) @ db.randn(2)


@pytest.mark.parametrize("shape", [(4, 2), (4, -1), (-1, -1), (7,), (-2, 3)])
def test_reshape_to_wrong_size_names_both_shapes(shape):
    with pytest.raises(ValueError, match=re.escape(f"(2, 3) (6 elements) as {shape}")):
        x23().reshape(*shape)


def test_cat_and_stack_of_mismatched_shapes():
    with pytest.raises(ValueError, match=re.escape(
            "cat: tensor 0 has shape (2, 3) but tensor 1 has shape (2, 4); shapes must match "
            "except along dim 0")):
        db.cat([db.randn(2, 3), db.randn(2, 4)])
    with pytest.raises(ValueError, match=re.escape("tensor 1 has shape (2,)")):
        db.cat([db.randn(2, 3), db.randn(2)], dim=1)
    with pytest.raises(ValueError, match=re.escape(
            "stack: tensor 0 has shape (2, 3) but tensor 2 has shape (3, 2)")):
        db.stack([db.randn(2, 3), db.randn(2, 3), db.randn(3, 2)])
    with pytest.raises(ValueError, match="non-empty"):
        db.cat([])
    with pytest.raises(ValueError, match="non-empty"):
        db.stack([])


@pytest.mark.parametrize("bad", [3, 7, -1])
def test_cross_entropy_target_out_of_range_names_the_value(bad):
    with pytest.raises(IndexError, match=rf"target {bad} is out of range for 3 classes \[0, 2\]"):
        F.cross_entropy(db.randn(2, 3), db.tensor([0, bad]))
    with pytest.raises(IndexError, match=rf"svm_loss: target {bad} is out of range"):
        check_class_target(db.randn(2, 3), np.array([bad, 1]), "svm_loss")


def test_cross_entropy_ignored_targets_are_not_range_checked():
    loss = F.cross_entropy(db.randn(2, 3), db.tensor([-100, 1]))
    assert np.isfinite(loss.item())


@pytest.mark.parametrize("dtype", ["float32", "float64", "bool"])
def test_float_targets_are_a_type_error_naming_dtype(dtype):
    with pytest.raises(TypeError, match=f"integer class indices.*got dtype {dtype}"):
        F.cross_entropy(db.randn(2, 3), db.tensor([0, 1], dtype=dtype))
    with pytest.raises(TypeError, match=f"got dtype {dtype}"):
        check_class_target(db.randn(2, 3), np.array([0, 1], dtype=dtype), "nll_loss")


def test_target_shape_mismatch():
    with pytest.raises(ValueError, match=re.escape(
            "target shape (3,) does not match scores (2, 3): expected (2,)")):
        F.cross_entropy(db.randn(2, 3), db.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=re.escape("target shape (2, 1)")):
        check_class_target(db.randn(2, 3), np.zeros((2, 1), dtype=np.int64), "cross_entropy")
    with pytest.raises(ValueError, match=re.escape("expected scores of shape (N, C), got (3,)")):
        check_class_target(db.randn(3), np.zeros(3, dtype=np.int64), "cross_entropy")


DIM_ERRORS = {
    "sum": lambda x: x.sum(2),
    "mean": lambda x: x.mean(-3),
    "var": lambda x: x.var(5),
    "amax": lambda x: x.amax((0, 2)),
    "logsumexp": lambda x: x.logsumexp(-3),
    "max": lambda x: x.max(2),
    "argmax": lambda x: x.argmax(2),
    "softmax": lambda x: x.softmax(2),
    "log_softmax": lambda x: x.log_softmax(-3),
    "ops.softmax": lambda x: ops.softmax(x, 2),
    "transpose": lambda x: x.transpose(0, 2),
    "squeeze": lambda x: x.squeeze(2),
    "flatten": lambda x: x.flatten(2),
    "cat": lambda x: db.cat([x, x], 2),
    "split": lambda x: x.split(1, 2),
}


@pytest.mark.parametrize("name", list(DIM_ERRORS))
def test_invalid_dim(name):
    with pytest.raises(IndexError, match=r"dim -?\d is out of range for a tensor with 2 dimensions "
                                         r"\(expected -2 to 1\)"):
        DIM_ERRORS[name](x23())


def test_invalid_dim_other_cases():
    with pytest.raises(IndexError, match="dim 4 is out of range for a tensor with 3 dimensions"):
        x23().unsqueeze(4)
    with pytest.raises(IndexError, match="with 3 dimensions"):
        db.stack([x23(), x23()], dim=3)
    with pytest.raises(ValueError, match="repeats an axis"):
        x23().sum((0, 0))
    with pytest.raises(ValueError, match="repeats an axis"):
        x23().sum((1, -1))
    with pytest.raises(TypeError, match="dim must be an integer, got 1.0"):
        x23().sum(1.0)
    with pytest.raises(ValueError, match="start_dim 2 comes after end_dim 1"):
        db.randn(2, 3, 4).flatten(2, 1)
    with pytest.raises(ValueError, match=re.escape("dims (0, 0) are not a permutation")):
        x23().permute(0, 0)
    with pytest.raises(ValueError, match=re.escape("dims (0,) are not a permutation")):
        x23().permute(0)


def test_expand_errors():
    with pytest.raises(ValueError, match=re.escape("cannot expand shape (2, 3) to (4, 3)")):
        x23().expand(4, 3)
    with pytest.raises(ValueError, match="fewer dims"):
        x23().expand(3)


def test_item_on_multi_element_tensor():
    with pytest.raises(ValueError, match=re.escape("only one-element tensors can be converted, "
                                                   "this one has shape (2, 3)")):
        x23().item()
    with pytest.raises(ValueError, match="one-element"):
        float(x23())
    with pytest.raises(RuntimeError, match="truth value of a tensor with 6 elements"):
        bool(x23())
    with pytest.raises(TypeError, match="len"):
        len(db.tensor(1.0))


@pytest.mark.parametrize("pad", [(1,), (1, 2, 3), (1, 1, 1, 1, 1, 1)])
def test_pad_with_odd_or_too_many_sizes(pad):
    with pytest.raises(ValueError, match=re.escape(f"even number of sizes, at most 2 per dim "
                                                   f"(4 for shape (2, 3)), got {pad}")):
        ops.pad(x23(), pad)


def test_pad_negative():
    with pytest.raises(ValueError, match="non-negative"):
        ops.pad(x23(), (-1, 1))


def test_split_chunk_errors():
    with pytest.raises(ValueError, match=re.escape("sizes [1, 1] add up to 2, but dim 1 has 3")):
        x23().split([1, 1], 1)
    with pytest.raises(ValueError, match="split_size must be positive, got 0"):
        x23().split(0)
    with pytest.raises(ValueError, match="chunks must be a positive integer, got 0"):
        x23().chunk(0)


def test_getitem_out_of_range_names_index_and_shape():
    with pytest.raises(IndexError, match=re.escape("index 5 into a tensor of shape (2, 3)")):
        x23()[5]
    with pytest.raises(IndexError, match="too many indices"):
        x23()[0, 0, 0]


def test_broadcast_mismatch_names_shapes():
    with pytest.raises(ValueError, match=re.escape("shapes (2,3) (4,)")):
        x23() + db.randn(4)


def test_in_place_assignment_to_tensor_requiring_grad():
    x = db.randn(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place assignment.*no_grad"):
        x[0] = 1.0
    with db.no_grad():
        x[0] = 1.0
    assert x[0].item() == 1.0


def test_requires_grad_false_on_non_leaf():
    y = db.randn(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad_(False)


def test_gradcheck_rejects_float32_and_reports_wrong_gradients():
    with pytest.raises(TypeError, match="float64"):
        db.gradcheck(lambda t: t * 2, [db.randn(2, requires_grad=True)])

    class Wrong(db.Function):
        def forward(self, a):
            self.a = a
            return a * a

        def backward(self, g):
            return g * self.a  # should be 2 a

    x = db.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    with pytest.raises(AssertionError, match="gradcheck failed"):
        db.gradcheck(Wrong.apply, [x])
    assert not db.gradcheck(Wrong.apply, [x], raise_exception=False)
