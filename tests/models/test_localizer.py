"""The Localizer: shapes, target packing, box parameterization, the joint loss and its gradient."""
import numpy as np
import pytest

from deepbasic import backend
from deepbasic.gradcheck import gradcheck
from deepbasic.models.localizer import (Localizer, box_regression_loss, decode_boxes,
                                        localization_loss, pack_targets, smooth_l1,
                                        split_outputs, unpack_targets)
from deepbasic.tensor import Tensor


def test_outputs_scores_then_box():
    backend.manual_seed(0)
    model = Localizer(6, input_shape=(3, 16, 16), channels=(4, 8), hidden=16)
    out = model(Tensor(np.random.default_rng(0).random((3, 3, 16, 16), dtype=np.float32)))
    assert out.shape == (3, 10)
    scores, box = split_outputs(out, 6)
    assert scores.shape == (3, 6) and box.shape == (3, 4)
    # the box head starts near the mean box: centred, a quarter of the side
    np.testing.assert_allclose(box.data, np.tile([0.375, 0.375, 0.25, 0.25], (3, 1)), atol=0.05)


def test_predict_gives_labels_probabilities_and_pixel_boxes():
    backend.manual_seed(0)
    model = Localizer(4, input_shape=(3, 16, 16), channels=(4, 8), hidden=16)
    labels, probs, boxes = model.predict(np.random.default_rng(0).random((5, 3, 16, 16),
                                                                          dtype=np.float32))
    assert labels.shape == (5,) and labels.dtype == np.int64 and ((0 <= labels) & (labels < 4)).all()
    assert ((probs > 0.25 - 1e-6) & (probs <= 1)).all()
    assert boxes.shape == (5, 4) and (boxes >= 0).all() and (boxes <= 16).all()
    assert (boxes[:, 2:] >= boxes[:, :2]).all()
    assert model.training   # predict restores the mode


def test_pack_unpack_and_decode_round_trip():
    labels = np.array([2, 0])
    boxes = np.array([[8, 4, 16, 32], [0, 0, 64, 64]], np.float32)    # xywh pixels
    t = pack_targets(labels, boxes, (64, 64))
    assert t.dtype == np.float32 and t.shape == (2, 5)
    np.testing.assert_allclose(t, [[2, 0.125, 0.0625, 0.25, 0.5], [0, 0, 0, 1, 1]])
    got_labels, got_boxes = unpack_targets(Tensor(t))
    assert got_labels.dtype == np.int64 and list(got_labels) == [2, 0]
    plain_labels, plain_boxes = unpack_targets(t)            # a NumPy array works too
    assert list(plain_labels) == [2, 0] and np.array_equal(plain_boxes, got_boxes.data)
    np.testing.assert_allclose(decode_boxes(got_boxes, 64), [[8, 4, 24, 36], [0, 0, 64, 64]])
    # non-square images scale x by W and y by H; boxes are clipped to the image
    t = pack_targets([1], [[10, 5, 20, 10]], (20, 40))
    np.testing.assert_allclose(t[0, 1:], [0.25, 0.25, 0.5, 0.5])
    np.testing.assert_allclose(decode_boxes([[-0.1, 0.5, 0.5, 0.9]], (20, 40)), [[0, 10, 16, 20]])


def test_smooth_l1_values():
    d = Tensor(np.array([-0.3, -0.01, 0.0, 0.005, 0.02, 0.5]))
    beta = 0.02
    a = np.abs(d.data)
    want = np.where(a < beta, 0.5 * a ** 2 / beta, a - 0.5 * beta)
    np.testing.assert_allclose(smooth_l1(d, beta).data, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", ["smooth_l1", "l2"])
def test_box_loss_matches_torch(kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p, t = rng.random((5, 4)) * 0.2, rng.random((5, 4)) * 0.2
    ours = box_regression_loss(Tensor(p), Tensor(t), kind, beta=0.05).item()
    tp, tt = torch.tensor(p), torch.tensor(t)
    if kind == "l2":
        ref = 0.5 * torch.nn.functional.mse_loss(tp, tt, reduction="sum") / 5
    else:
        ref = torch.nn.functional.smooth_l1_loss(tp, tt, reduction="sum", beta=0.05) / 5
    assert ours == pytest.approx(ref.item(), rel=1e-10)


@pytest.mark.parametrize("kind", ["smooth_l1", "l2"])
def test_joint_loss_value_and_gradient(kind):
    rng = np.random.default_rng(2)
    out = Tensor(rng.standard_normal((4, 7)) * 0.3, requires_grad=True)
    labels = np.array([0, 2, 1, 2])
    targets = Tensor(pack_targets(labels, rng.uniform(2, 20, (4, 4)), 32).astype(np.float64))
    loss = localization_loss(out, targets, 3, box_weight=2.5, box_loss=kind, beta=0.1)
    s = out.data[:, :3]
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    ce = -logp[np.arange(4), labels].mean()
    d = np.abs(out.data[:, 3:] - targets.data[:, 1:])
    box = (np.where(d < 0.1, 0.5 * d ** 2 / 0.1, d - 0.05) if kind == "smooth_l1"
           else 0.5 * d ** 2).sum() / 4
    assert loss.item() == pytest.approx(ce + 2.5 * box, rel=1e-10)
    assert gradcheck(lambda o: localization_loss(o, targets, 3, 2.5, kind, 0.1), [out])
    # targets as a plain array give the same loss
    same = localization_loss(out, targets.data, 3, box_weight=2.5, box_loss=kind, beta=0.1)
    assert same.item() == pytest.approx(loss.item(), rel=1e-12)


def test_gradient_flows_to_both_heads_and_the_trunk():
    backend.manual_seed(0)
    model = Localizer(3, input_shape=(3, 16, 16), channels=(4, 8), hidden=16)
    x = Tensor(np.random.default_rng(0).random((4, 3, 16, 16), dtype=np.float32))
    y = Tensor(pack_targets(np.array([0, 1, 2, 0]), np.full((4, 4), 4.0), 16))
    localization_loss(model(x), y, 3).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.abs(p.grad).sum() > 0, name


def test_errors_name_what_was_expected():
    model = Localizer(3, input_shape=(3, 16, 16), channels=(4, 8), hidden=16)
    with pytest.raises(ValueError, match=r"expected images \(N, 3, 16, 16\)"):
        model(Tensor(np.zeros((1, 3, 32, 32), np.float32)))
    with pytest.raises(ValueError, match="divisible by 4"):
        Localizer(3, input_shape=(3, 18, 18), channels=(4, 8))
    with pytest.raises(ValueError, match=r"expected outputs \(N, 7\)"):
        split_outputs(np.zeros((2, 6)), 3)
    with pytest.raises(ValueError, match=r"expected targets \(N, 5\)"):
        unpack_targets(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="kind must be one of"):
        box_regression_loss(Tensor(np.zeros((1, 4))), Tensor(np.zeros((1, 4))), "l1")
