"""Drawing boxes and masks: colours per class, box formats, overlays, PNGs, input checks."""
import numpy as np
import pytest

from deepbasic.visualize.detection import (PALETTE, class_colour, draw_boxes,
                                           draw_instance_masks, draw_mask, mask_overlay,
                                           save_detections, save_masks)

NAMES = ["circle", "square", "triangle"]


def _image(h=16, w=20, seed=0):
    return np.random.default_rng(seed).random((3, h, w), dtype=np.float32)


@pytest.fixture
def plt():
    from deepbasic.train.plots import _pyplot

    p = _pyplot()
    yield p
    p.close("all")


def test_class_colours_are_fixed():
    assert class_colour(0) == PALETTE[0] and class_colour(len(PALETTE) + 2) == class_colour(2)
    assert len(set(PALETTE)) == len(PALETTE)


def test_draw_boxes_outlines_each_box_in_its_class_colour(plt):
    from matplotlib.colors import to_rgb

    ax = draw_boxes(_image(), np.array([[1, 2, 11, 8], [0, 0, 4, 4]]), [1, 2], [0.9, 0.5],
                    class_names=NAMES)
    rects = [p for p in ax.patches]
    assert len(rects) == 2
    assert rects[0].get_xy() == (1, 2) and rects[0].get_width() == 10 and rects[0].get_height() == 6
    assert to_rgb(rects[0].get_edgecolor()) == pytest.approx(class_colour(1), abs=1e-3)
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["square 0.90", "triangle 0.50"]
    # the image fills [0, W] x [0, H]: pixel i covers [i, i + 1)
    assert ax.get_xlim() == (0, 20) and ax.get_ylim() == (16, 0)


def test_xywh_boxes_are_converted(plt):
    ax = draw_boxes(_image(), [[1, 2, 10, 6]], [0], fmt="xywh", show_labels=False)
    r = ax.patches[0]
    assert (r.get_xy(), r.get_width(), r.get_height()) == ((1, 2), 10, 6) and not ax.texts


def test_draw_boxes_checks_its_inputs(plt):
    with pytest.raises(ValueError, match="2 boxes but 1 labels"):
        draw_boxes(_image(), np.zeros((2, 4)), [0])
    with pytest.raises(ValueError, match=r"shape \(K, 4\)"):
        draw_boxes(_image(), np.zeros((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="fmt"):
        draw_boxes(_image(), np.zeros((1, 4)), [0], fmt="cxcywh")
    with pytest.raises(ValueError, match="expected an image"):
        draw_boxes(np.zeros((5, 4, 4)), np.zeros((1, 4)), [0])


def test_mask_overlay_is_translucent_class_colour_on_transparent_background():
    mask = np.array([[0, 1], [3, 0]])
    rgba = mask_overlay(mask, alpha=0.4)
    assert rgba.shape == (2, 2, 4)
    assert rgba[0, 0, 3] == 0 and rgba[1, 1, 3] == 0
    np.testing.assert_allclose(rgba[0, 1], [*class_colour(0), 0.4], atol=1e-6)
    np.testing.assert_allclose(rgba[1, 0], [*class_colour(2), 0.4], atol=1e-6)
    with pytest.raises(ValueError, match="semantic mask"):
        mask_overlay(np.zeros((1, 2, 2)))


def test_draw_mask_and_instance_masks(plt):
    img = _image(8, 8)
    mask = np.zeros((8, 8), int)
    mask[2:5, 2:5] = 2
    ax = draw_mask(img, mask)
    assert len(ax.images) == 2       # the image, then the overlay
    inst = np.zeros((2, 8, 8), bool)
    inst[0, :2, :2] = inst[1, 4:, 4:] = True
    ax = draw_instance_masks(img, inst, [0, 2])
    overlay = ax.images[-1].get_array()
    np.testing.assert_allclose(overlay[0, 0, :3], class_colour(0), atol=1e-6)
    np.testing.assert_allclose(overlay[7, 7, :3], class_colour(2), atol=1e-6)
    with pytest.raises(ValueError, match="differ in size"):
        draw_mask(img, np.zeros((4, 4), int))
    with pytest.raises(ValueError, match="K labels"):
        draw_instance_masks(img, inst, [0])


def test_save_detections_writes_a_png(tmp_path):
    images = np.stack([_image(seed=i) for i in range(3)])
    path = save_detections(images, [np.array([[1, 1, 9, 9]]), np.zeros((0, 4)),
                                    np.array([[0, 0, 5, 5], [4, 4, 12, 12]])],
                           [[0], [], [1, 2]], [[0.8], [], [0.7, 0.3]], str(tmp_path / "d.png"),
                           class_names=NAMES, true_boxes=[[[0, 0, 8, 8]], [[2, 2, 5, 5]], []],
                           true_labels=[[0], [1], []])
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    path = save_detections(images[:1], [[[1, 1, 5, 5]]], [[1]], None, str(tmp_path / "e.png"),
                           true_boxes=[[[1, 1, 4, 4]]], fmt="xywh")
    assert (tmp_path / "e.png").stat().st_size > 0
    with pytest.raises(ValueError, match="3 images but 2 entries in labels_list"):
        save_detections(images, [[]] * 3, [[]] * 2, None, str(tmp_path / "x.png"))


def test_save_masks_writes_a_png(tmp_path):
    images = np.stack([_image(12, 12, seed=i) for i in range(2)])
    true = np.zeros((2, 12, 12), np.uint8)
    true[0, 2:6, 2:6] = 1
    true[1, 5:, 5:] = 3
    pred = true.copy()
    pred[1, 5:7] = 2
    path = save_masks(images, true, pred, str(tmp_path / "m.png"), class_names=NAMES)
    assert open(path, "rb").read(4) == b"\x89PNG"
    assert save_masks(images, None, pred, str(tmp_path / "p.png"))   # predictions only
    with pytest.raises(ValueError, match="differ|expected predicted"):
        save_masks(images, true, pred[:1], str(tmp_path / "x.png"))
    with pytest.raises(ValueError, match="give true_masks"):
        save_masks(images, None, None, str(tmp_path / "x.png"))
