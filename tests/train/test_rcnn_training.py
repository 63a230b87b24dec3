"""The two-stage detectors through the detector registry: tiny end-to-end experiments."""
import os

import numpy as np
import pytest

from deepbasic.train.detection import (detection_experiment, detectors, get_detector,
                                       load_detector)
from deepbasic.train.rcnn import _PROPOSAL_CACHE, scene_proposals, scene_targets

METHODS = ["rcnn", "fast-rcnn", "faster-rcnn", "mask-rcnn"]


def test_registered():
    specs = detectors()
    for name in METHODS:
        assert name in specs and specs[name].description
    assert get_detector("mask-rcnn").masks and not get_detector("faster-rcnn").masks


def test_proposals_are_cached_per_scene_set():
    from deepbasic.data.shapes import generate_scenes

    s = generate_scenes(2, seed=9, size=32)
    first = scene_proposals(s, max_proposals=50)
    n = len(_PROPOSAL_CACHE)
    again = scene_proposals(generate_scenes(2, seed=9, size=32), max_proposals=50)
    assert again is first and len(_PROPOSAL_CACHE) == n
    assert len(first) == 2 and all(p.shape[1] == 4 and len(p) <= 50 for p in first)
    t = scene_targets(s, masks=True)
    assert t[0]["boxes"].shape == (len(s.labels[0]), 4) and t[0]["masks"].shape[1:] == (32, 32)


@pytest.mark.parametrize("method", METHODS)
def test_tiny_experiment(method, tmp_path):
    out = str(tmp_path / method)
    r = detection_experiment(method, train_scenes=24, val_scenes=4, test_scenes=4, size=32,
                             epochs=1, batch_size=8, out_dir=out, progress=False, verbose=False,
                             examples=2)
    assert r["method"] == method and len(r["history"]) == 1
    h = r["history"][0]
    assert np.isfinite(h["train_loss"]) and np.isfinite(h["val_loss"])
    assert 0.0 <= r["bbox"]["mAP50"] <= 1.0 and r["seconds_per_image"] > 0
    assert ("segm" in r) == (method == "mask-rcnn")
    for name in ("detector.safetensors", "result.json", "detections.png", "last.safetensors"):
        assert os.path.exists(os.path.join(out, name))
    if method == "fast-rcnn":       # load_detector round trip
        from deepbasic.data.shapes import generate_scenes

        model, config = load_detector(r["detector"])
        assert config["method"] == method and not model.training
        images = generate_scenes(2, seed=2, size=32).images
        again = model.detect(images)
        assert len(again) == 2 and all(d["boxes"].shape[1] == 4 for d in again)
    if method == "mask-rcnn":
        model, _ = load_detector(r["detector"])
        from deepbasic.data.shapes import generate_scenes

        for d in model.detect(generate_scenes(2, seed=2, size=32).images):
            assert d["masks"].shape == (len(d["boxes"]), 32, 32) and d["masks"].dtype == bool
