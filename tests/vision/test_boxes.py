"""Boxes: format conversions, areas, IoU (hand values and brute force), clipping, the R-CNN box
parameterization, NMS and batched NMS against straightforward references."""
import itertools
import math

import numpy as np
import pytest

import deepbasic as db
from deepbasic.vision import (
    BBOX_XFORM_CLIP,
    batched_nms,
    box_area,
    box_convert,
    box_iou,
    clip_boxes,
    cxcywh_to_xyxy,
    decode_boxes,
    elementwise_box_iou,
    encode_boxes,
    nms,
    remove_small_boxes,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)


def random_boxes(rng, n, low=-20.0, high=100.0, max_size=40.0):
    """n valid xyxy boxes (positive width and height)."""
    xy = rng.uniform(low, high, (n, 2))
    wh = rng.uniform(0.5, max_size, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


# ----- references ---------------------------------------------------------------------------------
def iou_one(a, b):
    """IoU of two xyxy boxes, written out."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def nms_reference(boxes, scores, thr):
    """torchvision's CPU NMS kernel as plain loops: visit by decreasing score (stable), mark the
    later boxes whose IoU with a kept box is > thr."""
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    suppressed = [False] * len(boxes)
    keep = []
    for a, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            if not suppressed[j] and iou_one(boxes[i], boxes[j]) > thr:
                suppressed[j] = True
    return keep


# ----- conversions --------------------------------------------------------------------------------
def test_conversions_hand_values():
    xywh = np.array([[1.0, 2.0, 3.0, 4.0]])
    xyxy = xywh_to_xyxy(xywh)
    np.testing.assert_array_equal(xyxy, [[1, 2, 4, 6]])
    np.testing.assert_array_equal(xyxy_to_cxcywh(xyxy), [[2.5, 4, 3, 4]])
    np.testing.assert_array_equal(box_convert(xywh, "xywh", "cxcywh"), [[2.5, 4, 3, 4]])
    np.testing.assert_array_equal(cxcywh_to_xyxy([[2.5, 4, 3, 4]]), [[1, 2, 4, 6]])
    np.testing.assert_array_equal(xyxy_to_xywh([[1, 2, 4, 6]]), xywh)


@pytest.mark.parametrize("a,b", list(itertools.permutations(["xyxy", "xywh", "cxcywh"], 2)))
def test_conversions_round_trip(a, b):
    boxes = random_boxes(np.random.default_rng(0), 50).reshape(5, 10, 4)  # any leading shape
    there = box_convert(boxes, a, b)
    assert there.shape == boxes.shape
    np.testing.assert_allclose(box_convert(there, b, a), boxes, rtol=1e-12, atol=1e-12)


def test_conversion_keeps_float32_and_makes_ints_float64():
    b32 = np.array([[0, 0, 4, 2]], dtype=np.float32)
    assert xyxy_to_cxcywh(b32).dtype == np.float32
    out = box_convert(np.array([[0, 0, 4, 2]]), "xyxy", "cxcywh")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[2, 1, 4, 2]])
    same = box_convert(b32, "xyxy", "xyxy")
    assert same is not b32 and np.array_equal(same, b32)
    # a Tensor is read through .data
    np.testing.assert_array_equal(xyxy_to_xywh(db.tensor([[1.0, 1.0, 3.0, 4.0]])), [[1, 1, 2, 3]])


def test_conversion_errors():
    with pytest.raises(ValueError, match=r"box format must be one of .* got 'xyz'"):
        box_convert(np.zeros((1, 4)), "xyz", "xyxy")
    with pytest.raises(ValueError, match=r"must have shape \(\.\.\., 4\), got shape \(2, 3\)"):
        xyxy_to_xywh(np.zeros((2, 3)))


# ----- area and IoU -------------------------------------------------------------------------------
def test_box_area_including_degenerate_boxes():
    boxes = np.array([[0, 0, 2, 3], [1, 1, 1, 5], [3, 3, 1, 1], [0, 0, 0.5, 0.5]], dtype=float)
    np.testing.assert_array_equal(box_area(boxes), [6, 0, 0, 0.25])
    assert box_area(np.zeros((0, 4))).shape == (0,)


def test_box_iou_hand_values():
    a = np.array([[0, 0, 2, 2], [0, 0, 4, 4], [5, 5, 5, 5]], dtype=float)
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [2, 0, 4, 2], [1, 1, 2, 2], [5, 5, 5, 5]],
                 dtype=float)
    expected = np.array([
        [1 / 7, 1, 0, 1 / 4, 0],      # overlap, identical, touching edge, contains, zero-area
        [4 / 16, 4 / 16, 4 / 16, 1 / 16, 0],
        [0, 0, 0, 0, 0],              # zero-area box: IoU 0 even with itself
    ])
    np.testing.assert_allclose(box_iou(a, b), expected, rtol=1e-15)


def test_box_iou_against_brute_force():
    rng = np.random.default_rng(1)
    a, b = random_boxes(rng, 17), random_boxes(rng, 23)
    a[3, 2:] = a[3, :2]  # a zero-area box
    b[5] = b[5, [2, 3, 0, 1]]  # an inverted box (area 0)
    ref = np.array([[iou_one(x, y) for y in b] for x in a])
    out = box_iou(a, b)
    assert out.shape == (17, 23)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-15)
    assert np.all((out >= 0) & (out <= 1))
    np.testing.assert_allclose(elementwise_box_iou(a[:, None], b[None]), ref, rtol=1e-12)
    np.testing.assert_allclose(elementwise_box_iou(a[:10], b[:10]), np.diag(ref[:10, :10]))


def test_box_iou_empty_and_errors():
    assert box_iou(np.zeros((0, 4)), random_boxes(np.random.default_rng(0), 3)).shape == (0, 3)
    assert box_iou(np.zeros((2, 4)), np.zeros((0, 4))).shape == (2, 0)
    with pytest.raises(ValueError, match=r"box_iou: boxes_b must have shape \(N, 4\)"):
        box_iou(np.zeros((2, 4)), np.zeros((4,)))


def test_clip_and_remove_small_boxes():
    boxes = np.array([[-5, -5, 10, 10], [50, 2, 70, 8], [1, 1, 3, 9], [2, 2, 2.5, 6]], float)
    clipped = clip_boxes(boxes, height=8, width=60)
    np.testing.assert_array_equal(clipped, [[0, 0, 10, 8], [50, 2, 60, 8], [1, 1, 3, 8],
                                            [2, 2, 2.5, 6]])
    np.testing.assert_array_equal(remove_small_boxes(clipped, 1.0), [0, 1, 2])
    np.testing.assert_array_equal(remove_small_boxes(clipped, 7.0), [0])
    outside = clip_boxes([[100.0, 100.0, 120.0, 130.0]], 50, 50)
    np.testing.assert_array_equal(outside, [[50, 50, 50, 50]])
    assert remove_small_boxes(outside, 0.0).tolist() == [0]  # zero width >= 0
    assert remove_small_boxes(outside, 1e-9).tolist() == []
    assert remove_small_boxes(np.zeros((0, 4)), 1).dtype == np.int64


# ----- encode / decode ----------------------------------------------------------------------------
def test_encode_hand_values():
    ref = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 20.0]])
    tgt = np.array([[0.0, 0.0, 20.0, 20.0], [5.0, 0.0, 15.0, 20.0]])
    d = encode_boxes(ref, tgt)
    np.testing.assert_allclose(d, [[0.5, 0.5, math.log(2), math.log(2)], [0.5, 0, 0, 0]])
    dw = encode_boxes(ref, tgt, weights=(10, 10, 5, 5))
    np.testing.assert_allclose(dw, d * [10, 10, 5, 5])
    np.testing.assert_allclose(decode_boxes(ref, dw, weights=(10, 10, 5, 5)), tgt)


@pytest.mark.parametrize("weights", [(1, 1, 1, 1), (10, 10, 5, 5)])
def test_encode_decode_are_inverse(weights):
    rng = np.random.default_rng(2)
    ref, tgt = random_boxes(rng, 40), random_boxes(rng, 40)
    deltas = encode_boxes(ref, tgt, weights)
    np.testing.assert_allclose(decode_boxes(ref, deltas, weights), tgt, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(encode_boxes(ref, ref, weights), 0, atol=1e-15)


def test_decode_class_specific_deltas_broadcast_and_clamp():
    rng = np.random.default_rng(3)
    ref = random_boxes(rng, 6)
    deltas = rng.normal(size=(6, 3, 4)) * 0.1  # 3 classes
    out = decode_boxes(ref[:, None], deltas)
    assert out.shape == (6, 3, 4)
    for c in range(3):
        np.testing.assert_allclose(out[:, c], decode_boxes(ref, deltas[:, c]))
    huge = decode_boxes([[0.0, 0.0, 16.0, 16.0]], [[0.0, 0.0, 50.0, 50.0]])
    np.testing.assert_allclose(huge, [[8 - 500, 8 - 500, 8 + 500, 8 + 500]])
    assert math.isclose(BBOX_XFORM_CLIP, math.log(1000 / 16))


def test_encode_rejects_degenerate_boxes():
    with pytest.raises(ValueError, match="reference boxes must have positive width and height; "
                                         "1 of 2 do not"):
        encode_boxes([[0, 0, 0, 5], [0, 0, 1, 1]], [[0, 0, 1, 1], [0, 0, 1, 1]])
    with pytest.raises(ValueError, match="target boxes"):
        encode_boxes([[0, 0, 1, 1]], [[0, 0, 1, -1]])
    with pytest.raises(ValueError, match=r"weights must be 4 numbers"):
        decode_boxes([[0, 0, 1, 1]], [[0, 0, 0, 0]], weights=(1, 1))


# ----- NMS ----------------------------------------------------------------------------------------
def test_nms_known_case():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.5]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    keep = nms(boxes, scores, 0.5)
    assert keep.dtype == np.int64
    np.testing.assert_array_equal(keep, [3, 2])  # 3 suppresses 0 and 1; 2 stands alone
    np.testing.assert_array_equal(nms(boxes, scores, 0.99), [3, 0, 1, 2])


def test_nms_threshold_is_strict():
    boxes = np.array([[0, 0, 2, 1], [0, 0, 1, 1]], float)  # IoU exactly 0.5
    assert nms(boxes, np.array([1.0, 0.5]), 0.5).tolist() == [0, 1]
    assert nms(boxes, np.array([1.0, 0.5]), 0.49).tolist() == [0]


def test_nms_ties_empty_and_degenerate():
    boxes = np.array([[0, 0, 4, 4], [0, 0, 4, 4], [10, 10, 12, 12]], float)
    assert nms(boxes, np.array([0.5, 0.5, 0.5]), 0.3).tolist() == [0, 2]  # lower index first
    assert nms(boxes, np.array([0.5, 0.6, 0.5]), 0.3).tolist() == [1, 2]
    empty = nms(np.zeros((0, 4)), np.zeros(0), 0.5)
    assert empty.shape == (0,) and empty.dtype == np.int64
    points = np.array([[3, 3, 3, 3], [3, 3, 3, 3], [0, 0, 6, 6]], float)  # zero-area boxes
    assert nms(points, np.array([0.9, 0.8, 0.7]), 0.1).tolist() == [0, 1, 2]


@pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 0.7])
def test_nms_against_reference(thr):
    rng = np.random.default_rng(int(thr * 10))
    boxes = random_boxes(rng, 120, low=0, high=60, max_size=30)
    scores = rng.random(120)
    scores[10:20] = scores[0]  # some ties
    keep = nms(boxes, scores, thr)
    assert keep.tolist() == nms_reference(boxes, scores, thr)
    # what was kept does not overlap beyond the threshold
    iou = box_iou(boxes[keep], boxes[keep])
    assert np.all(iou[~np.eye(len(keep), dtype=bool)] <= thr)
    # float32 boxes and a Tensor of scores give the same answer
    assert nms(boxes.astype(np.float32), db.tensor(scores), thr).tolist() == \
        nms_reference(boxes.astype(np.float32).astype(float), scores, thr)


def test_nms_errors():
    with pytest.raises(ValueError, match=r"nms: scores must have shape \(2,\) to match boxes"):
        nms(np.zeros((2, 4)), np.zeros(3), 0.5)
    with pytest.raises(ValueError, match="scores contain NaN"):
        nms(np.zeros((2, 4)), np.array([0.1, np.nan]), 0.5)


def test_batched_nms_keeps_overlapping_boxes_of_other_classes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    assert nms(boxes, scores, 0.5).tolist() == [0, 3]
    assert batched_nms(boxes, scores, np.array([0, 0, 1, 1]), 0.5).tolist() == [0, 2, 3]
    assert batched_nms(boxes, scores, np.array([0, 1, 2, 3]), 0.5).tolist() == [0, 1, 2, 3]
    assert batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), 0.5).tolist() == []


def test_batched_nms_against_per_class_reference():
    rng = np.random.default_rng(7)
    boxes = random_boxes(rng, 150, low=-50, high=40, max_size=40)  # negative coordinates too
    scores = rng.random(150)
    labels = rng.choice([-1, 3, 7, 100], size=150)
    keep = batched_nms(boxes, scores, labels, 0.4)
    ref = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        ref += [idx[i] for i in nms_reference(boxes[idx], scores[idx], 0.4)]
    ref.sort(key=lambda i: (-scores[i], i))
    assert keep.tolist() == ref


def test_batched_nms_errors():
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        batched_nms(np.zeros((2, 4)), np.zeros(2), np.zeros(3, int), 0.5)
    with pytest.raises(ValueError, match="labels must be integers"):
        batched_nms(np.zeros((2, 4)), np.zeros(2), np.array([0.5, 1.0]), 0.5)
