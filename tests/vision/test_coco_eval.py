"""COCO evaluation of detections through pycocotools' COCOeval."""
import warnings

import numpy as np
import pytest

pytest.importorskip("pycocotools")

from deepbasic.data.coco import to_coco  # noqa: E402
from deepbasic.data.shapes import generate_scenes  # noqa: E402
from deepbasic.vision.boxes import xywh_to_xyxy  # noqa: E402
from deepbasic.vision.coco_eval import STAT_NAMES, coco_evaluate, detections_to_coco  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def scenes():
    return generate_scenes(6, seed=4, size=32)


def _truth(scenes, shift=0.0):
    boxes = [xywh_to_xyxy(np.asarray(b, np.float64)) + shift for b in scenes.boxes]
    scores = [np.linspace(0.9, 0.5, len(b)) for b in boxes]
    return boxes, scores, list(scenes.labels)


def test_perfect_detections_score_one(scenes):
    boxes, scores, labels = _truth(scenes)
    stats = coco_evaluate(to_coco(scenes), detections_to_coco(boxes, scores, labels))
    assert stats["mAP"] == pytest.approx(1.0) and stats["mAP50"] == pytest.approx(1.0)
    assert set(STAT_NAMES) <= set(stats) and "Average Precision" in stats["summary"]
    dets = detections_to_coco(boxes, scores, labels, masks=list(scenes.instance_masks))
    segm = coco_evaluate(to_coco(scenes), dets, iou_type="segm")
    assert segm["mAP"] == pytest.approx(1.0)


def test_wrong_class_or_shifted_boxes_score_less(scenes):
    boxes, scores, labels = _truth(scenes)
    gt = to_coco(scenes)
    wrong = [(lab + 1) % len(scenes.class_names) for lab in labels]
    assert coco_evaluate(gt, detections_to_coco(boxes, scores, wrong))["mAP50"] < 0.5
    shifted, _, _ = _truth(scenes, shift=2.0)
    s = coco_evaluate(gt, detections_to_coco(shifted, scores, labels))
    assert s["mAP"] < 0.9 and s["mAP50"] > s["mAP"]


def test_no_detections_and_errors(scenes):
    gt = to_coco(scenes)
    stats = coco_evaluate(gt, [])
    assert stats["mAP"] == 0.0 and stats["mAP50"] == 0.0
    with pytest.raises(ValueError, match="iou_type"):
        coco_evaluate(gt, [], iou_type="keypoints")
    with pytest.raises(ValueError, match="no 'annotations'"):
        coco_evaluate({"images": [], "categories": []}, [])
    with pytest.raises(ValueError, match="segmentation"):
        coco_evaluate(gt, detections_to_coco(*_truth(scenes)), iou_type="segm")
    with pytest.raises(ValueError, match="2 images of boxes but 1 of scores"):
        detections_to_coco([np.zeros((0, 4))] * 2, [np.zeros(0)], [np.zeros(0)] * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = detections_to_coco([np.array([[1.0, 2.0, 5.0, 9.0]])], [np.array([0.5])],
                                 [np.array([2])], image_ids=[7])
    assert one == [{"image_id": 7, "category_id": 3, "bbox": [1.0, 2.0, 4.0, 7.0], "score": 0.5}]
