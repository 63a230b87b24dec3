"""``deepbasic visualize``: every method on a tiny ConvNet trained in the test, one-line errors."""
from __future__ import annotations

import numpy as np
import pytest

from deepbasic import cli


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("vis")
    assert cli.main(["train", "convnet", "--dataset", "digits", "--epochs", "1", "--channels",
                     "4,8", "--out", str(root / "run"), "--no-progress"]) == 0
    return str(root / "run" / "best.safetensors")


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def _run(checkpoint, *argv):
    return cli.main(["visualize", *argv, "--checkpoint", checkpoint])


@pytest.mark.parametrize("argv,expect", [
    (["saliency", "--index", "0", "1", "2"], "saliency:"),
    (["guided", "--index", "3"], "guided backprop:"),
    (["guided", "--layer", "features.2", "--unit", "1"], "guided backprop:"),
    (["occlusion", "--index", "4", "--patch", "3", "--stride", "2"], "occlusion:"),
    (["class", "--target", "3", "--steps", "20"], "maximizing 3"),
    (["class", "--layer", "features.2", "--unit", "0", "--steps", "5"], "maximizing features.2"),
    (["filters", "--index", "5"], "activations of #5"),
    (["neighbors", "--index", "0", "1", "--k", "3", "--database", "60"], "feature space"),
])
def test_each_method_writes_a_png(checkpoint, tmp_path, capsys, argv, expect):
    out = tmp_path / "fig.png"
    assert _run(checkpoint, *argv, "--out", str(out)) == 0
    assert _is_png(out)
    assert expect in capsys.readouterr().out
    if argv[0] == "filters":
        assert _is_png(tmp_path / "fig_activations.png")


def test_fooling_reaches_the_target(checkpoint, tmp_path, capsys):
    from deepbasic.data import load_dataset
    from deepbasic.train.recipes import load_model
    from deepbasic.visualize.saliency import scores_of

    model, _ = load_model(checkpoint)
    x = load_dataset("digits").test.x[:1]
    target = (int(scores_of(model, x).argmax()) + 1) % 10
    out = tmp_path / "fool.png"
    assert _run(checkpoint, "fooling", "--index", "0", "--target", str(target), "--steps", "400",
                "--out", str(out)) == 0
    assert f"-> {target} after" in capsys.readouterr().out
    assert _is_png(out)


def test_image_files_are_read(checkpoint, tmp_path, capsys):
    from PIL import Image

    from deepbasic.data import load_dataset

    x = load_dataset("digits").test.x[7, 0]
    path = tmp_path / "digit.png"
    Image.fromarray((x * 255).round().astype(np.uint8), mode="L").save(path)
    out = tmp_path / "s.png"
    assert _run(checkpoint, "saliency", "--image", str(path), "--out", str(out)) == 0
    assert "digit.png: explaining class" in capsys.readouterr().out and _is_png(out)
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(rgb)
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((9, 8), np.uint8), mode="L").save(big)
    for bad, msg in ((rgb, "1-channel grey"), (big, "8x8 images")):
        assert _run(checkpoint, "saliency", "--image", str(bad), "--out", str(out)) == 2
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv,msg", [
    (["fooling"], "needs --target"),
    (["class"], "needs --target"),
    (["saliency", "--index", "9999"], "the test split has"),
    (["class", "--target", "cat"], "expected a class index"),
    (["guided", "--layer", "features.2"], "--layer and --unit go together"),
    (["guided", "--layer", "nope", "--unit", "1"], "no layer named 'nope'"),
    (["guided", "--layer", "features.2", "--unit", "99"], "outside"),
    (["occlusion", "--patch", "9"], "larger than"),
    (["saliency", "--image", "/no/such.png"], "no such file"),
])
def test_bad_input_is_one_line(checkpoint, tmp_path, capsys, argv, msg):
    assert _run(checkpoint, *argv, "--out", str(tmp_path / "x.png")) == 2
    err = capsys.readouterr().err
    assert msg in err and len(err.strip().splitlines()) == 1


def test_bad_checkpoints_are_one_line(tmp_path, capsys):
    assert cli.main(["visualize", "saliency", "--checkpoint", str(tmp_path / "none")]) == 2
    assert "no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    assert cli.main(["visualize", "saliency", "--checkpoint", str(junk)]) == 2
    err = capsys.readouterr().err
    assert "--checkpoint" in err and len(err.strip().splitlines()) == 1
