"""The deepbasic command: train, eval, info, one-line errors, python -m."""
import json
import subprocess
import sys

import pytest

from deepbasic.cli import main


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "deepbasic" in out and "numpy" in out and "blas" in out


def test_train_then_eval_then_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "mlp", "--dataset", "digits", "--epochs", "3", "--out", str(run),
                 "--no-progress", "--hidden", "32", "--lr", "1e-2"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out
    for name in ("last.safetensors", "best.safetensors", "metrics.jsonl", "curves.png",
                 "confusion.png", "result.json"):
        assert (run / name).exists(), name
    result = json.loads((run / "result.json").read_text())
    assert result["epochs"] == 3 and 0.5 < result["test_accuracy"] <= 1.0

    assert main(["eval", str(run / "last.safetensors")]) == 0
    out = capsys.readouterr().out
    assert f"test accuracy {result['test_accuracy']:.4f}" in out  # same weights, same number

    assert main(["train", "mlp", "--dataset", "digits", "--epochs", "5", "--out", str(run),
                 "--no-progress", "--hidden", "32", "--lr", "1e-2", "--resume"]) == 0
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("argv, message", [
    (["train", "mlp", "--epochs", "0"], "--epochs: expected a positive integer, got 0"),
    (["train", "mlp", "--lr", "abc"], "--lr: expected a positive number, got 'abc'"),
    (["train", "mlp", "--hidden", "3,x"], "--hidden: expected comma-separated layer widths"),
    (["train", "mlp", "--dropout", "1.5"], "--dropout: expected a number in [0, 1)"),
    (["train", "cnn"], "invalid choice: 'cnn'"),
    (["frob"], "invalid choice: 'frob'"),
])
def test_bad_flags_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_runtime_errors_are_one_line(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "missing.safetensors")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    assert main(["train", "mlp", "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
    assert main(["train", "mlp", "--out", str(tmp_path / "empty"), "--resume", "--epochs", "1",
                 "--no-progress"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_device_cuda_without_a_gpu_is_a_one_line_error(capsys):
    from deepbasic import backend

    if backend.cupy_available():
        pytest.skip("CuPy sees a GPU here")
    assert main(["train", "mlp", "--device", "cuda", "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda needs CuPy" in err and len(err.strip().splitlines()) == 1


def test_python_dash_m_is_the_same_command():
    r = subprocess.run([sys.executable, "-m", "deepbasic", "info"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "deepbasic" in r.stdout
    r = subprocess.run([sys.executable, "-m", "deepbasic", "train", "mlp", "--epochs", "-1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_train_convnet_with_augmentation(tmp_path, capsys):
    run = tmp_path / "cnn"
    assert main(["train", "convnet", "--dataset", "digits", "--epochs", "2", "--channels", "8,16",
                 "--augment", "--out", str(run), "--no-progress", "--lr", "1e-2"]) == 0
    assert "with augmentation" in capsys.readouterr().out
    result = json.loads((run / "result.json").read_text())
    assert result["model"] == "convnet" and result["epochs"] == 2
    assert result["test_accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert main(["eval", str(run / "last.safetensors")]) == 0  # rebuilt from the saved config


@pytest.mark.parametrize("argv, message", [
    (["train", "resnet20", "--hidden", "64"], "--hidden and --batch-norm are for the MLP"),
    (["train", "convnet", "--batch-norm"], "--hidden and --batch-norm are for the MLP"),
    (["train", "mlp", "--channels", "8,16"], "--channels is for convnet"),
    (["train", "resnet20", "--channels", "8,16"], "--channels is for convnet, not resnet20"),
    (["train", "resnet20", "--dropout", "0.1"], "--dropout is for mlp and convnet"),
])
def test_model_options_must_fit_the_model(argv, message, capsys):
    assert main(argv + ["--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
