"""``deepbasic detect``: a tiny train -> eval -> predict -> compare round trip, and its errors."""
import json

import numpy as np
import pytest

from deepbasic.cli import main

TINY = ["--scenes", "40", "--val-scenes", "8", "--test-scenes", "8", "--size", "32",
        "--epochs", "1", "--batch-size", "16", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("detect") / "yolo"
    assert main(["detect", "train", "--method", "yolo", *TINY, "--out", str(run)]) == 0
    return run


def _save_png(path, array):
    from PIL import Image

    Image.fromarray(array).save(path)
    return str(path)


def test_train_prints_scores_and_writes_the_detector(trained, capsys):
    result = json.loads((trained / "result.json").read_text())
    assert result["method"] == "yolo" and result["size"] == 32
    assert (trained / "detector.safetensors").is_file() and (trained / "detections.png").is_file()
    assert main(["detect", "eval", "--detector", str(trained / "detector.safetensors"),
                 "--scenes", "8"]) == 0
    out = capsys.readouterr().out
    assert "mAP@0.5" in out and "mAP@[.5:.95]" in out and "ms per image" in out
    # the test scenes of training (seed 2): the same mAP as the run measured
    assert f"mAP@0.5 {result['bbox']['mAP50']:.4f}" in out


def test_predict_on_scenes_and_images(trained, tmp_path, capsys):
    from deepbasic.data.shapes import generate_scenes

    det = str(trained / "detector.safetensors")
    out_png = tmp_path / "d.png"
    assert main(["detect", "predict", "--detector", det, "--scenes", "2", "--score", "0.01",
                 "--out", str(out_png)]) == 0
    text = capsys.readouterr().out
    assert "scene 0:" in text and "scene 1:" in text and "ms per image" in text
    assert out_png.is_file()
    img = (generate_scenes(1, seed=5, size=32).images[0].transpose(1, 2, 0) * 255).astype(np.uint8)
    png = _save_png(tmp_path / "a.png", img)
    out2 = tmp_path / "e.png"
    assert main(["detect", "predict", "--detector", det, "--image", png, "--out", str(out2)]) == 0
    assert png in capsys.readouterr().out and out2.is_file()


def test_compare_prints_the_table(tmp_path, capsys):
    assert main(["detect", "compare", "--methods", "yolo", *TINY, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "detector" in out and "mAP@0.5" in out and "\nyolo " in out
    assert (tmp_path / "yolo" / "detector.safetensors").is_file()
    assert (tmp_path / "comparison.txt").read_text().startswith("detector")


def _error(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as e:          # argparse's own errors (one line through cli_args.Parser)
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_errors_are_one_line(trained, tmp_path, capsys):
    det = str(trained / "detector.safetensors")
    assert "invalid choice: 'nope'" in _error(["detect", "train", "--method", "nope"], capsys)
    assert "unknown detector 'nope': expected one of" in _error(
        ["detect", "compare", "--methods", "yolo,nope", "--out", str(tmp_path)], capsys)
    assert "no such file" in _error(["detect", "eval", "--detector", "/no/such.safetensors"],
                                    capsys)
    garbage = tmp_path / "g.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    assert "not a detector" in _error(["detect", "eval", "--detector", str(garbage)], capsys)
    assert "not a detector" in _error(
        ["detect", "predict", "--detector", str(trained / "last.safetensors"), "--out",
         str(tmp_path / "x.png")], capsys)
    big = _save_png(tmp_path / "big.png", np.zeros((40, 32, 3), np.uint8))
    err = _error(["detect", "predict", "--detector", det, "--image", big, "--out",
                  str(tmp_path / "x.png")], capsys)
    assert "takes 32x32 images, got 40x32" in err
    grey = _save_png(tmp_path / "grey.png", np.zeros((32, 32), np.uint8))
    err = _error(["detect", "predict", "--detector", det, "--image", grey, "--out",
                  str(tmp_path / "x.png")], capsys)
    assert "takes 3-channel RGB images, got a L image" in err
    assert "--image /no/such.png: no such file" in _error(
        ["detect", "predict", "--detector", det, "--image", "/no/such.png", "--out",
         str(tmp_path / "x.png")], capsys)
    notpng = tmp_path / "n.png"
    notpng.write_text("hello")
    assert "not a readable image" in _error(
        ["detect", "predict", "--detector", det, "--image", str(notpng), "--out",
         str(tmp_path / "x.png")], capsys)
