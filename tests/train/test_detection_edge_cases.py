"""Detection on awkward input: empty scenes, boxes outside the image, blank images."""
import numpy as np
import pytest

import deepbasic as db
from deepbasic.models.yolo import DEFAULT_ANCHORS
from deepbasic.train.yolo import assign_targets, build_yolo, yolo_loss


def _targets(rows, m=3):
    t = np.zeros((1, m, 5), np.float32)
    t[..., 4] = -1
    for i, r in enumerate(rows):
        t[0, i] = r
    return t


def test_a_box_partly_outside_the_image_is_trained_on_its_visible_part():
    inside = assign_targets(_targets([[40, 40, 64, 64, 2]]), 8, 8.0, DEFAULT_ANCHORS)
    partly = assign_targets(_targets([[40, 40, 90, 80, 2]]), 8, 8.0, DEFAULT_ANCHORS)
    assert np.array_equal(partly["index"], inside["index"])
    np.testing.assert_allclose(partly["t"], inside["t"])
    np.testing.assert_allclose(partly["boxes"], [[40, 40, 64, 64]])


def test_a_box_entirely_outside_the_image_and_an_empty_scene_get_no_assignment():
    for rows in ([[70, 10, 90, 30, 1]], [[-30, -30, -5, -5, 0]], []):
        a = assign_targets(_targets(rows), 8, 8.0, DEFAULT_ANCHORS)
        assert len(a["index"]) == 0 and a["t"].shape == (0, 4)


@pytest.mark.parametrize("rows", [[], [[70, 10, 90, 30, 1]]])
def test_the_loss_of_an_empty_scene_is_finite_and_trains_background(rows):
    db.manual_seed(0)
    model = build_yolo(6, 64)
    raw = model(db.tensor(np.zeros((1, 3, 64, 64), np.float32)))
    loss = yolo_loss(raw, db.tensor(_targets(rows)), 8, 8.0, DEFAULT_ANCHORS)
    loss.backward()
    assert np.isfinite(loss.item()) and loss.item() > 0
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(np.isfinite(g).all() for g in grads)


def test_detect_on_a_blank_image_keeps_the_contract():
    db.manual_seed(0)
    model = build_yolo(6, 64)
    out = model.detect(np.zeros((2, 3, 64, 64), np.float32), score_threshold=0.5)
    assert len(out) == 2
    for d in out:
        k = len(d["scores"])
        assert d["boxes"].shape == (k, 4) and d["labels"].shape == (k,)
        assert (d["scores"] >= 0.5).all()
