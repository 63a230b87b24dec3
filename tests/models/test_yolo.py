"""The YOLO-style detector: shapes, decoding, target assignment, loss gradient, detect()."""
import math

import numpy as np
import pytest

from deepbasic import backend
from deepbasic.gradcheck import gradcheck
from deepbasic.models.yolo import DEFAULT_ANCHORS, YOLO, decode_predictions
from deepbasic.tensor import Tensor
from deepbasic.train.yolo import assign_targets, build_yolo, ignore_mask, shape_iou, yolo_loss

ANCHORS = np.array(DEFAULT_ANCHORS)          # square (2, 2), tall (2, 3), wide (3, 2)


def _logit(p):
    return math.log(p / (1 - p))


def test_forward_shapes_and_grid():
    backend.manual_seed(0)
    m = YOLO(6, 64, channels=(4, 8, 8, 8))
    assert m.grid_size == 8 and m.num_anchors == 3
    assert m(Tensor(np.zeros((2, 3, 64, 64), np.float32))).shape == (2, 8 * 8 * 3, 11)
    m32 = YOLO(2, 32, channels=(4, 8, 8))
    assert m32(Tensor(np.zeros((1, 3, 32, 32), np.float32))).shape == (1, 4 * 4 * 3, 7)
    with pytest.raises(ValueError, match="power of 2"):
        YOLO(2, 64, stride=6)
    with pytest.raises(ValueError, match="multiple of the stride"):
        YOLO(2, 60)
    with pytest.raises(ValueError, match="conv blocks"):
        YOLO(2, 64, channels=(4, 8))


def test_decode_known_offsets():
    s, a = 4, 3
    raw = np.zeros((1, s * s * a, 7))
    row = (2 * s + 1) * a + 1                     # cell x=1, y=2, the tall anchor (2, 3)
    raw[0, row, :4] = [_logit(0.25), _logit(0.75), math.log(2.0), 0.0]
    boxes = decode_predictions(raw, s, 8.0, ANCHORS)
    assert boxes.shape == (1, 48, 4)
    cx, cy, w, h = (1 + 0.25) * 8, (2 + 0.75) * 8, 2 * 2.0 * 8, 3.0 * 8
    np.testing.assert_allclose(boxes[0, row], [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    # zero raw output: the anchor box centred on its cell
    np.testing.assert_allclose(boxes[0, 0], [4 - 8, 4 - 8, 4 + 8, 4 + 8])      # square 2x2 cells
    np.testing.assert_allclose(boxes[0, 2], [4 - 12, 4 - 8, 4 + 12, 4 + 8])    # wide 3x2 cells


def test_shape_iou():
    np.testing.assert_allclose(shape_iou(np.array([2.0, 2.0]), np.array([2.0, 3.0])), 4 / 6)
    np.testing.assert_allclose(shape_iou(np.array([1.0, 1.0]), np.array([1.0, 1.0])), 1.0)


def test_assign_targets_picks_cell_and_anchor():
    t = np.full((2, 3, 5), 0.0)
    t[..., 4] = -1
    t[0, 0] = [12, 32, 28, 56, 3]        # centre (20, 44) -> cell (2, 5); 16x24 px = 2x3 cells
    t[0, 1] = [40, 4, 64, 20, 1]         # centre (52, 12) -> cell (6, 1); 24x16 = 3x2: wide
    t[1, 0] = [0, 0, 10, 10, 5]          # centre (5, 5) -> cell (0, 0); small: square
    t[1, 1] = [1, 1, 9, 9, 2]            # same cell and anchor: the earlier box keeps it
    asg = assign_targets(t, 8, 8, ANCHORS)
    per = 8 * 8 * 3
    # sorted by prediction index: row (y * S + x) * A + a of image n at n * S*S*A
    assert asg["index"].tolist() == [(1 * 8 + 6) * 3 + 2, (5 * 8 + 2) * 3 + 1, per + 0]
    assert asg["image"].tolist() == [0, 0, 1]
    assert asg["labels"].tolist() == [1, 3, 5]
    assert asg["anchor"].tolist() == [2, 1, 0]
    assert asg["cell"].tolist() == [[6, 1], [2, 5], [0, 0]]
    np.testing.assert_allclose(asg["t"][1], [0.5, 0.5, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(asg["t"][2], [5 / 8, 5 / 8, math.log(1.25 / 2), math.log(1.25 / 2)])
    np.testing.assert_allclose(asg["boxes"][0], [40, 4, 64, 20])
    # a centre on the right border goes to the last cell
    t2 = np.array([[[48, 0, 64, 64, 0]]], float)
    assert assign_targets(t2, 8, 8, ANCHORS)["cell"].tolist() == [[7, 4]]
    # no boxes at all
    empty = np.full((2, 1, 5), -1.0)
    assert len(assign_targets(empty, 8, 8, ANCHORS)["index"]) == 0


def _tiny_targets():
    t = np.zeros((2, 2, 5))
    t[..., 4] = -1
    t[0, 0] = [1, 2, 9, 14, 1]
    t[0, 1] = [6, 3, 15, 9, 0]
    t[1, 0] = [2, 8, 12, 15, 1]
    return t


def test_loss_gradcheck():
    rng = np.random.default_rng(0)
    raw = Tensor(rng.normal(0, 0.5, (2, 2 * 2 * 3, 7)), requires_grad=True)
    targets = _tiny_targets()
    gradcheck(lambda r: yolo_loss(r, targets, 2, 8, ANCHORS), [raw])
    loss, parts = yolo_loss(raw, targets, 2, 8, ANCHORS, return_parts=True)
    assert parts["assigned"] == 3 and parts["box"] > 0 and parts["class"] > 0
    assert math.isclose(loss.item(), parts["box"] + parts["objectness"] + parts["class"],
                        rel_tol=1e-9)


def test_loss_ignore_rule_and_no_objects():
    targets = _tiny_targets()
    raw = np.zeros((2, 12, 7))
    # make an unassigned prediction of image 1 decode exactly onto its ground-truth box
    boxes = decode_predictions(raw, 2, 8, ANCHORS)
    asg = assign_targets(targets, 2, 8, ANCHORS)
    # the ground truth of image 1 has its centre in cell (0, 1): rows 6..8; one is assigned
    row = next(r for r in (6, 7, 8) if 12 + r not in set(asg["index"].tolist()))
    mask = ignore_mask(boxes, targets, 0.5)
    assert mask.shape == (2, 12)
    gt = targets[1, 0, :4]
    cell = np.array([row // 3 % 2, row // 3 // 2])
    size = (gt[2:] - gt[:2]) / 8
    centre = (gt[:2] + gt[2:]) / 16
    off = centre - cell
    assert np.all((off > 0) & (off < 1))
    raw[1, row, :4] = [_logit(off[0]), _logit(off[1]), *np.log(size / ANCHORS[row % 3])]
    raw[1, row, 4] = 3.0
    x = Tensor(raw.copy(), requires_grad=True)
    yolo_loss(x, targets, 2, 8, ANCHORS).backward()
    iou = ignore_mask(decode_predictions(raw, 2, 8, ANCHORS), targets, 0.5)[1, row]
    assert iou and x.grad[1, row, 4] == 0          # ignored: no push towards background
    # images without objects: only the objectness term, all towards background
    empty = np.full((2, 1, 5), -1.0)
    y = Tensor(np.zeros((2, 12, 7)), requires_grad=True)
    loss = yolo_loss(y, empty, 2, 8, ANCHORS)
    np.testing.assert_allclose(loss.item(), 24 * math.log(2))
    y_grad = (loss.backward(), y.grad)[1]
    assert np.all(y_grad[..., 4] > 0) and np.all(y_grad[..., :4] == 0)


def _fake_model(raw):
    backend.manual_seed(0)
    m = build_yolo(3, 32, channels=(4, 4, 4), stride=8)
    m.forward = lambda x: Tensor(np.repeat(raw[None], x.shape[0], axis=0))
    return m


def test_detect_scores_decoding_and_nms():
    s, a, c = 4, 3, 3
    raw = np.zeros((s * s * a, 5 + c))
    raw[:, 4] = -20.0                                    # background everywhere
    r1 = (1 * s + 2) * a + 0                             # cell (2, 1), square anchor
    raw[r1, 4], raw[r1, 5 + 2] = 5.0, 10.0
    r2 = r1 + 1                                          # same cell, tall anchor: overlaps r1
    raw[r2, 4], raw[r2, 5 + 2] = 1.0, 10.0
    r3 = (3 * s + 0) * a + 2                             # another class elsewhere
    raw[r3, 4], raw[r3, 5 + 0] = 2.0, 10.0
    m = _fake_model(raw)
    dets = m.detect(np.zeros((2, 3, 32, 32), np.float32), score_threshold=0.3)
    assert len(dets) == 2
    d = dets[0]
    assert d["labels"].tolist() == [2, 0]                # r2 suppressed by r1 (same class)
    p = 1 / (1 + math.exp(-5.0)) / (1 + 2 * math.exp(-10.0))
    np.testing.assert_allclose(d["scores"][0], p, rtol=1e-5)
    np.testing.assert_allclose(d["boxes"][0], [(2.5 - 1) * 8, (1.5 - 1) * 8, (2.5 + 1) * 8,
                                               (1.5 + 1) * 8], rtol=1e-6)
    assert d["boxes"][1].min() >= 0 and d["boxes"][1].max() <= 32     # clipped to the image
    assert m.detect(np.zeros((1, 3, 32, 32), np.float32), iou_threshold=0.99,
                    score_threshold=0.3)[0]["labels"].tolist() == [2, 0, 2]


def test_detect_output_contract_and_empty():
    backend.manual_seed(0)
    m = build_yolo(6, 32, channels=(4, 8, 8), stride=8)
    images = np.random.default_rng(0).random((3, 3, 32, 32)).astype(np.float32)
    m.train()
    dets = m.detect(images, score_threshold=1e-4, max_detections=5)   # untrained: prior 1%
    assert m.training                                     # the mode is restored
    assert len(dets) == 3
    for d in dets:
        assert set(d) == {"boxes", "scores", "labels"}
        k = len(d["scores"])
        assert 0 < k <= 5 and d["boxes"].shape == (k, 4) and d["labels"].shape == (k,)
        assert d["boxes"].dtype == np.float32 and d["labels"].dtype == np.int64
        assert np.all(np.diff(d["scores"]) <= 0) and np.all(d["scores"] >= 1e-4)
        assert d["labels"].min() >= 0 and d["labels"].max() < 6
    m.eval()
    none = m.detect(images, score_threshold=1.5)
    assert not m.training
    for d in none:
        assert d["boxes"].shape == (0, 4) and d["scores"].shape == (0,) and \
            d["labels"].shape == (0,)
    with pytest.raises(ValueError, match="32x32"):
        m.detect(np.zeros((1, 3, 64, 64), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        m.detect(np.zeros((3, 32, 32), np.float32))
