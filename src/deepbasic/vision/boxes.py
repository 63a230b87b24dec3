"""Bounding boxes: formats, areas, IoU, clipping, the R-CNN box parameterization and NMS.

Formats (the last axis of a box array always has 4 entries):

* ``xyxy``:   (x1, y1, x2, y2), top-left and bottom-right corners. Every function here that takes
  "boxes" without naming a format takes this one.
* ``xywh``:   (x, y, width, height), COCO's annotation format (x, y is the top-left corner).
* ``cxcywh``: (centre x, centre y, width, height), YOLO's and DETR's format.

Coordinates are continuous: a box (0, 0, 10, 10) covers the first 10 x 10 pixels of an image, has
width 10 and area 100 (no "+1" as in the original Caffe R-CNN code; torchvision's convention).

Boxes are plain arrays (NumPy, or CuPy on a GPU), not Tensors: nothing here is differentiable.
A Tensor passed in is read through ``.data``. Integer boxes are converted to float64; floating
boxes keep their dtype (the NMS and IoU-threshold decisions are made in float64).

Degenerate boxes: a box with ``x2 <= x1`` or ``y2 <= y1`` has area 0 (negative widths count as 0,
where torchvision's ``box_area`` would give a negative area). The IoU of two boxes whose union is
0 (two zero-area boxes) is defined as 0, so a zero-area box never suppresses another in NMS and is
never suppressed by one.

The R-CNN box parameterization (Girshick et al. 2014; Fast / Faster R-CNN) of a target box
(x, y, w, h in centre-size form) relative to a reference box or anchor (xa, ya, wa, ha)::

    tx = wx (x - xa) / wa     ty = wy (y - ya) / ha     tw = ww log(w / wa)     th = wh log(h / ha)

with weights (wx, wy, ww, wh) that scale the regression targets to roughly unit variance
(Fast R-CNN's box head uses (10, 10, 5, 5), the RPN (1, 1, 1, 1)).
"""
from __future__ import annotations

import math

import numpy as np

from deepbasic import backend
from deepbasic.tensor import Tensor

#: decode_boxes clamps dw, dh at this value (torchvision's bbox_xform_clip): a box never grows
#: more than 1000/16 times its reference's width or height.
BBOX_XFORM_CLIP = math.log(1000.0 / 16)

_FORMATS = ("xyxy", "xywh", "cxcywh")


# ----- input checks -------------------------------------------------------------------------------
def _array(x):
    """The array inside a Tensor, an array as it is, anything else (lists) as a NumPy array."""
    if isinstance(x, Tensor):
        return x.data
    return backend.get_array_module(x).asarray(x)


def _boxes(fn: str, boxes, name: str = "boxes", ndim: int | None = None):
    """``boxes`` as a floating array of shape (..., 4) (exactly (N, 4) when ``ndim=2``)."""
    b = _array(boxes)
    if b.ndim == 0 or b.shape[-1] != 4 or (ndim is not None and b.ndim != ndim):
        want = "(N, 4)" if ndim == 2 else "(..., 4)"
        raise ValueError(f"{fn}: {name} must have shape {want}, got shape {tuple(b.shape)}")
    if b.dtype.kind != "f":
        if b.dtype.kind not in "biu":
            raise ValueError(f"{fn}: {name} must be numeric, got dtype {b.dtype}")
        b = b.astype(np.float64)
    return b


def _check_format(fn: str, fmt: str) -> str:
    if fmt not in _FORMATS:
        raise ValueError(f"{fn}: box format must be one of {_FORMATS}, got {fmt!r}")
    return fmt


# ----- conversions --------------------------------------------------------------------------------
def xywh_to_xyxy(boxes):
    """(x, y, w, h) -> (x1, y1, x2, y2) = (x, y, x + w, y + h). boxes: (..., 4) -> (..., 4)."""
    b = _boxes("xywh_to_xyxy", boxes)
    xp = backend.get_array_module(b)
    return xp.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)


def xyxy_to_xywh(boxes):
    """(x1, y1, x2, y2) -> (x1, y1, x2 - x1, y2 - y1). boxes: (..., 4) -> (..., 4)."""
    b = _boxes("xyxy_to_xywh", boxes)
    xp = backend.get_array_module(b)
    return xp.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)


def cxcywh_to_xyxy(boxes):
    """(cx, cy, w, h) -> (cx - w/2, cy - h/2, cx + w/2, cy + h/2). boxes: (..., 4) -> (..., 4)."""
    b = _boxes("cxcywh_to_xyxy", boxes)
    xp = backend.get_array_module(b)
    half = 0.5 * b[..., 2:]
    return xp.concatenate([b[..., :2] - half, b[..., :2] + half], axis=-1)


def xyxy_to_cxcywh(boxes):
    """(x1, y1, x2, y2) -> ((x1 + x2)/2, (y1 + y2)/2, x2 - x1, y2 - y1). (..., 4) -> (..., 4)."""
    b = _boxes("xyxy_to_cxcywh", boxes)
    xp = backend.get_array_module(b)
    return xp.concatenate([0.5 * (b[..., :2] + b[..., 2:]), b[..., 2:] - b[..., :2]], axis=-1)


def xywh_to_cxcywh(boxes):
    """(x, y, w, h) -> (x + w/2, y + h/2, w, h). boxes: (..., 4) -> (..., 4)."""
    b = _boxes("xywh_to_cxcywh", boxes)
    xp = backend.get_array_module(b)
    return xp.concatenate([b[..., :2] + 0.5 * b[..., 2:], b[..., 2:]], axis=-1)


def cxcywh_to_xywh(boxes):
    """(cx, cy, w, h) -> (cx - w/2, cy - h/2, w, h). boxes: (..., 4) -> (..., 4)."""
    b = _boxes("cxcywh_to_xywh", boxes)
    xp = backend.get_array_module(b)
    return xp.concatenate([b[..., :2] - 0.5 * b[..., 2:], b[..., 2:]], axis=-1)


_CONVERT = {
    ("xywh", "xyxy"): xywh_to_xyxy, ("xyxy", "xywh"): xyxy_to_xywh,
    ("cxcywh", "xyxy"): cxcywh_to_xyxy, ("xyxy", "cxcywh"): xyxy_to_cxcywh,
    ("xywh", "cxcywh"): xywh_to_cxcywh, ("cxcywh", "xywh"): cxcywh_to_xywh,
}


def box_convert(boxes, in_fmt: str, out_fmt: str):
    """Convert boxes (..., 4) between ``"xyxy"``, ``"xywh"`` and ``"cxcywh"`` (torchvision's
    names). Returns a new floating array even when the formats are the same."""
    _check_format("box_convert", in_fmt)
    _check_format("box_convert", out_fmt)
    if in_fmt == out_fmt:
        return _boxes("box_convert", boxes).copy()
    return _CONVERT[(in_fmt, out_fmt)](boxes)


# ----- areas and overlaps -------------------------------------------------------------------------
def box_area(boxes):
    """Area of xyxy boxes: max(x2 - x1, 0) * max(y2 - y1, 0). boxes: (..., 4) -> (...)."""
    b = _boxes("box_area", boxes)
    xp = backend.get_array_module(b)
    wh = xp.maximum(b[..., 2:] - b[..., :2], 0)
    return wh[..., 0] * wh[..., 1]


def _safe_ratio(xp, inter, union):
    """inter / union, 0 where union is 0 (or negative, which cannot happen for clamped areas)."""
    ok = union > 0
    return xp.where(ok, inter / xp.where(ok, union, 1), 0)


def box_iou(boxes_a, boxes_b):
    """Intersection over union of every pair: a (N, 4), b (M, 4) xyxy -> (N, M) in [0, 1].

    IoU = area(a & b) / (area(a) + area(b) - area(a & b)). Empty inputs give an (N, 0) or (0, M)
    array; a pair whose union has zero area (two zero-area boxes) has IoU 0.
    """
    a = _boxes("box_iou", boxes_a, "boxes_a", ndim=2)
    b = _boxes("box_iou", boxes_b, "boxes_b", ndim=2)
    xp = backend.get_array_module(a, b)
    lt = xp.maximum(a[:, None, :2], b[None, :, :2])
    rb = xp.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = xp.maximum(rb - lt, 0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return _safe_ratio(xp, inter, union)


def elementwise_box_iou(boxes_a, boxes_b):
    """IoU of corresponding boxes: a, b (..., 4) xyxy, broadcast together -> (...).

    For a YOLO-style confidence target, IoU(predicted box i, its ground truth i). Same rules as
    :func:`box_iou` (zero union -> 0).
    """
    a = _boxes("elementwise_box_iou", boxes_a, "boxes_a")
    b = _boxes("elementwise_box_iou", boxes_b, "boxes_b")
    xp = backend.get_array_module(a, b)
    wh = xp.maximum(xp.minimum(a[..., 2:], b[..., 2:]) - xp.maximum(a[..., :2], b[..., :2]), 0)
    inter = wh[..., 0] * wh[..., 1]
    return _safe_ratio(xp, inter, box_area(a) + box_area(b) - inter)


def clip_boxes(boxes, height, width):
    """Clip xyxy boxes to an image: x to [0, width], y to [0, height]. (..., 4) -> (..., 4).

    A box entirely outside the image becomes a zero-area box on its border (see
    :func:`remove_small_boxes` to drop those).
    """
    b = _boxes("clip_boxes", boxes)
    if height < 0 or width < 0:
        raise ValueError(f"clip_boxes: height and width must be >= 0, got {height}x{width}")
    xp = backend.get_array_module(b)
    out = b.copy()
    out[..., 0::2] = xp.clip(b[..., 0::2], 0, width)
    out[..., 1::2] = xp.clip(b[..., 1::2], 0, height)
    return out


def remove_small_boxes(boxes, min_size: float):
    """Indices (int64, ascending) of the xyxy boxes (N, 4) whose width AND height are both
    >= ``min_size`` (torchvision's rule). ``min_size=0`` keeps every box with x2 >= x1 and
    y2 >= y1."""
    b = _boxes("remove_small_boxes", boxes, ndim=2)
    xp = backend.get_array_module(b)
    wh = b[:, 2:] - b[:, :2]
    keep = (wh[:, 0] >= min_size) & (wh[:, 1] >= min_size)
    return xp.flatnonzero(keep).astype(np.int64)


# ----- box regression -----------------------------------------------------------------------------
def _weights(fn: str, weights):
    w = tuple(float(v) for v in weights)
    if len(w) != 4:
        raise ValueError(f"{fn}: weights must be 4 numbers (wx, wy, ww, wh), got {weights!r}")
    return w


def encode_boxes(reference, target, weights=(1.0, 1.0, 1.0, 1.0)):
    """Regression targets (tx, ty, tw, th) that move each reference box onto its target box.

    reference, target: (..., 4) xyxy, broadcast together (usually both (N, 4): anchors or
    proposals and their matched ground truth). Returns (..., 4) deltas, see the module docstring.
    Raises ValueError when a reference or target box has a width or height <= 0 (the log would be
    -inf or NaN): filter degenerate boxes first (:func:`remove_small_boxes`).
    """
    fn = "encode_boxes"
    ref = _boxes(fn, reference, "reference")
    tgt = _boxes(fn, target, "target")
    wx, wy, ww, wh = _weights(fn, weights)
    xp = backend.get_array_module(ref, tgt)
    r, t = xyxy_to_cxcywh(ref), xyxy_to_cxcywh(tgt)
    for name, c in (("reference", r), ("target", t)):
        bad = ~(c[..., 2:] > 0).all(axis=-1)
        if bool(bad.any()):
            raise ValueError(f"{fn}: {name} boxes must have positive width and height; "
                             f"{int(bad.sum())} of {bad.size} do not")
    r, t = xp.broadcast_arrays(r, t)
    out = xp.empty(r.shape, dtype=np.result_type(r.dtype, t.dtype))
    out[..., 0] = wx * (t[..., 0] - r[..., 0]) / r[..., 2]
    out[..., 1] = wy * (t[..., 1] - r[..., 1]) / r[..., 3]
    out[..., 2] = ww * xp.log(t[..., 2] / r[..., 2])
    out[..., 3] = wh * xp.log(t[..., 3] / r[..., 3])
    return out


def decode_boxes(reference, deltas, weights=(1.0, 1.0, 1.0, 1.0), clamp: float = BBOX_XFORM_CLIP):
    """Apply regression deltas (tx, ty, tw, th) to reference boxes: the inverse of
    :func:`encode_boxes`.

    reference: (..., 4) xyxy; deltas: (..., 4), broadcast together. For class-specific deltas
    (N, C*4), pass ``deltas.reshape(N, C, 4)`` and ``reference[:, None]`` to get (N, C, 4).
    dw = tw / ww and dh = th / wh are clamped at ``clamp`` (log(1000/16), like torchvision) before
    the exp, so a wild prediction cannot overflow. Returns (..., 4) xyxy boxes (not clipped).
    """
    fn = "decode_boxes"
    ref = _boxes(fn, reference, "reference")
    d = _boxes(fn, deltas, "deltas")
    wx, wy, ww, wh = _weights(fn, weights)
    xp = backend.get_array_module(ref, d)
    r = xyxy_to_cxcywh(ref)
    r, d = xp.broadcast_arrays(r, d)
    cx = d[..., 0] / wx * r[..., 2] + r[..., 0]
    cy = d[..., 1] / wy * r[..., 3] + r[..., 1]
    w = xp.exp(xp.minimum(d[..., 2] / ww, clamp)) * r[..., 2]
    h = xp.exp(xp.minimum(d[..., 3] / wh, clamp)) * r[..., 3]
    return xp.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1)


# ----- non-maximum suppression --------------------------------------------------------------------
def _score_order(fn: str, boxes, scores):
    """Host float64 boxes (N, 4), and the order of decreasing score (ties: lower index first)."""
    b = _boxes(fn, boxes, ndim=2)
    s = _array(scores)
    if s.ndim != 1 or s.shape[0] != b.shape[0]:
        raise ValueError(f"{fn}: scores must have shape ({b.shape[0]},) to match boxes "
                         f"{tuple(b.shape)}, got shape {tuple(s.shape)}")
    b = backend.to_numpy(b).astype(np.float64)
    s = backend.to_numpy(s).astype(np.float64)
    if np.isnan(s).any():
        raise ValueError(f"{fn}: scores contain NaN")
    return b, np.argsort(-s, kind="stable")


def _greedy_nms(b, order, iou_threshold: float) -> np.ndarray:
    """Greedy NMS over float64 boxes b (N, 4) visited in ``order``: keep the first remaining box,
    drop the remaining boxes whose IoU with it is > iou_threshold, repeat. One iteration per
    KEPT box, each vectorized over the boxes still remaining (kept as positions into the
    score-sorted coordinate arrays)."""
    x1, y1, x2, y2 = (np.ascontiguousarray(b[order, i]) for i in range(4))
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    keep = []
    rest = np.arange(len(order))
    while rest.size:
        i, rest = rest[0], rest[1:]
        keep.append(i)
        if not rest.size:
            break
        w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])
        h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        inter = np.maximum(w, 0) * np.maximum(h, 0)
        union = area[i] + area[rest] - inter
        # IoU <= thr  <=>  inter <= thr * union when union > 0 (IoU is 0 when union is 0)
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        rest = rest[iou <= iou_threshold]
    return order[np.asarray(keep, dtype=np.int64)].astype(np.int64)


def nms(boxes, scores, iou_threshold: float):
    """Non-maximum suppression: indices of the boxes kept, by decreasing score.

    boxes: (N, 4) xyxy; scores: (N,). Visits boxes from the highest score down; a box is kept
    unless its IoU with an already kept box is > ``iou_threshold`` (strictly, as torchvision).
    Returns int64 indices into ``boxes`` (an array of the boxes' module), sorted by decreasing
    score; equal scores are visited (and returned) in increasing index order. N = 0 gives an
    empty array. Zero-area boxes have IoU 0 with everything: they are kept, suppressing nothing.
    NaN scores raise ValueError.
    """
    xp = backend.get_array_module(_array(boxes))
    b, order = _score_order("nms", boxes, scores)
    return xp.asarray(_greedy_nms(b, order, float(iou_threshold)))


def batched_nms(boxes, scores, labels, iou_threshold: float):
    """NMS within each class: boxes of different ``labels`` never suppress each other.

    boxes: (N, 4) xyxy; scores: (N,); labels: (N,) integers (any values). Returns int64 indices
    sorted by decreasing score over all classes (ties by index), as :func:`nms`.

    The coordinate-offset trick: shifting the boxes of class k by k * (span + 1), where span is
    the extent of all coordinates, puts every class in its own region of the plane, so one NMS
    over all boxes equals separate NMS per class. (torchvision offsets by max + 1, which lets
    classes overlap when there are negative coordinates; the span does not.)
    """
    fn = "batched_nms"
    xp = backend.get_array_module(_array(boxes))
    b, order = _score_order(fn, boxes, scores)
    lab = backend.to_numpy(_array(labels))
    if lab.shape != (b.shape[0],):
        raise ValueError(f"{fn}: labels must have shape ({b.shape[0]},) to match boxes "
                         f"{tuple(b.shape)}, got shape {tuple(lab.shape)}")
    if b.shape[0] == 0:
        return xp.asarray(np.zeros(0, dtype=np.int64))
    if lab.dtype.kind not in "biu":
        if lab.dtype.kind != "f" or not np.array_equal(lab, np.round(lab)):
            raise ValueError(f"{fn}: labels must be integers, got dtype {lab.dtype}")
    _, dense = np.unique(lab, return_inverse=True)
    low, high = b.min(), b.max()
    shifted = (b - low) + (dense.reshape(-1) * (high - low + 1.0))[:, None]
    return xp.asarray(_greedy_nms(shifted, order, float(iou_threshold)))
