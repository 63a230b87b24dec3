"""Detection and instance-segmentation metrics through pycocotools' COCOeval (the standard
evaluator), on predictions exported as COCO result JSON.

    gt = to_coco(test_scenes)                                   # deepbasic.data.coco
    dets = detections_to_coco(boxes, scores, labels)            # per image, xyxy boxes, labels 0..
    stats = coco_evaluate(gt, dets)                             # {"mAP": .., "mAP50": .., ...}
    stats = coco_evaluate(gt, detections_to_coco(..., masks=masks), iou_type="segm")

Conventions (those of :func:`deepbasic.data.coco.to_coco`): image ids are ``i + 1`` for the
i-th image, category ids ``label + 1``; boxes come in as xyxy pixel corners (x2 exclusive, so
``x2 - x1`` is the width) and are written as COCO's ``[x, y, w, h]``. Needs pycocotools (the
``vision`` extra).
"""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np

#: COCOeval's 12 summary numbers, in its order (AP over IoU .5:.95, at .5, at .75, by area;
#: AR with 1, 10, 100 detections, by area)
STAT_NAMES = ("mAP", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large", "AR1", "AR10",
              "AR100", "AR_small", "AR_medium", "AR_large")


def _pycocotools():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        from pycocotools import mask as mask_utils
    except ImportError:  # pragma: no cover - in the vision and test extras
        raise ImportError("COCO evaluation needs pycocotools: pip install 'deepbasic[vision]'") \
            from None
    return COCO, COCOeval, mask_utils


def detections_to_coco(boxes, scores, labels, masks=None, image_ids=None) -> list[dict]:
    """COCO result records from per-image detections.

    boxes: per image a (K, 4) xyxy array; scores: per image (K,); labels: per image (K,) ints
    (category id = label + 1); masks: optional, per image (K, H, W) bool (written as compressed
    RLE for ``iou_type="segm"``); image_ids: per image its id (default ``1, 2, ...``).
    """
    n = len(boxes)
    if len(scores) != n or len(labels) != n or (masks is not None and len(masks) != n):
        raise ValueError(f"detections_to_coco: {n} images of boxes but {len(scores)} of scores, "
                         f"{len(labels)} of labels"
                         + ("" if masks is None else f" and {len(masks)} of masks"))
    image_ids = list(range(1, n + 1)) if image_ids is None else list(image_ids)
    mask_utils = _pycocotools()[2] if masks is not None else None
    out = []
    for i in range(n):
        b = np.asarray(boxes[i], dtype=np.float64).reshape(-1, 4)
        s = np.asarray(scores[i], dtype=np.float64).reshape(-1)
        lab = np.asarray(labels[i]).reshape(-1)
        if not len(b) == len(s) == len(lab):
            raise ValueError(f"detections_to_coco: image {i} has {len(b)} boxes, {len(s)} scores "
                             f"and {len(lab)} labels")
        for k in range(len(b)):
            x1, y1, x2, y2 = b[k]
            rec = {"image_id": int(image_ids[i]), "category_id": int(lab[k]) + 1,
                   "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                   "score": float(s[k])}
            if masks is not None:
                m = np.asfortranarray(np.asarray(masks[i][k], dtype=np.uint8))
                rle = mask_utils.encode(m)
                rle["counts"] = rle["counts"].decode("ascii")
                rec["segmentation"] = rle
            out.append(rec)
    return out


def coco_evaluate(ground_truth, detections, iou_type: str = "bbox", verbose: bool = False) -> dict:
    """Run COCOeval on ``detections`` (COCO result records) against ``ground_truth`` (a COCO
    instances dict or the path of its JSON file).

    iou_type: ``"bbox"`` or ``"segm"``. Returns ``{name: value}`` for :data:`STAT_NAMES` (mAP is
    COCO's AP averaged over IoU 0.5:0.95, mAP50 at IoU 0.5), plus ``"summary"``: COCOeval's printed
    table. With no detections every number is 0. COCOeval reports -1 where a number is undefined
    (e.g. no ground-truth objects of that area range); those stay -1.
    """
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"coco_evaluate: iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    COCO, COCOeval, _ = _pycocotools()
    if isinstance(ground_truth, (str, bytes)) or hasattr(ground_truth, "__fspath__"):
        with open(ground_truth) as f:
            ground_truth = json.load(f)
    for key in ("images", "annotations", "categories"):
        if key not in ground_truth:
            raise ValueError(f"coco_evaluate: the ground truth has no {key!r} (expected a COCO "
                             f"instances dict)")
    if iou_type == "segm" and any("segmentation" not in d for d in detections):
        raise ValueError("coco_evaluate: iou_type 'segm' needs a 'segmentation' in every detection")
    if not detections:
        return {**{name: 0.0 for name in STAT_NAMES}, "summary": "no detections"}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        gt = COCO()
        gt.dataset = json.loads(json.dumps(ground_truth))  # a private copy COCO may change
        gt.createIndex()
        dt = gt.loadRes([dict(d) for d in detections])
        ev = COCOeval(gt, dt, iouType=iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    summary = buf.getvalue()
    if verbose:
        print(summary)
    return {**{name: float(v) for name, v in zip(STAT_NAMES, ev.stats)}, "summary": summary}
