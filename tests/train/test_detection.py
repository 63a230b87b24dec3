"""The detector registry and the detection experiment, end to end on tiny settings (YOLO)."""
import json

import numpy as np
import pytest

from deepbasic.data.shapes import generate_scenes
from deepbasic.serialization import save_file
from deepbasic.train.detection import (
    DetectorSpec,
    _DETECTORS,
    detection_experiment,
    detectors,
    evaluate_detector,
    format_comparison,
    get_detector,
    load_detector,
    register_detector,
)
from deepbasic.train.yolo import DetectionLoader, pack_targets

TINY = dict(train_scenes=40, val_scenes=8, test_scenes=8, size=32, epochs=1, batch_size=16,
            progress=False, verbose=False, build_options={"channels": [8, 8, 16]})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("yolo")
    return detection_experiment("yolo", out_dir=str(out), examples=4, **TINY), out


def test_registry_has_yolo_and_names_the_choices():
    specs = detectors()
    assert "yolo" in specs and specs["yolo"].masks is False
    spec = get_detector("yolo")
    assert {"epochs", "lr", "batch_size"} <= set(spec.defaults)
    with pytest.raises(ValueError, match="unknown detector 'nope': expected one of .*yolo"):
        get_detector("nope")


def test_register_detector_adds_and_replaces():
    spec = DetectorSpec("tmp-detector", "for a test", build=lambda *a, **k: None,
                        train=lambda *a, **k: [])
    try:
        register_detector(spec)
        assert get_detector("tmp-detector") is spec
        other = DetectorSpec("tmp-detector", "again", spec.build, spec.train)
        register_detector(other)
        assert get_detector("tmp-detector").description == "again"
    finally:
        _DETECTORS.pop("tmp-detector", None)


def test_experiment_writes_its_files(tiny_run):
    r, out = tiny_run
    assert r["method"] == "yolo" and r["test_scenes"] == 8 and r["size"] == 32
    assert len(r["history"]) == 1 and {"epoch", "train_loss", "val_loss"} <= set(r["history"][0])
    assert 0.0 <= r["bbox"]["mAP50"] <= 1.0 and 0.0 <= r["bbox"]["mAP"] <= r["bbox"]["mAP50"] + 1e-9
    assert r["seconds_per_image"] > 0 and r["parameters"] > 0
    for name in ("detector.safetensors", "detections.png", "result.json", "last.safetensors"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "result.json").read_text())
    assert saved["bbox"] == r["bbox"] and saved["options"]["epochs"] == 1


def test_load_detector_round_trip(tiny_run):
    r, out = tiny_run
    model, config = load_detector(str(out / "detector.safetensors"))
    assert config["method"] == "yolo" and config["size"] == 32 and not model.training
    assert config["build_options"]["channels"] == [8, 8, 16]
    scenes = generate_scenes(6, seed=2, size=32)
    ev = evaluate_detector(model, scenes)
    assert set(ev) >= {"bbox", "seconds_per_image", "detections"}
    # rebuilt from the file: the same detections as the model trained in the run
    model2, _ = load_detector(str(out / "detector.safetensors"))
    for a, b in zip(model.detect(scenes.images, score_threshold=0.0),
                    model2.detect(scenes.images, score_threshold=0.0)):
        for key in ("boxes", "scores", "labels"):
            np.testing.assert_array_equal(a[key], b[key])
    # identical to the run's own evaluation on the same test scenes
    test = generate_scenes(8, seed=2, size=32)
    assert evaluate_detector(model, test)["bbox"] == r["bbox"]


def test_load_detector_rejects_other_files(tmp_path):
    path = str(tmp_path / "weights.safetensors")
    save_file({"w": np.zeros(2, np.float32)}, path)
    with pytest.raises(ValueError, match="not a detector file"):
        load_detector(path)
    save_file({"w": np.zeros(2, np.float32)}, path, metadata={"config": json.dumps({"model": "x"})})
    with pytest.raises(ValueError, match="not a detector file"):
        load_detector(path)


def test_format_comparison():
    rows = [{"method": "yolo", "bbox": {"mAP50": 0.91234, "mAP": 0.6}, "seconds_per_image": 0.002,
             "parameters": 123456, "train_time_s": 61.2},
            {"method": "mask-rcnn", "bbox": {"mAP50": 0.8, "mAP": 0.5}, "segm": {"mAP50": 0.7},
             "seconds_per_image": 0.05, "parameters": 1000, "train_time_s": 300}]
    table = format_comparison(rows).splitlines()
    assert len(table) == 3 and table[0].startswith("detector")
    assert "0.912" in table[1] and "123,456" in table[1] and "2.0" in table[1]
    assert table[1].split()[3] == "-" and "0.700" in table[2]


def test_pack_targets_and_flip_loader():
    scenes = generate_scenes(6, seed=0, size=32)
    t = pack_targets(scenes)
    m = max(len(lab) for lab in scenes.labels)
    assert t.shape == (6, m, 5) and t.dtype == np.float32
    for i, (b, lab) in enumerate(zip(scenes.boxes, scenes.labels)):
        k = len(lab)
        np.testing.assert_allclose(t[i, :k, 2:4], b[:, :2] + b[:, 2:])
        assert t[i, :k, 4].tolist() == list(lab) and np.all(t[i, k:, 4] == -1)
    loader = DetectionLoader(scenes, batch_size=6, flip=True, seed=3)
    (xb, yb), = list(loader)
    x, y = xb.numpy(), yb.numpy()
    flipped = [i for i in range(6) if not np.array_equal(x[i], scenes.images[i])]
    assert 0 < len(flipped) < 6
    for i in range(6):
        real = t[i, :, 4] >= 0
        if i in flipped:
            np.testing.assert_array_equal(x[i], scenes.images[i][..., ::-1])
            np.testing.assert_allclose(y[i, real, 0], 32 - t[i, real, 2])
            np.testing.assert_allclose(y[i, real, 2], 32 - t[i, real, 0])
        else:
            np.testing.assert_array_equal(y[i], t[i])
        np.testing.assert_array_equal(y[i, :, [1, 3, 4]], t[i, :, [1, 3, 4]])
    # a flipped box still covers the object's pixels: the mirrored instance mask
    i = flipped[0]
    mask = scenes.instance_masks[i][0][:, ::-1]
    cols = np.flatnonzero(mask.any(axis=0))
    assert (cols[0], cols[-1] + 1) == (int(y[i, 0, 0]), int(y[i, 0, 2]))


def test_paint_instances_and_mask_examples(tmp_path):
    from deepbasic.data.shapes import generate_scenes
    from deepbasic.train.detection import paint_instances, save_mask_examples

    masks = np.zeros((3, 4, 5), bool)
    masks[0, :2] = True       # label 1, score 0.9
    masks[1, 1:3] = True      # label 0, score 0.6: painted first, under the higher score
    masks[2, 3:] = True       # score 0.2: below the threshold
    d = {"masks": masks, "labels": np.array([1, 0, 2]), "scores": np.array([0.9, 0.6, 0.2])}
    painted = paint_instances(d, (4, 5))
    assert painted[0].tolist() == [2] * 5 and painted[1].tolist() == [2] * 5
    assert painted[2].tolist() == [1] * 5 and painted[3].tolist() == [0] * 5
    scenes = generate_scenes(2, seed=0, size=24)
    dets = [{"masks": m, "labels": lab, "scores": np.ones(len(lab))}
            for m, lab in zip(scenes.instance_masks, scenes.labels)]
    for d, m in zip(dets, scenes.masks):
        assert (paint_instances(d, m.shape) == m).all()  # the truth painted back is the truth
    path = save_mask_examples(scenes, dets, str(tmp_path / "masks.png"))
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
