"""The recurrent-network commands: charlm, caption, train rowlstm."""
import json

import pytest

from deepbasic.cli import main


def test_charlm_train_then_sample(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat. " * 200)
    run = tmp_path / "lm"
    assert main(["charlm", "train", "--text", str(text), "--hidden", "16", "--layers", "1",
                 "--embed", "8", "--epochs", "2", "--seq-len", "20", "--batch-size", "8",
                 "--ngram-order", "3", "--lr", "1e-2", "--out", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "held-out bits per character: LSTM" in out and "3-gram (Kneser-Ney)" in out
    result = json.loads((run / "result.json").read_text())
    assert result["epochs"] == 2 and result["val_bpc"] > 0 and result["ngram_bpc"] > 0
    assert (run / "sample.txt").read_text().startswith("def ")
    assert main(["charlm", "sample", "--checkpoint", str(run / "best.safetensors"), "--prime",
                 "the c", "--length", "30", "--temperature", "0"]) == 0
    sampled = capsys.readouterr().out
    assert sampled.startswith("the c") and len(sampled.rstrip("\n")) >= 30


@pytest.mark.parametrize("argv, message", [
    (["charlm", "train", "--text", "/no/such/file.txt"], "--text /no/such/file.txt"),
    (["charlm", "sample", "--checkpoint", "/no/such.safetensors"], "no such file"),
    (["charlm", "train", "--resume", "--epochs", "1"], "--resume needs --out"),
    (["caption", "sample", "--checkpoint", "/no/such.safetensors"], "no such file"),
    (["train", "rowlstm", "--hidden", "8,8", "--epochs", "1"], "give --hidden one width"),
    (["train", "rowlstm", "--channels", "8", "--epochs", "1"], "not options of rowlstm"),
])
def test_recurrent_command_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_caption_train_then_sample(tmp_path, capsys):
    run = tmp_path / "cap"
    assert main(["caption", "train", "--scenes", "32", "--val-scenes", "8", "--test-scenes", "8",
                 "--size", "16", "--epochs", "1", "--hidden", "16", "--embed", "8",
                 "--channels", "4,4", "--feature-input", "8", "--beam", "2", "--out", str(run),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "test BLEU-4 (greedy)" in out and "test BLEU-4 (beam 2)" in out
    assert (run / "captions.png").stat().st_size > 0
    png = tmp_path / "new.png"
    assert main(["caption", "sample", "--checkpoint", str(run / "last.safetensors"),
                 "--scenes", "3", "--beam", "1", "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "reference:" in out and "ms per image (greedy)" in out and png.stat().st_size > 0
    # a PNG of the wrong size is a one-line error
    from PIL import Image
    import numpy as np

    wrong = tmp_path / "wrong.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(wrong)
    assert main(["caption", "sample", "--checkpoint", str(run / "last.safetensors"),
                 "--image", str(wrong)]) == 2
    assert "takes 16x16 images, got 20x20" in capsys.readouterr().err
    right = tmp_path / "right.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(right)
    assert main(["caption", "sample", "--checkpoint", str(run / "last.safetensors"),
                 "--image", str(right)]) == 0


def test_train_rowlstm_on_digits(tmp_path, capsys):
    run = tmp_path / "row"
    assert main(["train", "rowlstm", "--dataset", "digits", "--hidden", "32", "--epochs", "2",
                 "--lr", "1e-2", "--out", str(run), "--no-progress"]) == 0
    assert "(hidden 32)" in capsys.readouterr().out
    result = json.loads((run / "result.json").read_text())
    assert result["model"] == "rowlstm" and result["test_accuracy"] > 0.3
    assert main(["eval", str(run / "last.safetensors")]) == 0
