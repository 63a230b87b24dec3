"""Anchors: reference boxes tiled over a feature map, and how they are matched to ground truth.

A detector with a feature map of h x w cells at ``stride`` pixels per cell places A anchor boxes
(one per shape) centred on every cell; its heads predict, per anchor, an objectness or class score
and the deltas (:func:`~deepbasic.vision.boxes.encode_boxes`) that move the anchor onto an object.

Order of the anchors (every function here): ``(y, x, a)``, row-major. Anchor ``a`` of cell
``(y, x)`` is row ``(y * w + x) * A + a`` of the (h*w*A, 4) array, which is how a head's output
(N, A*k, h, w) lines up after ``permute(0, 2, 3, 1).reshape(N, h*w*A, k)``.

Shapes from sizes and aspect ratios (Faster R-CNN): ``aspect_ratio = height / width`` and
``size = sqrt(width * height)``, so w = size / sqrt(r), h = size * sqrt(r); shape index
``a = r_index * len(sizes) + s_index`` (ratio-major, as torchvision's AnchorGenerator).

Matching (Faster R-CNN's RPN rule, :func:`match_anchors`): an anchor is positive when its best IoU
with a ground-truth box is >= pos_iou, negative when it is < neg_iou, ignored in between; and the
anchor(s) with the highest IoU for each ground-truth box are positive too, so that small or oddly
shaped objects still get an anchor. :func:`sample_balanced` then draws a minibatch of anchors
with at most a given fraction of positives.
"""
from __future__ import annotations

import numpy as np

from deepbasic import backend
from deepbasic.vision.boxes import _array, _boxes, box_iou

#: YOLO-style anchor shapes (width, height) in grid-cell units: five squares, two tall (h > w)
#: and two wide (w > h) shapes (the anchor set of the single-stage detector of EECS 498 / CS231n).
SQUARE_ANCHORS = np.array([[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]], dtype=np.float64)
TALL_ANCHORS = np.array([[2, 3], [3, 5]], dtype=np.float64)
WIDE_ANCHORS = np.array([[3, 2], [5, 3]], dtype=np.float64)
YOLO_ANCHOR_SHAPES = np.array([[1, 1], [2, 2], [3, 3], [4, 4], [5, 5],
                               [2, 3], [3, 2], [3, 5], [5, 3]], dtype=np.float64)


def _pair(fn: str, name: str, value, kind=float) -> tuple:
    """A number or a pair of numbers as a pair."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return (kind(value), kind(value))
    try:
        pair = tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2:
        raise ValueError(f"{fn}: {name} must be a number or a pair, got {value!r}")
    return pair


def _positive_list(fn: str, name: str, values) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0 or not np.all(arr > 0):
        raise ValueError(f"{fn}: {name} must be a non-empty list of positive numbers, "
                         f"got {values!r}")
    return arr


def anchor_shapes(sizes, aspect_ratios) -> np.ndarray:
    """The (width, height) of each anchor shape: (A, 2) float64, A = len(ratios) * len(sizes).

    sizes: square roots of the anchor areas, in pixels (e.g. (128, 256, 512));
    aspect_ratios: height / width (e.g. (0.5, 1, 2)). Row ``r * len(sizes) + s`` is
    (sizes[s] / sqrt(ratios[r]), sizes[s] * sqrt(ratios[r])).
    """
    s = _positive_list("anchor_shapes", "sizes", sizes)
    r = np.sqrt(_positive_list("anchor_shapes", "aspect_ratios", aspect_ratios))
    w = (s[None, :] / r[:, None]).reshape(-1)
    h = (s[None, :] * r[:, None]).reshape(-1)
    return np.stack([w, h], axis=1)


def grid_anchors(feature_size, stride, shapes, offset: float = 0.5) -> np.ndarray:
    """Anchors of the given shapes centred on every cell of a feature map.

    feature_size: (h, w) cells; stride: pixels per cell, a number or (sy, sx); shapes: (A, 2)
    widths and heights in pixels; offset: where in its cell an anchor is centred, as a fraction
    of the stride (0.5: the cell centre, ((x + 0.5) sx, (y + 0.5) sy); 0: the cell's top-left
    corner, torchvision's AnchorGenerator). Returns (h*w*A, 4) float64 xyxy in ``(y, x, a)``
    order. Coordinates are not rounded (torchvision rounds its base anchors) nor clipped.
    """
    fn = "grid_anchors"
    h, w = _pair(fn, "feature_size", feature_size, int)
    if h < 0 or w < 0:
        raise ValueError(f"{fn}: feature_size must be >= 0, got {(h, w)}")
    sy, sx = _pair(fn, "stride", stride)
    if sy <= 0 or sx <= 0:
        raise ValueError(f"{fn}: stride must be positive, got {stride!r}")
    wh = np.asarray(backend.to_numpy(_array(shapes)), dtype=np.float64)
    if wh.ndim != 2 or wh.shape[1] != 2:
        raise ValueError(f"{fn}: shapes must have shape (A, 2) (width, height), "
                         f"got shape {tuple(wh.shape)}")
    cy = (np.arange(h) + offset) * sy
    cx = (np.arange(w) + offset) * sx
    centres = np.empty((h, w, 1, 4))
    centres[..., 0::2] = cx[None, :, None, None]
    centres[..., 1::2] = cy[:, None, None, None]
    half = 0.5 * np.concatenate([-wh, wh], axis=1)  # (A, 4): -w/2, -h/2, w/2, h/2
    return (centres + half[None, None]).reshape(-1, 4)


def make_anchors(feature_size, stride, sizes, aspect_ratios, offset: float = 0.5) -> np.ndarray:
    """Faster R-CNN anchors: (h*w*A, 4) float64 xyxy, A = len(aspect_ratios) * len(sizes).

    feature_size: (h, w); stride: pixels per cell (number or (sy, sx)); sizes: sqrt of the anchor
    areas in pixels; aspect_ratios: height / width. Anchor ``a = r * len(sizes) + s`` of cell
    (y, x) is row ``(y*w + x)*A + a``, centred at ((x + offset) sx, (y + offset) sy), with the
    shape of :func:`anchor_shapes`. E.g. VGG16 conv5 (stride 16) with sizes (128, 256, 512) and
    ratios (0.5, 1, 2): 9 anchors per cell.
    """
    return grid_anchors(feature_size, stride, anchor_shapes(sizes, aspect_ratios), offset)


def yolo_anchors(grid_size, stride=1.0, shapes=YOLO_ANCHOR_SHAPES) -> np.ndarray:
    """YOLO-style anchors: ``shapes`` (A, 2) given in grid cells, centred on every cell centre of
    an (h, w) grid. With ``stride`` = pixels per cell the boxes are in pixels (stride 1: in grid
    units). Returns (h*w*A, 4) float64 xyxy in ``(y, x, a)`` order. Default shapes:
    :data:`YOLO_ANCHOR_SHAPES` (square, tall and wide)."""
    sy, sx = _pair("yolo_anchors", "stride", stride)
    wh = np.asarray(backend.to_numpy(_array(shapes)), dtype=np.float64)
    if wh.ndim != 2 or wh.shape[1] != 2:
        raise ValueError(f"yolo_anchors: shapes must have shape (A, 2) (width, height) in grid "
                         f"cells, got shape {tuple(wh.shape)}")
    return grid_anchors(grid_size, (sy, sx), wh * np.array([sx, sy]), offset=0.5)


# ----- matching -----------------------------------------------------------------------------------
POSITIVE, NEGATIVE, IGNORE = 1, 0, -1


def match_anchors(anchors, gt_boxes, pos_iou: float = 0.7, neg_iou: float = 0.3,
                  allow_low_quality: bool = True):
    """Label anchors (or proposals) positive / negative / ignored by IoU with ground truth.

    anchors: (A, 4) xyxy; gt_boxes: (G, 4) xyxy. Returns ``(labels, matched)``, both int64 (A,):

    * ``matched[i]``: the ground-truth box with the highest IoU with anchor i (ties: the lowest
      index); -1 for every anchor when G = 0. Defined for every anchor, so that
      ``gt_boxes[matched]`` gives regression targets for all of them; use it where labels == 1.
    * ``labels[i]``: 1 (positive) when that best IoU is >= ``pos_iou``; 0 (negative, background)
      when it is < ``neg_iou``; -1 (ignore) in between. With G = 0 every anchor is negative.
    * ``allow_low_quality``: also label positive, for each ground-truth box, the anchor(s) with
      the highest IoU with it (every one that ties for the maximum), even below ``pos_iou``. Such
      an anchor keeps ``matched[i]`` = its own best box (torchvision's Matcher and the original
      Faster R-CNN do the same; the two differ only when that anchor overlaps another box more).
      A ground-truth box that overlaps no anchor at all (best IoU 0) gets no anchor (torchvision
      would mark every anchor with IoU 0 positive).

    Faster R-CNN's RPN: pos_iou=0.7, neg_iou=0.3, allow_low_quality=True. Fast R-CNN's proposal
    labelling: pos_iou=neg_iou=0.5, allow_low_quality=False.
    """
    fn = "match_anchors"
    if not neg_iou <= pos_iou:
        raise ValueError(f"{fn}: neg_iou must be <= pos_iou, got neg_iou={neg_iou}, "
                         f"pos_iou={pos_iou}")
    a = _boxes(fn, anchors, "anchors", ndim=2)
    g = _boxes(fn, gt_boxes, "gt_boxes", ndim=2)
    xp = backend.get_array_module(a, g)
    n = a.shape[0]
    if g.shape[0] == 0:
        return xp.zeros(n, dtype=np.int64), xp.full(n, -1, dtype=np.int64)
    iou = box_iou(g, a)  # (G, A)
    matched = xp.argmax(iou, axis=0).astype(np.int64)
    best = iou[matched, xp.arange(n)]
    labels = xp.full(n, IGNORE, dtype=np.int64)
    labels[best < neg_iou] = NEGATIVE
    labels[best >= pos_iou] = POSITIVE
    if allow_low_quality and n:
        best_for_gt = iou.max(axis=1, keepdims=True)  # (G, 1)
        hit = (iou == best_for_gt) & (best_for_gt > 0)
        labels[hit.any(axis=0)] = POSITIVE
    return labels, matched


def sample_balanced(labels, batch_size: int, positive_fraction: float, rng=None):
    """Draw a minibatch of positive and negative examples: ``(pos_idx, neg_idx)``, int64, sorted.

    labels: (A,) with 1 positive, 0 negative, anything else (-1) ignored. Takes
    min(#positives, int(batch_size * positive_fraction)) positives at random, then fills the
    batch with up to batch_size - #taken negatives (fewer when there are not enough), as
    torchvision's BalancedPositiveNegativeSampler. rng: a ``numpy.random.Generator``, an int seed,
    or None for deepbasic's global generator (:func:`deepbasic.manual_seed`).
    RPN: batch_size=256, positive_fraction=0.5; Fast R-CNN: 128 RoIs per image, 0.25.
    """
    fn = "sample_balanced"
    if batch_size < 0:
        raise ValueError(f"{fn}: batch_size must be >= 0, got {batch_size}")
    if not 0.0 <= positive_fraction <= 1.0:
        raise ValueError(f"{fn}: positive_fraction must be in [0, 1], got {positive_fraction}")
    lab = backend.to_numpy(_array(labels))
    if lab.ndim != 1:
        raise ValueError(f"{fn}: labels must have shape (A,), got shape {tuple(lab.shape)}")
    if rng is None:
        rng = backend.generator()
    elif not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    pos = np.flatnonzero(lab == POSITIVE)
    neg = np.flatnonzero(lab == NEGATIVE)
    n_pos = min(pos.size, int(batch_size * positive_fraction))
    n_neg = min(neg.size, batch_size - n_pos)
    pos = np.sort(rng.choice(pos, size=n_pos, replace=False)) if n_pos < pos.size else pos
    neg = np.sort(rng.choice(neg, size=n_neg, replace=False)) if n_neg < neg.size else neg
    return pos.astype(np.int64), neg.astype(np.int64)
