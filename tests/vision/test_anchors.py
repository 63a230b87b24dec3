"""Anchors: counts, order, centres, sizes and ratios; YOLO anchor sets; Faster R-CNN matching
(thresholds, low-quality matches, ties) against a written-out reference; balanced sampling."""
import math

import numpy as np
import pytest

import deepbasic as db
from deepbasic.vision import (
    SQUARE_ANCHORS,
    TALL_ANCHORS,
    WIDE_ANCHORS,
    YOLO_ANCHOR_SHAPES,
    anchor_shapes,
    box_iou,
    grid_anchors,
    make_anchors,
    match_anchors,
    sample_balanced,
    xyxy_to_cxcywh,
    yolo_anchors,
)


def random_boxes(rng, n, low=0.0, high=100.0, max_size=40.0):
    xy = rng.uniform(low, high, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(1.0, max_size, (n, 2))], axis=1)


# ----- generation ---------------------------------------------------------------------------------
def test_anchor_shapes_sizes_and_ratios():
    wh = anchor_shapes([32, 64], [0.5, 1.0, 2.0])
    assert wh.shape == (6, 2)
    np.testing.assert_allclose(np.sqrt(wh[:, 0] * wh[:, 1]), [32, 64] * 3)  # size = sqrt(area)
    np.testing.assert_allclose(wh[:, 1] / wh[:, 0], np.repeat([0.5, 1.0, 2.0], 2))  # h / w
    np.testing.assert_allclose(wh[2], [32, 32])  # ratio 1, size 32
    np.testing.assert_allclose(wh[5], [64 / math.sqrt(2), 64 * math.sqrt(2)])


def test_make_anchors_count_order_centres_sizes_ratios():
    h, w, stride = 3, 5, 16
    sizes, ratios = (128, 256, 512), (0.5, 1.0, 2.0)
    anchors = make_anchors((h, w), stride, sizes, ratios)
    assert anchors.shape == (h * w * 9, 4) and anchors.dtype == np.float64
    grid = xyxy_to_cxcywh(anchors).reshape(h, w, 9, 4)  # order (y, x, a)
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    np.testing.assert_allclose(grid[..., 0], ((xs + 0.5) * stride)[..., None].repeat(9, -1))
    np.testing.assert_allclose(grid[..., 1], ((ys + 0.5) * stride)[..., None].repeat(9, -1))
    for a in range(9):
        r, s = divmod(a, 3)  # a = ratio_index * len(sizes) + size_index
        np.testing.assert_allclose(np.sqrt(grid[..., a, 2] * grid[..., a, 3]), sizes[s])
        np.testing.assert_allclose(grid[..., a, 3] / grid[..., a, 2], ratios[r])
    # cell (y=1, x=2), anchor 4 (ratio 1, size 256) is row (1*5 + 2)*9 + 4
    np.testing.assert_allclose(anchors[(1 * 5 + 2) * 9 + 4],
                               [40 - 128, 24 - 128, 40 + 128, 24 + 128])


def test_make_anchors_offset_rectangular_stride_and_empty():
    a = make_anchors((2, 3), (8, 4), [4], [1.0], offset=0.0)  # torchvision-style corners
    np.testing.assert_allclose(xyxy_to_cxcywh(a)[:, :2],
                               [[0, 0], [4, 0], [8, 0], [0, 8], [4, 8], [8, 8]])
    assert make_anchors((0, 4), 16, [32], [1.0]).shape == (0, 4)


def test_yolo_anchor_sets():
    assert np.all(SQUARE_ANCHORS[:, 0] == SQUARE_ANCHORS[:, 1])
    assert np.all(TALL_ANCHORS[:, 1] > TALL_ANCHORS[:, 0])
    assert np.all(WIDE_ANCHORS[:, 0] > WIDE_ANCHORS[:, 1])
    together = np.concatenate([SQUARE_ANCHORS, TALL_ANCHORS, WIDE_ANCHORS])
    assert sorted(map(tuple, together)) == sorted(map(tuple, YOLO_ANCHOR_SHAPES))
    anchors = yolo_anchors((7, 7), stride=32)
    assert anchors.shape == (7 * 7 * 9, 4)
    c = xyxy_to_cxcywh(anchors).reshape(7, 7, 9, 4)
    np.testing.assert_allclose(c[2, 3, :, :2], np.tile([3.5 * 32, 2.5 * 32], (9, 1)))
    np.testing.assert_allclose(c[2, 3, :, 2:], YOLO_ANCHOR_SHAPES * 32)
    unit = yolo_anchors((2, 2), shapes=TALL_ANCHORS)  # grid units
    np.testing.assert_allclose(unit[0], [0.5 - 1, 0.5 - 1.5, 0.5 + 1, 0.5 + 1.5])


def test_anchor_errors():
    with pytest.raises(ValueError, match="sizes must be a non-empty list of positive numbers"):
        make_anchors((2, 2), 16, [], [1.0])
    with pytest.raises(ValueError, match="aspect_ratios must be a non-empty list"):
        make_anchors((2, 2), 16, [32], [0.0])
    with pytest.raises(ValueError, match="stride must be positive"):
        make_anchors((2, 2), 0, [32], [1.0])
    with pytest.raises(ValueError, match="feature_size must be a number or a pair"):
        make_anchors((2, 2, 2), 16, [32], [1.0])
    with pytest.raises(ValueError, match=r"shapes must have shape \(A, 2\)"):
        grid_anchors((2, 2), 16, np.ones((3, 3)))


# ----- matching -----------------------------------------------------------------------------------
def match_reference(anchors, gt, pos, neg, low_quality):
    """Faster R-CNN's rule written out anchor by anchor (no vectorization)."""
    iou = [[float(v) for v in row] for row in box_iou(anchors, gt)]
    labels, matched = [], []
    for row in iou:
        best = max(row)
        j = row.index(best)  # first maximum
        matched.append(j)
        labels.append(1 if best >= pos else (0 if best < neg else -1))
    if low_quality:
        for j in range(len(gt)):
            col = [row[j] for row in iou]
            top = max(col)
            if top > 0:
                for i, v in enumerate(col):
                    if v == top:
                        labels[i] = 1
    return np.array(labels), np.array(matched)


def test_match_anchors_hand_case():
    gt = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], float)
    anchors = np.array([
        [0, 0, 10, 10],      # IoU 1 with gt 0: positive
        [0, 0, 10, 5],       # IoU 0.5 with gt 0: ignored
        [100, 100, 110, 110],  # nothing: negative
        [50, 50, 52, 60],    # IoU 0.2 with gt 1, its best anchor: positive only as low quality
        [0, 0, 10, 3],       # IoU 0.3 with gt 0: ignored (>= neg_iou)
    ], float)
    labels, matched = match_anchors(anchors, gt)
    assert labels.dtype == np.int64 and matched.dtype == np.int64
    assert labels.tolist() == [1, -1, 0, 1, -1]
    assert matched.tolist() == [0, 0, 0, 1, 0]  # the nothing anchor: ties at 0 -> gt 0
    labels, _ = match_anchors(anchors, gt, allow_low_quality=False)
    assert labels.tolist() == [1, -1, 0, 0, -1]
    labels, _ = match_anchors(anchors, gt, pos_iou=0.5, neg_iou=0.5, allow_low_quality=False)
    assert labels.tolist() == [1, 1, 0, 0, 0]  # Fast R-CNN's fg / bg split


def test_match_anchors_low_quality_ties_and_unreachable_gt():
    gt = np.array([[0, 0, 10, 10], [200, 200, 210, 210]], float)
    anchors = np.array([[0, 0, 5, 10], [5, 0, 10, 10], [0, 0, 2, 2], [20, 20, 30, 30]], float)
    labels, matched = match_anchors(anchors, gt)
    # anchors 0 and 1 tie for gt 0's best IoU (0.5 < 0.7): both positive; gt 1 overlaps no
    # anchor, so it does not make the IoU-0 anchors positive
    assert labels.tolist() == [1, 1, 0, 0]
    assert matched.tolist() == [0, 0, 0, 0]


def test_match_anchors_no_gt_and_errors():
    anchors = make_anchors((2, 2), 16, [16], [1.0])
    labels, matched = match_anchors(anchors, np.zeros((0, 4)))
    assert labels.tolist() == [0] * 4 and matched.tolist() == [-1] * 4
    labels, matched = match_anchors(np.zeros((0, 4)), np.array([[0, 0, 1, 1.0]]))
    assert labels.shape == matched.shape == (0,)
    with pytest.raises(ValueError, match="neg_iou must be <= pos_iou, got neg_iou=0.8"):
        match_anchors(anchors, np.zeros((0, 4)), pos_iou=0.5, neg_iou=0.8)
    with pytest.raises(ValueError, match=r"gt_boxes must have shape \(N, 4\)"):
        match_anchors(anchors, np.zeros((3,)))


@pytest.mark.parametrize("low_quality", [True, False])
def test_match_anchors_against_reference(low_quality):
    rng = np.random.default_rng(11)
    anchors = make_anchors((6, 6), 16, [24, 48], [0.5, 1.0, 2.0])
    gt = random_boxes(rng, 5, high=80)
    labels, matched = match_anchors(anchors, gt, 0.6, 0.3, low_quality)
    ref_labels, ref_matched = match_reference(anchors, gt, 0.6, 0.3, low_quality)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(matched, ref_matched)
    if low_quality:  # every gt box has at least one positive anchor among its best
        iou = box_iou(gt, anchors)
        assert np.all((iou.max(axis=1) == 0) | ((iou == iou.max(axis=1, keepdims=True))
                                                & (labels == 1)).any(axis=1))


# ----- sampling -----------------------------------------------------------------------------------
def make_labels(n_pos, n_neg, n_ignore, seed=0):
    labels = np.array([1] * n_pos + [0] * n_neg + [-1] * n_ignore)
    return np.random.default_rng(seed).permutation(labels)


@pytest.mark.parametrize("n_pos,n_neg,want_pos,want_neg", [
    (300, 3000, 128, 128),   # plenty of both
    (10, 3000, 10, 246),     # few positives: negatives fill the batch
    (300, 50, 128, 50),      # few negatives: the batch stays short
    (0, 0, 0, 0),
])
def test_sample_balanced_counts(n_pos, n_neg, want_pos, want_neg):
    labels = make_labels(n_pos, n_neg, 100)
    pos, neg = sample_balanced(labels, 256, 0.5, rng=0)
    assert (len(pos), len(neg)) == (want_pos, want_neg)
    assert pos.dtype == neg.dtype == np.int64
    assert np.all(labels[pos] == 1) and np.all(labels[neg] == 0)
    assert np.all(np.diff(pos) > 0) and np.all(np.diff(neg) > 0)  # sorted, no repeats


def test_sample_balanced_randomness():
    labels = make_labels(200, 2000, 10)
    a = sample_balanced(labels, 64, 0.25, rng=np.random.default_rng(3))
    b = sample_balanced(labels, 64, 0.25, rng=np.random.default_rng(3))
    c = sample_balanced(labels, 64, 0.25, rng=np.random.default_rng(4))
    assert len(a[0]) == 16 and len(a[1]) == 48
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])
    db.manual_seed(5)
    d = sample_balanced(labels, 64, 0.25)
    db.manual_seed(5)
    e = sample_balanced(labels, 64, 0.25)
    assert all(np.array_equal(x, y) for x, y in zip(d, e))


def test_sample_balanced_errors():
    with pytest.raises(ValueError, match=r"positive_fraction must be in \[0, 1\], got 1.5"):
        sample_balanced(np.zeros(3), 4, 1.5)
    with pytest.raises(ValueError, match="batch_size must be >= 0"):
        sample_balanced(np.zeros(3), -1, 0.5)
    with pytest.raises(ValueError, match=r"labels must have shape \(A,\)"):
        sample_balanced(np.zeros((3, 2)), 4, 0.5)
