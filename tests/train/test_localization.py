"""Localization metrics and a tiny classification + localization experiment end to end."""
import json

import numpy as np
import pytest

from deepbasic.data.shapes import scene_splits, single_object_dataset
from deepbasic.train.localization import (box_iou_per_image, load_localizer,
                                          localization_experiment, localization_metrics)


def make_localization_sets(train, val, test, size=16):
    return scene_splits(train, val, test, size=size, generator=single_object_dataset)


def test_box_iou_per_image_by_hand():
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 6, 6]], float)
    true = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [0, 0, 1, 1]], float)
    np.testing.assert_allclose(box_iou_per_image(pred, true), [1.0, 50 / 150, 0.0])


def test_metrics_from_packed_outputs_and_targets():
    # 3 classes; outputs = scores (3) + normalized box (4); targets = label + box
    outputs = np.array([[5.0, 0, 0, 0.0, 0.0, 0.5, 0.5],      # right class, exact box
                        [0, 5.0, 0, 0.0, 0.0, 0.5, 0.5],      # wrong class, IoU 1/3
                        [0, 0, 5.0, 0.5, 0.5, -0.2, 0.3]])    # right class, negative width: IoU 0
    targets = np.array([[0, 0.0, 0.0, 0.5, 0.5],
                        [2, 0.25, 0.0, 0.5, 0.5],
                        [2, 0.5, 0.5, 0.2, 0.2]])
    m = localization_metrics(outputs, targets, 3)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["mean_box_iou"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert m["box_iou_50"] == pytest.approx(1 / 3) and m["correct_and_iou_50"] == pytest.approx(1 / 3)


def test_sets_are_single_object_and_disjoint():
    sets = make_localization_sets(4, 2, 3, size=16)
    assert sets["train"].images.shape == (4, 3, 16, 16) and sets["test"].boxes.shape == (3, 4)
    assert not np.array_equal(sets["train"].images[:2], sets["val"].images)
    with pytest.raises(ValueError, match="test must be a positive number"):
        make_localization_sets(4, 2, 0)


def test_tiny_experiment_trains_saves_and_reloads(tmp_path):
    out = tmp_path / "loc"
    r = localization_experiment(train_images=96, val_images=16, test_images=16, size=16,
                                epochs=3, lr=3e-3, batch_size=32, channels=(4, 8), hidden=16,
                                box_weight=5.0, seed=0, out_dir=str(out), progress=False,
                                verbose=False, examples=4)
    losses = [h["train_loss"] for h in r["history"]]
    assert losses[-1] < losses[0]
    assert 0 <= r["test_accuracy"] <= 1 and 0 <= r["test_mean_box_iou"] <= 1
    assert "val_mean_box_iou" in r["history"][-1]
    for name in ("best.safetensors", "last.safetensors", "boxes.png", "curves.png",
                 "result.json"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "result.json").read_text())["box_loss"] == "smooth_l1"
    model, config = load_localizer(str(out / "last.safetensors"))
    assert config["class_names"][0] == "circle" and model.input_shape == (3, 16, 16)
    test = make_localization_sets(96, 16, 16, size=16)["test"]
    labels, _, boxes = model.predict(test.images)
    from deepbasic.vision.boxes import xywh_to_xyxy

    iou = box_iou_per_image(boxes, xywh_to_xyxy(test.boxes.astype(np.float64)))
    assert iou.mean() == pytest.approx(r["test_mean_box_iou"])
    assert np.mean(labels == test.labels) == pytest.approx(r["test_accuracy"])


def test_l2_box_loss_and_checks(tmp_path):
    r = localization_experiment(train_images=32, val_images=8, test_images=8, size=16, epochs=1,
                                batch_size=16, channels=(4,), hidden=8, box_loss="l2",
                                progress=False, verbose=False)
    assert r["box_loss"] == "l2" and r["epochs"] == 1
    with pytest.raises(ValueError, match="box_loss must be one of"):
        localization_experiment(train_images=4, val_images=2, test_images=2, size=16,
                                box_loss="l1")
    with pytest.raises(ValueError, match="multiple of 4"):
        localization_experiment(train_images=4, val_images=2, test_images=2, size=18,
                                channels=(4, 4))
    with pytest.raises(ValueError, match="not a localization"):
        from deepbasic.models.fcn import FCN
        from deepbasic.train.checkpoint import save_checkpoint

        save_checkpoint(str(tmp_path / "f.safetensors"), FCN(3, channels=(4, 4, 4, 4)),
                        extra={"config": {"model": "fcn"}})
        load_localizer(str(tmp_path / "f.safetensors"))
