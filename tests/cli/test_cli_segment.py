"""The segment and localize commands: train and predict round trips, one-line errors."""
import json

import numpy as np
import pytest

from deepbasic import cli


def _png(path, array):
    from PIL import Image

    Image.fromarray(array).save(path)
    return str(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny segmentation run and one tiny localization run, trained through the CLI."""
    root = tmp_path_factory.mktemp("runs")
    assert cli.main(["segment", "train", "--upsample", "bilinear", "--scenes", "24",
                     "--val-scenes", "4", "--test-scenes", "4", "--size", "16", "--epochs",
                     "2", "--batch-size", "12", "--channels", "4,4,6,6", "--out",
                     str(root / "seg"), "--no-progress"]) == 0
    assert cli.main(["localize", "train", "--images", "32", "--val-images", "8",
                     "--test-images", "8", "--size", "16", "--epochs", "2", "--channels",
                     "4,8", "--hidden", "16", "--box-loss", "l2", "--box-weight", "2",
                     "--out", str(root / "loc"), "--no-progress"]) == 0
    return root


def test_segment_train_prints_metrics_and_saves(runs):
    result = json.loads((runs / "seg" / "result.json").read_text())
    assert result["upsample"] == "bilinear" and result["epochs"] == 2
    assert (runs / "seg" / "masks.png").stat().st_size > 0


def test_segment_eval_matches_the_training_runs_test_scenes(runs, capsys):
    result = json.loads((runs / "seg" / "result.json").read_text())
    ckpt = str(runs / "seg" / "last.safetensors")
    n = result["test_scenes"]
    assert cli.main(["segment", "eval", "--checkpoint", ckpt, "--scenes", str(n)]) == 0
    out = capsys.readouterr().out
    assert f"mean IoU {result['test_mean_iou']:.4f}" in out and "background" in out
    assert cli.main(["segment", "eval", "--checkpoint", "/no/such.safetensors"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_segment_predict_scenes_and_images(runs, tmp_path, capsys):
    ckpt = str(runs / "seg" / "last.safetensors")
    assert cli.main(["segment", "predict", "--checkpoint", ckpt, "--scenes", "3", "--out",
                     str(tmp_path / "m.png")]) == 0
    out = capsys.readouterr().out
    assert "mean IoU" in out and "ms per image (bilinear upsampling)" in out
    assert (tmp_path / "m.png").stat().st_size > 0
    img = _png(tmp_path / "a.png", (np.random.default_rng(0).random((16, 16, 3)) * 255)
               .astype(np.uint8))
    assert cli.main(["segment", "predict", "--checkpoint", ckpt, "--image", img, "--out",
                     str(tmp_path / "n.png")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("  0  ") and "mean IoU" not in out


def test_localize_train_and_predict(runs, tmp_path, capsys):
    result = json.loads((runs / "loc" / "result.json").read_text())
    assert result["box_loss"] == "l2" and result["box_weight"] == 2.0
    ckpt = str(runs / "loc" / "best.safetensors")
    assert cli.main(["localize", "predict", "--checkpoint", ckpt, "--images", "3", "--out",
                     str(tmp_path / "b.png")]) == 0
    out = capsys.readouterr().out
    assert "box xyxy" in out and "mean box IoU" in out and (tmp_path / "b.png").exists()
    img = _png(tmp_path / "a.png", np.full((16, 16, 3), 120, np.uint8))
    assert cli.main(["localize", "predict", "--checkpoint", ckpt, "--image", img]) == 0
    assert "true" not in capsys.readouterr().out


def _errors(runs, tmp_path):
    seg = str(runs / "seg" / "last.safetensors")
    loc = str(runs / "loc" / "last.safetensors")
    big = _png(tmp_path / "big.png", np.zeros((24, 24, 3), np.uint8))
    grey = _png(tmp_path / "grey.png", np.zeros((16, 16), np.uint8))
    clear = _png(tmp_path / "clear.png", np.zeros((16, 16, 4), np.uint8))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    return [
        (["segment", "predict", "--checkpoint", "/no/such.safetensors"], "no such file"),
        (["segment", "predict", "--checkpoint", loc], "not a segmentation (FCN) checkpoint (it holds 'localizer')"),
        (["localize", "predict", "--checkpoint", seg], "not a localization checkpoint (it holds 'fcn')"),
        (["segment", "predict", "--checkpoint", seg, "--image", big], "takes 16x16 images, got 24x24"),
        (["segment", "predict", "--checkpoint", seg, "--image", grey], "3-channel RGB images, got a L"),
        (["localize", "predict", "--checkpoint", loc, "--image", clear], "transparent"),
        (["localize", "predict", "--checkpoint", loc, "--image", str(junk)], "not a readable image"),
        (["localize", "predict", "--checkpoint", loc, "--image", "/no/a.png"], "no such file"),
        (["segment", "train", "--size", "20"], "multiple of 8"),
        (["segment", "train", "--resume", "--epochs", "1"], "--resume needs --out"),
        (["segment", "train", "--min-objects", "3", "--max-objects", "2"], "must not exceed"),
        (["localize", "train", "--size", "20"], "multiple of 16"),
    ]


def test_bad_input_is_one_line(runs, tmp_path, capsys):
    for argv, message in _errors(runs, tmp_path):
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_arguments_are_refused_by_the_parser(capsys):
    for argv in (["segment", "train", "--upsample", "nearest"],
                 ["segment", "train", "--channels", "4,4"],
                 ["localize", "train", "--box-loss", "l1"]):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
