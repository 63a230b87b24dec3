"""Segmentation metrics (confusion matrix, IoU) and a tiny FCN experiment end to end."""
import json

import numpy as np
import pytest

from deepbasic.data.shapes import scene_splits
from deepbasic.train.metrics import (iou_per_class, mean_iou, pixel_accuracy,
                                     segmentation_confusion)
from deepbasic.train.segmentation import (compare_upsampling, evaluate_segmentation,
                                          load_segmenter, predict_masks,
                                          segmentation_experiment)


def test_iou_from_a_hand_computed_confusion_matrix():
    # rows true, columns predicted
    m = np.array([[50, 2, 3],
                  [4, 10, 1],
                  [0, 5, 25]])
    # class 0: TP 50, FP 4, FN 5 -> 50/59; class 1: TP 10, FP 7, FN 5 -> 10/22;
    # class 2: TP 25, FP 4, FN 5 -> 25/34
    want = np.array([50 / 59, 10 / 22, 25 / 34])
    np.testing.assert_allclose(iou_per_class(m), want)
    assert mean_iou(m) == pytest.approx(want.mean())
    assert pixel_accuracy(m) == pytest.approx(85 / 100)


def test_a_class_absent_from_truth_and_prediction_is_skipped():
    m = np.array([[8, 0, 2],
                  [0, 0, 0],     # class 1: never present, never predicted -> NaN, skipped
                  [1, 0, 9]])
    iou = iou_per_class(m)
    assert np.isnan(iou[1])
    np.testing.assert_allclose(iou[[0, 2]], [8 / 11, 9 / 12])
    assert mean_iou(m) == pytest.approx((8 / 11 + 9 / 12) / 2)


def test_a_class_predicted_but_absent_counts_as_zero():
    m = np.array([[6, 2],
                  [0, 0]])       # class 1 absent from the truth but predicted twice: IoU 0
    np.testing.assert_allclose(iou_per_class(m), [6 / 8, 0.0])
    assert mean_iou(m) == pytest.approx(0.375)
    assert np.isnan(mean_iou(np.zeros((3, 3))))
    with pytest.raises(ValueError, match="square"):
        iou_per_class(np.zeros((2, 3)))


def test_confusion_is_accumulated_over_all_pixels_of_all_images():
    masks = np.array([[[0, 1], [2, 2]], [[0, 0], [1, 2]]])
    pred = np.array([[[0, 1], [2, 1]], [[0, 1], [1, 2]]])
    m = segmentation_confusion(pred, masks, 3)
    np.testing.assert_array_equal(m, [[2, 1, 0], [0, 2, 0], [0, 1, 2]])
    scores = np.eye(3)[pred].transpose(0, 3, 1, 2)      # one-hot (N, C, H, W) scores
    np.testing.assert_array_equal(segmentation_confusion(scores, masks), m)
    with pytest.raises(ValueError, match="num_classes"):
        segmentation_confusion(pred, masks)
    with pytest.raises(ValueError, match="predictions"):
        segmentation_confusion(pred[:, :1], masks, 3)


def test_scene_sets_are_disjoint_and_checked():
    sets = scene_splits(3, 2, 2, size=16)
    assert {k: len(v) for k, v in sets.items()} == {"train": 3, "val": 2, "test": 2}
    assert not np.array_equal(sets["train"].images[:2], sets["test"].images)
    with pytest.raises(ValueError, match="val must be a positive number"):
        scene_splits(3, 0, 2)


def test_tiny_experiment_trains_saves_and_reloads(tmp_path):
    out = tmp_path / "seg"
    r = segmentation_experiment(upsample="unpool", train_scenes=48, val_scenes=8, test_scenes=8,
                                size=16, epochs=3, lr=1e-2, batch_size=16, channels=(4, 6, 8, 8),
                                seed=0, out_dir=str(out), progress=False, verbose=False,
                                examples=3)
    losses = [h["train_loss"] for h in r["history"]]
    assert losses[-1] < losses[0]
    assert 0 <= r["test_mean_iou"] <= 1 and 0 <= r["test_pixel_accuracy"] <= 1
    assert r["class_names"][0] == "background" and len(r["test_iou_per_class"]) == 7
    assert np.array(r["test_confusion"]).sum() == 8 * 16 * 16
    for name in ("best.safetensors", "last.safetensors", "masks.png", "curves.png",
                 "result.json", "metrics.jsonl"):
        assert (out / name).stat().st_size > 0, name
    saved = json.loads((out / "result.json").read_text())
    assert saved["test_mean_iou"] == pytest.approx(r["test_mean_iou"])
    assert "val_mean_iou" in saved["history"][0] and "val_accuracy" in saved["history"][0]

    model, config = load_segmenter(str(out / "last.safetensors"))
    assert config["model_kwargs"]["upsample"] == "unpool" and config["size"] == 16
    sets = scene_splits(48, 8, 8, size=16)
    ev = evaluate_segmentation(model, sets["test"].images, sets["test"].masks,
                               class_names=r["class_names"])
    assert ev["mean_iou"] == pytest.approx(r["test_mean_iou"])
    assert predict_masks(model, sets["test"].images[:2]).shape == (2, 16, 16)


def test_loading_another_models_checkpoint_is_refused(tmp_path):
    from deepbasic.models.localizer import Localizer
    from deepbasic.train.checkpoint import save_checkpoint

    path = tmp_path / "other.safetensors"
    save_checkpoint(str(path), Localizer(3, (3, 16, 16), channels=(4,), hidden=4),
                    extra={"config": {"model": "localizer"}})
    with pytest.raises(ValueError, match="not a segmentation"):
        load_segmenter(str(path))


def test_experiment_checks_its_options():
    with pytest.raises(ValueError, match="upsample must be one of"):
        segmentation_experiment(upsample="nearest", train_scenes=4, val_scenes=2, test_scenes=2,
                                size=16)
    with pytest.raises(ValueError, match="multiple of 8"):
        segmentation_experiment(train_scenes=4, val_scenes=2, test_scenes=2, size=20)


def test_compare_upsampling_runs_all_three_on_the_same_scenes(tmp_path, capsys):
    r = compare_upsampling(train_scenes=16, val_scenes=4, test_scenes=4, size=16, epochs=1,
                           batch_size=16, channels=(4, 4, 4, 4), out_dir=str(tmp_path),
                           progress=False, verbose=True)
    assert [row["upsample"] for row in r["rows"]] == ["transpose", "unpool", "bilinear"]
    printed = capsys.readouterr().out
    assert "mean IoU" in printed and "bilinear" in printed
    assert (tmp_path / "comparison.txt").read_text().startswith("upsample")
    assert json.loads((tmp_path / "comparison.json").read_text())["rows"][1]["upsample"] == "unpool"
    for choice in ("transpose", "unpool", "bilinear"):
        assert (tmp_path / choice / "masks.png").exists()
    params = [row["parameters"] for row in r["rows"]]
    assert len(set(params)) == 3     # the three decoders differ
    with pytest.raises(ValueError, match="choices"):
        compare_upsampling(["nearest"], train_scenes=4, val_scenes=2, test_scenes=2, size=16)
