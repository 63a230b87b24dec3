"""Detection toolbox: boxes, anchors and RoI pooling, shared by the detectors in ``models/``.

* :mod:`~deepbasic.vision.boxes`: box formats (``xyxy``, COCO's ``xywh``, ``cxcywh``) and
  :func:`box_convert`; :func:`box_area`, pairwise :func:`box_iou` (N, M) and
  :func:`elementwise_box_iou`; :func:`clip_boxes`, :func:`remove_small_boxes`; the R-CNN box
  parameterization :func:`encode_boxes` / :func:`decode_boxes` (deltas tx, ty, tw, th);
  :func:`nms` and per-class :func:`batched_nms`.
* :mod:`~deepbasic.vision.anchors`: :func:`make_anchors` (Faster R-CNN: sizes x aspect ratios on
  every cell, order (y, x, anchor)), :func:`anchor_shapes`, :func:`grid_anchors`,
  :func:`yolo_anchors` with the square / tall / wide :data:`YOLO_ANCHOR_SHAPES`;
  :func:`match_anchors` (positive / negative / ignore labels by IoU, low-quality matches) and
  :func:`sample_balanced` (a minibatch with a bounded fraction of positives).
* :mod:`~deepbasic.vision.roi`: :func:`roi_pool` (Fast R-CNN) and :func:`roi_align` (Mask R-CNN)
  with torchvision's semantics and hand-written backward passes, the modules :class:`RoIPool`
  and :class:`RoIAlign`, and :func:`boxes_to_rois`.
* :mod:`~deepbasic.vision.selective_search`: region proposals by selective search (Felzenszwalb
  segmentation from scikit-image, then the hierarchical grouping of Uijlings et al.), for R-CNN.
* :mod:`~deepbasic.vision.coco_eval`: :func:`detections_to_coco` and :func:`coco_evaluate`
  (pycocotools' COCOeval: mAP@[.5:.95], mAP@0.5, ... for boxes or masks).

Boxes are plain NumPy (or CuPy) arrays in xyxy pixel coordinates unless a name says otherwise;
only the RoI operations take and return Tensors (and are differentiable in the features).
"""
from deepbasic.vision.anchors import (
    SQUARE_ANCHORS,
    TALL_ANCHORS,
    WIDE_ANCHORS,
    YOLO_ANCHOR_SHAPES,
    anchor_shapes,
    grid_anchors,
    make_anchors,
    match_anchors,
    sample_balanced,
    yolo_anchors,
)
from deepbasic.vision.boxes import (
    BBOX_XFORM_CLIP,
    box_area,
    box_convert,
    box_iou,
    batched_nms,
    clip_boxes,
    cxcywh_to_xywh,
    cxcywh_to_xyxy,
    decode_boxes,
    elementwise_box_iou,
    encode_boxes,
    nms,
    remove_small_boxes,
    xywh_to_cxcywh,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)
from deepbasic.vision.coco_eval import STAT_NAMES, coco_evaluate, detections_to_coco
from deepbasic.vision.roi import RoIAlign, RoIPool, boxes_to_rois, roi_align, roi_pool
from deepbasic.vision.selective_search import (MODES, Strategy, make_strategies, mode_strategies,
                                               selective_search, selective_search_batch)

__all__ = [
    "BBOX_XFORM_CLIP", "SQUARE_ANCHORS", "TALL_ANCHORS", "WIDE_ANCHORS", "YOLO_ANCHOR_SHAPES",
    "RoIAlign", "RoIPool", "anchor_shapes", "batched_nms", "box_area", "box_convert", "box_iou",
    "boxes_to_rois", "clip_boxes", "cxcywh_to_xywh", "cxcywh_to_xyxy", "decode_boxes",
    "elementwise_box_iou", "encode_boxes", "grid_anchors", "make_anchors", "match_anchors", "nms",
    "remove_small_boxes", "roi_align", "roi_pool", "sample_balanced", "xywh_to_cxcywh",
    "xywh_to_xyxy", "xyxy_to_cxcywh", "xyxy_to_xywh", "yolo_anchors", "MODES", "Strategy",
    "make_strategies", "mode_strategies", "selective_search", "selective_search_batch",
    "STAT_NAMES", "coco_evaluate", "detections_to_coco",
]
