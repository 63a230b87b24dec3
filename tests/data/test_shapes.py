"""The shapes scenes: determinism, shapes and dtypes, ground truth consistent with the pixels,
the visibility rule, captions that match the scene, single-object mode, and the dataset export."""
import json
import os

import numpy as np
import pytest

from deepbasic.data.shapes import (CAPTION_VOCABULARY, CLASS_NAMES, COLOUR_NAMES, COLOURS,
                                   SIZE_NAMES, SIZE_RANGES, Scene, Scenes, export_dataset,
                                   generate_scene, generate_scenes, scene_captions, shape_mask,
                                   single_object_dataset, tight_box)


@pytest.fixture(scope="module")
def scenes():
    return generate_scenes(120, seed=7)


@pytest.fixture(scope="module")
def crowded():
    return generate_scenes(40, seed=3, num_objects=4, sizes=("medium", "large"), min_visible=0.6)


def _same(a: Scenes, b: Scenes) -> bool:
    return (np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)
            and a.captions == b.captions
            and all(np.array_equal(x, y) for x, y in zip(a.boxes, b.boxes))
            and all(np.array_equal(x, y) for x, y in zip(a.instance_masks, b.instance_masks)))


def test_same_seed_same_scenes_and_prefixes_agree(scenes):
    assert _same(scenes, generate_scenes(120, seed=7))
    assert _same(scenes[:30], generate_scenes(30, seed=7))       # scene i does not depend on n
    other = generate_scenes(30, seed=8)
    assert not np.array_equal(other.images, scenes.images[:30])
    one = generate_scene(seed=7, index=17)
    assert np.array_equal(one.image, scenes.images[17]) and one.captions == scenes.captions[17]


def test_noise_and_texture_change_pixels_not_layout():
    a = generate_scenes(10, seed=1)
    b = generate_scenes(10, seed=1, noise=0.0, texture=0.0)
    assert not np.array_equal(a.images, b.images)
    assert a.captions == b.captions and np.array_equal(a.masks, b.masks)
    assert all(np.array_equal(x, y) for x, y in zip(a.boxes, b.boxes))


def test_shapes_and_dtypes(scenes):
    n = len(scenes)
    assert scenes.images.shape == (n, 3, 64, 64) and scenes.images.dtype == np.float32
    assert 0.0 <= scenes.images.min() and scenes.images.max() <= 1.0
    assert scenes.masks.shape == (n, 64, 64) and scenes.masks.dtype == np.uint8
    for i in range(n):
        k = len(scenes.labels[i])
        assert 1 <= k <= 3
        assert scenes.labels[i].shape == (k,) and scenes.labels[i].dtype == np.int64
        assert scenes.boxes[i].shape == (k, 4) and scenes.boxes[i].dtype == np.float32
        assert scenes.instance_masks[i].shape == (k, 64, 64) and scenes.instance_masks[i].dtype == bool
        assert scenes.colours[i].shape == scenes.sizes[i].shape == scenes.extents[i].shape == (k,)
        assert scenes.centres[i].shape == (k, 2)
    assert scenes.class_names == CLASS_NAMES and scenes.colour_names == COLOUR_NAMES
    assert scenes.size_names == ("small", "large")
    s = scenes[5]
    assert isinstance(s, Scene) and s.image.shape == (3, 64, 64) and s.mask.shape == (64, 64)
    assert s.caption == s.captions[0] and len(s.describe()) == s.num_objects
    assert sorted(set(scenes.num_objects.tolist())) == [1, 2, 3]
    assert set(np.concatenate(scenes.labels).tolist()) == set(range(len(CLASS_NAMES)))


def test_rectangular_images_and_chosen_names():
    s = generate_scenes(8, seed=0, size=(48, 80), classes=["triangle", "circle"], colours="red",
                        sizes=["small", "medium", "large"], max_objects=2)
    assert s.images.shape == (8, 3, 48, 80) and s.masks.shape == (8, 48, 80)
    assert s.class_names == ("triangle", "circle") and s.colour_names == ("red",)
    assert np.concatenate(s.labels).max() <= 1 and np.concatenate(s.colours).max() == 0
    assert all("red" in c[0] and "square" not in c[0] for c in s.captions)
    for labels, boxes in zip(s.labels, s.boxes):
        assert (boxes[:, 0] + boxes[:, 2] <= 80).all() and (boxes[:, 1] + boxes[:, 3] <= 48).all()


def test_boxes_are_tight_around_the_visible_pixels(scenes, crowded):
    for batch in (scenes, crowded):
        for boxes, masks in zip(batch.boxes, batch.instance_masks):
            for (x, y, w, h), m in zip(boxes.astype(int), masks):
                rows, cols = np.nonzero(m)
                assert (x, y, w, h) == (cols.min(), rows.min(), cols.max() - cols.min() + 1,
                                        rows.max() - rows.min() + 1)
                inside = np.zeros_like(m)
                inside[y:y + h, x:x + w] = True
                assert not (m & ~inside).any()


def test_semantic_mask_agrees_with_instance_masks(scenes, crowded):
    for batch in (scenes, crowded):
        for sem, labels, inst in zip(batch.masks, batch.labels, batch.instance_masks):
            assert (inst.sum(axis=0) <= 1).all()                     # visible parts are disjoint
            expected = np.zeros(sem.shape, np.uint8)
            for label, m in zip(labels, inst):
                expected[m] = label + 1
            assert np.array_equal(sem, expected)


def test_every_object_keeps_the_visible_fraction(crowded):
    assert (crowded.num_objects == 4).all()
    for i in range(len(crowded)):
        s = crowded[i]
        for label, centre, extent, vis in zip(s.labels, s.centres, s.extents, s.instance_masks):
            whole = shape_mask(s.class_names[label], centre, float(extent), (64, 64))
            assert not (vis & ~whole).any()                          # visible part of the shape
            assert vis.sum() >= 0.6 * whole.sum()


def test_later_objects_are_drawn_over_earlier_ones(crowded):
    occluded = 0
    for s in crowded:
        whole = [shape_mask(s.class_names[k], c, float(e), (64, 64))
                 for k, c, e in zip(s.labels, s.centres, s.extents)]
        for j in range(s.num_objects):
            later = np.zeros((64, 64), bool)
            for m in whole[j + 1:]:
                later |= m
            assert np.array_equal(s.instance_masks[j], whole[j] & ~later)
            occluded += int((whole[j] & later).any())
    assert occluded > 0                                              # occlusion does happen


def test_pixels_have_the_objects_colours():
    s = generate_scenes(20, seed=2, noise=0.0, texture=0.0, colour_jitter=0.04)
    for image, colours, masks in zip(s.images, s.colours, s.instance_masks):
        for c, m in zip(colours, masks):
            pixels = image[:, m]                                      # (3, visible pixels)
            assert np.ptp(pixels, axis=1).max() == 0                  # one flat colour
            assert np.abs(pixels[:, 0] - np.array(COLOURS[COLOUR_NAMES[c]])).max() <= 0.04 + 1e-6


def test_extents_follow_the_named_sizes():
    s = generate_scenes(30, seed=4, sizes=SIZE_NAMES)
    for sizes, extents in zip(s.sizes, s.extents):
        for size, extent in zip(sizes, extents):
            lo, hi = SIZE_RANGES[SIZE_NAMES[size]]
            assert lo * 64 - 1e-4 <= extent <= hi * 64 + 1e-4


def _parse(caption: str):
    """Split a canonical caption into object phrases and the relations between them."""
    words, phrases, relations = caption.split(), [], []
    i = 0
    while i < len(words):
        assert words[i] == "a"
        phrases.append(" ".join(words[i + 1:i + 4]))
        i += 4
        if i < len(words):
            rel = "left of" if words[i] == "left" else words[i]
            relations.append(rel)
            i += 2 if rel == "left of" else 1
    return phrases, relations


def test_captions_describe_the_scene(scenes):
    vocabulary = set(CAPTION_VOCABULARY)
    for s in scenes:
        canonical = s.captions[0]
        assert canonical == canonical.lower() and set(canonical.split()) <= vocabulary
        assert all(set(c.split()) <= vocabulary for c in s.captions)
        assert len(set(s.captions)) == len(s.captions)
        phrases, relations = _parse(canonical)
        centres = s.boxes[:, :2] + s.boxes[:, 2:] / 2
        order = np.argsort(centres[:, 0], kind="stable")
        assert phrases == [s.describe()[j] for j in order]           # every object, left to right
        for rel, a, b in zip(relations, order[:-1], order[1:]):
            dx, dy = centres[b] - centres[a]
            assert dx > 0
            assert rel == ("left of" if dx >= abs(dy) else "above" if dy > 0 else "below")
        if s.num_objects == 1:
            assert s.captions == [canonical]
        else:
            assert s.captions[-1] == " and ".join("a " + p for p in phrases)


def test_relations_are_never_borderline(scenes):
    margin = 0.04 * 64
    for boxes in scenes.boxes:
        c = boxes[:, :2] + boxes[:, 2:] / 2
        c = c[np.argsort(c[:, 0])]
        d = np.diff(c, axis=0)
        assert (d[:, 0] >= margin).all() and (np.abs(d[:, 0] - np.abs(d[:, 1])) >= margin).all()


def test_caption_grammar_by_hand():
    labels, colours, sizes = [1, 0], [2, 0], [1, 0]       # medium blue square, small red circle
    boxes = [[40, 10, 20, 20], [5, 12, 10, 10]]                        # the circle is on the left
    assert scene_captions(labels, colours, sizes, boxes) == [
        "a small red circle left of a medium blue square",
        "a small red circle to the left of a medium blue square",
        "a medium blue square right of a small red circle",
        "a medium blue square to the right of a small red circle",
        "a small red circle and a medium blue square",
    ]
    boxes = [[10, 40, 10, 10], [12, 2, 10, 10]]                        # circle above the square
    assert scene_captions(labels, colours, sizes, boxes) == [
        "a medium blue square below a small red circle",
        "a small red circle above a medium blue square",
        "a medium blue square and a small red circle",
    ]
    assert scene_captions([4], [3], [2], [[0, 0, 5, 5]]) == ["a large yellow cross"]


def test_vocabulary_is_small():
    assert len(CAPTION_VOCABULARY) == 24
    assert set(generate_scenes(1).vocabulary) <= set(CAPTION_VOCABULARY)


def test_single_object_mode():
    data = single_object_dataset(40, seed=5, size=48)
    images, labels, boxes = data
    assert images.shape == (40, 3, 48, 48) and images.dtype == np.float32
    assert labels.shape == (40,) and labels.dtype == np.int64
    assert boxes.shape == (40, 4) and boxes.dtype == np.float32
    scenes = generate_scenes(40, seed=5, size=48, num_objects=1)
    assert np.array_equal(images, scenes.images)
    for label, box, sem in zip(labels, boxes, scenes.masks):
        assert np.array_equal(box, tight_box(sem > 0)) and set(np.unique(sem)) == {0, label + 1}
    with pytest.raises(TypeError, match="fixed at 1"):
        single_object_dataset(3, max_objects=2)


def test_shape_masks():
    circle = shape_mask("circle", (32, 32), 20, 64)
    assert abs(circle.sum() - np.pi * 100) < 15
    assert np.array_equal(tight_box(shape_mask("square", (20, 20), 10, 64)), [15, 15, 10, 10])
    tri = shape_mask("triangle", (32, 32), 20, 64)
    rows = tri.sum(axis=1)[22:42]
    assert (np.diff(rows) >= 0).all() and rows[0] < rows[-1]           # widens downwards
    ell = tight_box(shape_mask("ellipse", (32, 32), 20, 64))
    assert ell[2] > 1.6 * ell[3]
    for name in CLASS_NAMES:
        m = shape_mask(name, (32.3, 30.7), 15.0, (64, 64))
        assert m.dtype == bool and m.shape == (64, 64) and m.any()
    with pytest.raises(ValueError, match="unknown shape 'star'"):
        shape_mask("star", (3, 3), 2, 16)


@pytest.mark.parametrize("kwargs, message", [
    (dict(classes=["circle", "hexagon"]), "classes must be distinct names"),
    (dict(min_objects=3, max_objects=2), "need 1 <= min_objects <= max_objects"),
    (dict(num_objects=0), "need 1 <= min_objects"),
    (dict(size=8), "at least 16 x 16 pixels, got 8 x 8"),
    (dict(noise=-0.1), "noise must be >= 0"),
    (dict(min_visible=1.5), r"min_visible must be in \[0, 1\]"),
    (dict(n=-1), "n must be a non-negative integer"),
    (dict(max_objects=2.5), "max_objects must be an integer, got 2.5"),
    (dict(seed=-3), "seed must be a non-negative integer"),
])
def test_bad_options(kwargs, message):
    kwargs = {"n": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate_scenes(**kwargs)


def test_impossible_layout_is_reported():
    with pytest.raises(RuntimeError, match="could not place 8 objects"):
        generate_scenes(1, size=16, num_objects=8, sizes=["large"], min_visible=0.95)


def test_scenes_slicing_and_empty():
    s = generate_scenes(6, seed=0)
    assert len(s[2:5]) == 3 and s[2:5].captions == s.captions[2:5]
    assert s[-1].captions == s.captions[5]
    assert [x.caption for x in s] == s.canonical_captions
    empty = generate_scenes(0)
    assert empty.images.shape == (0, 3, 64, 64) and len(empty) == 0


def test_export_dataset(tmp_path):
    from PIL import Image

    scenes = export_dataset(tmp_path / "shapes", 5, seed=9, max_objects=2)
    root = tmp_path / "shapes"
    assert sorted(os.listdir(root)) == ["captions.json", "images", "instances.json", "masks"]
    assert sorted(os.listdir(root / "images")) == [f"{i:06d}.png" for i in range(5)]
    assert not [f for _, _, fs in os.walk(root) for f in fs if f.endswith(".tmp")]
    for i in range(5):
        rgb = np.asarray(Image.open(root / "images" / f"{i:06d}.png"))
        expected = np.round(scenes.images[i].transpose(1, 2, 0) * 255).astype(np.uint8)
        assert np.array_equal(rgb, expected)
        assert np.array_equal(np.asarray(Image.open(root / "masks" / f"{i:06d}.png")), scenes.masks[i])
    instances = json.loads((root / "instances.json").read_text())
    assert [im["file_name"] for im in instances["images"]] == [f"images/{i:06d}.png" for i in range(5)]
    captions = json.loads((root / "captions.json").read_text())
    assert captions["annotations"][0]["caption"] == scenes.captions[0][0]


def test_scene_splits_draw_disjoint_seeded_sets():
    from deepbasic.data.shapes import SPLIT_SEEDS, generate_scenes, scene_splits

    sets = scene_splits(3, 2, 4, size=24, max_objects=2)
    assert [len(sets[k].images) for k in ("train", "val", "test")] == [3, 2, 4]
    again = generate_scenes(4, seed=SPLIT_SEEDS["test"], size=24, max_objects=2)
    assert (sets["test"].images == again.images).all()
    assert not (sets["train"].images[:2] == sets["val"].images).all()
    with pytest.raises(ValueError, match="val must be a positive number of scenes"):
        scene_splits(3, 0, 4)
