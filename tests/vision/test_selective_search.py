"""Selective search (deepbasic.vision.selective_search): proposals, features, errors, recall."""
import importlib
import time

import numpy as np
import pytest

pytest.importorskip("skimage")

from deepbasic.data.shapes import generate_scenes  # noqa: E402
# the module (deepbasic.vision.selective_search is also the name of the function it exports)
ss = importlib.import_module("deepbasic.vision.selective_search")
from deepbasic.vision.selective_search import (  # noqa: E402
    Strategy, hierarchical_grouping, neighbour_pairs, region_features, segment, selective_search)


def two_rectangles():
    """(3, 64, 64) grey background with a red and a blue rectangle; their xyxy (exclusive) boxes."""
    image = np.full((3, 64, 64), 0.5, np.float32)
    image[:, 8:24, 6:26] = np.array([0.9, 0.1, 0.1], np.float32)[:, None, None]
    image[:, 36:56, 30:58] = np.array([0.1, 0.2, 0.9], np.float32)[:, None, None]
    return image, np.array([[6, 8, 26, 24], [30, 36, 58, 56]], np.float32)


def iou_xywh_xyxy(gt, props):
    """IoU of ground-truth (K, 4) xywh boxes with (P, 4) xyxy proposals: (K, P)."""
    g = np.concatenate([gt[:, :2], gt[:, :2] + gt[:, 2:]], axis=1).astype(np.float64)
    lo = np.maximum(g[:, None, :2], props[None, :, :2])
    hi = np.minimum(g[:, None, 2:], props[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area_g = np.prod(g[:, 2:] - g[:, :2], axis=-1)[:, None]
    area_p = np.prod(props[:, 2:] - props[:, :2], axis=-1)[None, :]
    return inter / (area_g + area_p - inter)


def contains_row(boxes, row):
    return bool(np.any(np.all(boxes == row, axis=1)))


@pytest.mark.parametrize("mode", ["single", "fast", "quality"])
def test_flat_rectangles_are_proposed_exactly(mode):
    image, rects = two_rectangles()
    boxes = selective_search(image, mode=mode)
    assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 4
    for rect in rects:
        assert contains_row(boxes, rect), f"{mode}: {rect} not among {len(boxes)} proposals"
    assert contains_row(boxes, np.array([0, 0, 64, 64], np.float32))   # the whole image


def test_channels_last_and_tensor_input_give_the_same_boxes():
    from deepbasic.tensor import Tensor

    image, _ = two_rectangles()
    chw = selective_search(image)
    np.testing.assert_array_equal(chw, selective_search(image.transpose(1, 2, 0)))
    np.testing.assert_array_equal(chw, selective_search(image.astype(np.float64)))
    np.testing.assert_array_equal(chw, selective_search(Tensor(image)))


def test_boxes_are_valid_distinct_and_options_apply():
    image = generate_scenes(1, seed=3).images[0]
    boxes = selective_search(image)
    assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= 64) and np.all(boxes[:, 3] <= 64)
    assert np.all(boxes[:, 2:] > boxes[:, :2])
    assert len(np.unique(boxes, axis=0)) == len(boxes)
    np.testing.assert_array_equal(selective_search(image, max_proposals=7), boxes[:7])
    assert len(selective_search(image, max_proposals=0)) == 0
    big = selective_search(image, min_box_size=8)
    wh = boxes[:, 2:] - boxes[:, :2]
    np.testing.assert_array_equal(big, boxes[(wh >= 8).all(axis=1)])
    assert len(big) < len(boxes)


def test_deterministic_for_a_seed_and_seed_only_reorders():
    image = generate_scenes(1, seed=5).images[0]
    a, b = selective_search(image, seed=1), selective_search(image, seed=1)
    np.testing.assert_array_equal(a, b)
    c = selective_search(image, seed=2)
    assert not np.array_equal(a, c)   # a different random factor reorders ...
    np.testing.assert_array_equal(np.unique(a, axis=0), np.unique(c, axis=0))   # ... the same set


def test_ranking_is_hierarchy_position_times_a_seeded_random_factor():
    image = generate_scenes(1, seed=7).images[0]
    strategy = Strategy("lab", 50.0, "TSF", min_size=15)
    got = selective_search(image, strategies=[strategy], seed=4)
    rgb = ss.as_hwc_image(image)
    cs = ss.convert_colour(rgb, "lab")
    h = hierarchical_grouping(region_features(cs, segment(cs, 50.0, min_size=15)), 64 * 64, "TSF")
    count = len(h.sizes)
    value = np.arange(count, 0, -1) * np.random.default_rng(4).random(count)
    ordered = h.boxes[np.argsort(value, kind="stable")]
    seen, expect = set(), []
    for box in map(tuple, ordered.tolist()):
        if box not in seen:
            seen.add(box)
            expect.append(box)
    expect = np.array(expect, np.float32)
    expect[:, 2:] += 1
    np.testing.assert_array_equal(got, expect)


def test_region_features_match_a_per_region_loop():
    rng = np.random.default_rng(0)
    image = rng.random((12, 15, 3))
    labels = np.repeat(np.repeat(rng.integers(0, 6, (4, 5)), 3, axis=0), 3, axis=1)
    labels = np.unique(labels, return_inverse=True)[1].reshape(labels.shape)
    regions = region_features(image, labels)
    tex = ss.texture_bins(image)                                          # (3, 8, H, W)
    n = labels.max() + 1
    for r in range(n):
        m = labels == r
        rows, cols = np.nonzero(m)
        assert regions.sizes[r] == m.sum()
        np.testing.assert_array_equal(regions.boxes[r], [cols.min(), rows.min(), cols.max(),
                                                         rows.max()])
        colour = np.concatenate([np.histogram(image[..., c][m], bins=25, range=(0, 1))[0]
                                 for c in range(3)])
        np.testing.assert_allclose(regions.colour[r], colour / colour.sum(), atol=1e-12)
        texture = np.concatenate([np.bincount(tex[c, o][m], minlength=10)
                                  for c in range(3) for o in range(8)])
        np.testing.assert_allclose(regions.texture[r], texture / texture.sum(), atol=1e-12)
    pairs = set()
    for y in range(labels.shape[0]):
        for x in range(labels.shape[1]):
            for dy, dx in ((0, 1), (1, 0)):
                if y + dy < labels.shape[0] and x + dx < labels.shape[1]:
                    a, b = labels[y, x], labels[y + dy, x + dx]
                    if a != b:
                        pairs.add((min(a, b), max(a, b)))
    assert sorted(pairs) == [tuple(p) for p in neighbour_pairs(labels).tolist()]
    assert regions.texture.shape == (n, 3 * 8 * 10) and regions.colour.shape == (n, 75)


def test_hierarchy_merges_everything_into_the_image():
    image = ss.convert_colour(ss.as_hwc_image(generate_scenes(1, seed=2).images[0]), "hsv")
    labels = segment(image, 100.0)
    n = labels.max() + 1
    h = hierarchical_grouping(region_features(image, labels), 64 * 64, "CTSF")
    assert len(h.sizes) == 2 * n - 1 and h.merges.shape == (n - 1, 2)
    assert h.sizes[-1] == 64 * 64
    np.testing.assert_array_equal(h.boxes[-1], [0, 0, 63, 63])
    np.testing.assert_array_equal(h.sizes[n:], h.sizes[h.merges].sum(axis=1))
    assert np.all(h.merges < np.arange(n, 2 * n - 1)[:, None])   # children exist before parents
    assert len(np.unique(h.merges)) == 2 * n - 2                  # each region merged once


@pytest.mark.parametrize("space", sorted(ss.COLOUR_SPACES))
def test_colour_spaces_lie_in_unit_range(space):
    rgb = np.random.default_rng(1).random((9, 7, 3))
    rgb[0, 0] = 0.0
    out = ss.convert_colour(rgb, space)
    assert out.shape == (9, 7, ss.COLOUR_SPACES[space])
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros((64, 64)), ValueError, r"\(3, H, W\) or \(H, W, 3\)"),
    (np.zeros((4, 64, 64)), ValueError, r"got shape \(4, 64, 64\)"),
    (np.zeros((1, 3, 64, 64)), ValueError, "got shape"),
    (np.zeros((3, 1, 64)), ValueError, "at least 2 x 2"),
    (np.zeros((3, 64, 64), np.uint8), TypeError, "divide a uint8 image by 255"),
    (np.zeros((3, 64, 64), np.int64), TypeError, "dtype int64"),
    (np.full((3, 64, 64), 1.5), ValueError, r"\[0, 1\].*max 1.5"),
    (np.full((3, 64, 64), -0.2), ValueError, r"\[0, 1\].*min -0.2"),
    (np.full((3, 64, 64), np.nan), ValueError, "NaN"),
])
def test_bad_images_are_refused_clearly(bad, error, match):
    with pytest.raises(error, match=match):
        selective_search(bad)


def test_bad_options_are_refused_clearly():
    image, _ = two_rectangles()
    with pytest.raises(ValueError, match="unknown mode 'slow'"):
        selective_search(image, mode="slow")
    with pytest.raises(ValueError, match="min_size must be an integer >= 1"):
        selective_search(image, min_size=0)
    with pytest.raises(ValueError, match="max_proposals"):
        selective_search(image, max_proposals=-1)
    with pytest.raises(ValueError, match="non-empty list of Strategy"):
        selective_search(image, strategies=[])
    with pytest.raises(ValueError, match="letters of 'CTSF'"):
        Strategy(similarity="CX")
    with pytest.raises(ValueError, match="unknown colour space 'xyz'"):
        Strategy(colour_space="xyz")
    with pytest.raises(ValueError, match="scale must be a positive"):
        Strategy(scale=0)


def test_recall_and_speed_on_generated_scenes():
    scenes = generate_scenes(10, seed=0)
    selective_search(scenes.images[0])   # warm up imports
    best, counts, start = [], [], time.perf_counter()
    for image, gt in zip(scenes.images, scenes.boxes):
        boxes = selective_search(image, mode="fast")
        counts.append(len(boxes))
        best.append(iou_xywh_xyxy(gt, boxes).max(axis=1))
    per_image = (time.perf_counter() - start) / len(scenes)
    best = np.concatenate(best)
    recall5, recall7 = np.mean(best >= 0.5), np.mean(best >= 0.7)
    print(f"selective search fast, 10 scenes 64x64: {np.mean(counts):.0f} proposals/image, "
          f"recall@0.5 {recall5:.3f}, recall@0.7 {recall7:.3f}, {per_image * 1e3:.0f} ms/image")
    # Measured: 1.000 at both thresholds (22 objects), 127 proposals, ~20-30 ms per image.
    assert recall5 >= 0.95 and recall7 >= 0.9
    assert per_image < 0.5
