"""The two-stage detectors' pieces: crops, pasting, proposal targets, losses, shapes, detect."""
import numpy as np
import pytest

from deepbasic import Tensor, gradcheck
from deepbasic.data.shapes import generate_scenes
from deepbasic.models.rcnn import (BOX_WEIGHTS, RCNN, FasterRCNN, FastRCNN, MaskRCNN,
                                   assign_proposals, fast_rcnn_loss, mask_loss, paste_masks,
                                   postprocess, rpn_loss, smooth_l1, warp_crops)
from deepbasic.vision.boxes import decode_boxes
from deepbasic.vision.roi import roi_align

MODELS = [RCNN, FastRCNN, FasterRCNN, MaskRCNN]


@pytest.fixture(scope="module")
def scenes():
    return generate_scenes(3, seed=5, size=32)


def _targets(s, masks=False):
    from deepbasic.train.rcnn import scene_targets
    return scene_targets(s, masks)


# ----- crops and masks ----------------------------------------------------------------------------
def test_warp_crops_matches_roi_align_with_one_sample_per_bin():
    rng = np.random.default_rng(0)
    images = rng.random((2, 3, 20, 24)).astype(np.float32)
    rois = np.array([[0, 2.0, 3.0, 15.0, 11.0], [1, 0.0, 0.0, 24.0, 20.0], [1, 5.5, 6.25, 9.0, 19.0]])
    crops = warp_crops(images, rois, 8)
    ref = roi_align(Tensor(images), rois, 8, 1.0, sampling_ratio=1, aligned=True).numpy()
    assert crops.shape == (3, 3, 8, 8) and crops.dtype == np.float32
    np.testing.assert_allclose(crops, ref, atol=1e-5)


def test_warp_crops_of_whole_image_at_its_size_is_the_image():
    images = np.random.default_rng(1).random((1, 3, 10, 10)).astype(np.float32)
    crops = warp_crops(images, np.array([[0, 0, 0, 10, 10.0]]), 10)
    np.testing.assert_allclose(crops[0], images[0], atol=1e-6)
    assert warp_crops(images, np.zeros((0, 5)), 4).shape == (0, 3, 4, 4)


def test_paste_masks_fills_the_box_only():
    masks = np.ones((2, 4, 4))
    boxes = np.array([[2.0, 3.0, 6.0, 9.0], [0.0, 0.0, 1.0, 1.0]])
    out = paste_masks(masks, boxes, 12, 10)
    assert out.shape == (2, 12, 10) and out.dtype == bool
    expect = np.zeros((12, 10), bool)
    expect[3:9, 2:6] = True
    np.testing.assert_array_equal(out[0], expect)
    assert out[1].sum() == 1 and out[1, 0, 0]
    half = np.zeros((1, 4, 4))
    half[0, :, :2] = 1.0                                  # left half of the box
    out = paste_masks(half, np.array([[0.0, 0.0, 8.0, 8.0]]), 8, 8)
    assert out[0, :, :4].all() and not out[0, :, 4:].any()


# ----- targets ------------------------------------------------------------------------------------
def test_assign_proposals_labels_by_iou():
    gt = np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    gl = np.array([3, 1])
    props = np.array([[0.0, 0.0, 10.0, 9.0],     # IoU 0.9 with gt 0 -> class 3
                      [0.0, 0.0, 10.0, 4.0],     # IoU 0.4 -> background
                      [21.0, 21.0, 30.0, 30.0],  # IoU 0.81 with gt 1 -> class 1
                      [40.0, 40.0, 50.0, 50.0]])  # no overlap -> background
    boxes, labels, targets, matched = assign_proposals(props, gt, gl, num_samples=100,
                                                       positive_fraction=1.0, rng=0,
                                                       add_ground_truth=False)
    assert len(boxes) == 4
    by_box = {tuple(b): (lab, m) for b, lab, m in zip(boxes, labels, matched)}
    assert by_box[(0.0, 0.0, 10.0, 9.0)] == (4, 0)
    assert by_box[(21.0, 21.0, 30.0, 30.0)] == (2, 1)
    assert by_box[(0.0, 0.0, 10.0, 4.0)] == (0, -1)
    assert by_box[(40.0, 40.0, 50.0, 50.0)] == (0, -1)
    pos = labels > 0
    assert pos[:2].all() and not pos[2:].any()            # positives first
    np.testing.assert_allclose(decode_boxes(boxes[pos], targets[pos], BOX_WEIGHTS),
                               gt[matched[pos]], atol=1e-9)
    assert (targets[~pos] == 0).all()


def test_assign_proposals_balances_and_adds_ground_truth():
    gt = np.array([[0.0, 0.0, 10.0, 10.0]])
    props = np.array([[x, 30.0, x + 5, 35.0] for x in range(20)], np.float64)  # all background
    boxes, labels, _, _ = assign_proposals(props, gt, np.array([0]), num_samples=8,
                                           positive_fraction=0.25, rng=0)
    assert len(boxes) == 8 and (labels == 1).sum() == 1   # the ground truth itself
    _, labels, _, _ = assign_proposals(np.zeros((0, 4)), np.zeros((0, 4)), np.zeros(0), 8, rng=0)
    assert len(labels) == 0


# ----- losses: values and gradients ---------------------------------------------------------------
def test_smooth_l1_values_and_gradcheck():
    x = Tensor(np.array([0.0, 0.5, -2.0, 3.0]), requires_grad=True)
    val = smooth_l1(x, np.zeros(4), beta=1.0).item()
    assert val == pytest.approx(0 + 0.125 + 1.5 + 2.5)
    y = Tensor(np.random.default_rng(0).normal(size=(5, 4)), requires_grad=True)
    tgt = np.random.default_rng(1).normal(size=(5, 4))
    gradcheck(lambda a: smooth_l1(a, tgt, beta=0.5), [y])


def test_fast_rcnn_loss_gradcheck_and_class_specific_regression():
    rng = np.random.default_rng(0)
    logits = Tensor(rng.normal(size=(5, 4)), requires_grad=True)
    deltas = Tensor(rng.normal(size=(5, 12)), requires_grad=True)
    labels = np.array([1, 3, 0, 0, 2])
    targets = rng.normal(size=(5, 4))
    gradcheck(lambda lg, d: fast_rcnn_loss(lg, d, labels, targets), [logits, deltas])
    _, box = fast_rcnn_loss(logits, deltas, labels, targets)
    box.backward()
    g = deltas.grad.reshape(5, 3, 4)
    assert np.abs(g[2]).sum() == 0 and np.abs(g[3]).sum() == 0       # background: no box loss
    assert np.abs(g[0, 1:]).sum() == 0 and np.abs(g[0, 0]).sum() > 0  # only its own class
    _, box = fast_rcnn_loss(logits, deltas, np.zeros(5, np.int64), targets)
    assert box.item() == 0.0


def test_rpn_loss_gradcheck():
    rng = np.random.default_rng(1)
    obj = Tensor(rng.normal(size=(6,)), requires_grad=True)
    deltas = Tensor(rng.normal(size=(6, 4)), requires_grad=True)
    labels = np.array([1, 1, 0, 0, 0, 0])
    targets = rng.normal(size=(6, 4)) * 0.2     # |d| on both sides of beta = 1/9
    gradcheck(lambda o, d: rpn_loss(o, d, labels, targets), [obj, deltas])


def test_mask_loss_gradcheck_uses_own_class():
    rng = np.random.default_rng(2)
    logits = Tensor(rng.normal(size=(3, 2, 4, 4)), requires_grad=True)
    labels = np.array([1, 2, 2])
    targets = (rng.random((3, 4, 4)) > 0.5).astype(np.float64)
    gradcheck(lambda lg: mask_loss(lg, labels, targets), [logits])
    logits.grad = None
    mask_loss(logits, labels, targets).backward()
    assert np.abs(logits.grad[0, 1]).sum() == 0 and np.abs(logits.grad[1, 0]).sum() == 0


# ----- postprocessing and the models --------------------------------------------------------------
def test_postprocess_decodes_and_suppresses():
    props = np.array([[0.0, 0.0, 10.0, 10.0], [0.5, 0.0, 10.5, 10.0], [20.0, 20.0, 30.0, 30.0]])
    logits = np.array([[0.0, 5.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 6.0]])
    out = postprocess(props, logits, np.zeros((3, 8)), 32, 32, score_threshold=0.3)
    assert out["labels"].tolist() == [1, 0]                    # the duplicate is suppressed
    np.testing.assert_allclose(out["boxes"], props[[2, 0]])
    assert out["scores"][0] > out["scores"][1]


@pytest.mark.parametrize("cls", MODELS)
def test_loss_and_detect_contract(cls, scenes):
    from deepbasic.train.rcnn import scene_proposals

    c = len(scenes.class_names)
    model = cls(c, 32, max_detections=10)
    masks = cls is MaskRCNN
    props = scene_proposals(scenes) if model.uses_selective_search else None
    losses = model.loss(scenes.images, _targets(scenes, masks), props, rng=0)
    expected = {"cls", "box"} | ({"rpn_obj", "rpn_box"} if cls in (FasterRCNN, MaskRCNN)
                                 else set()) | ({"mask"} if masks else set())
    assert set(losses) == expected
    total = sum(losses.values(), Tensor(np.zeros((), np.float32)))
    total.backward()
    assert all(np.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.train()
    dets = model.detect(scenes.images[:2])
    assert model.training                                       # mode restored
    assert len(dets) == 2
    for d in dets:
        k = len(d["boxes"])
        assert d["boxes"].shape == (k, 4) and d["scores"].shape == (k,)
        assert d["labels"].shape == (k,) and d["labels"].dtype == np.int64 and k <= 10
        assert ((d["labels"] >= 0) & (d["labels"] < c)).all()
        assert (d["boxes"] >= 0).all() and (d["boxes"] <= 32).all()
        assert set(d) == ({"boxes", "scores", "labels"} | ({"masks"} if masks else set()))
        if masks:
            assert d["masks"].shape == (k, 32, 32) and d["masks"].dtype == bool
    model.score_threshold = 1.01                                # an image with no detections
    d = model.detect(scenes.images[:1])[0]
    assert d["boxes"].shape == (0, 4) and d["scores"].shape == (0,) and d["labels"].shape == (0,)
    if masks:
        assert d["masks"].shape == (0, 32, 32)
    assert model.detect(np.zeros((0, 3, 32, 32), np.float32)) == []


def test_rpn_shapes_and_anchor_order():
    model = FasterRCNN(3, 32)
    feats = model.backbone(Tensor(np.zeros((2, 3, 32, 32), np.float32)))
    obj, deltas = model.rpn(feats)
    a = len(model.anchors)
    assert a == 8 * 8 * 9 and obj.shape == (2, a) and deltas.shape == (2, a, 4)
    props = model.propose(obj, deltas, model.anchors, 32, 32)
    assert len(props) == 2 and all(p.shape[1] == 4 and len(p) <= model.rpn_post_nms for p in props)
    with pytest.raises(ValueError, match="built for 32"):
        model.detect(np.zeros((1, 3, 48, 48), np.float32))
