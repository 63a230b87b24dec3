"""The ``deepbasic optimizers`` command (registered here as the lead will) and the quick version
of the optimizers tour chapter."""
import importlib
import json
import os

import pytest

import deepbasic.cli as cli


@pytest.fixture(autouse=True)
def commands(monkeypatch):
    name = "deepbasic.commands.optimizers"
    if name not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", list(cli.COMMAND_MODULES) + [name])


def test_optimizers_writes_figure_and_histories(tmp_path, capsys):
    assert cli.main(["optimizers", "--dataset", "digits", "--iterations", "8",
                     "--methods", "sgd,adam,lbfgs", "--lrs", "adam=0.02", "--train-size", "300",
                     "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "300 training images" in out and "final loss" in out
    for m in ("sgd", "adam", "lbfgs"):
        assert m in out
    with open(tmp_path / "optimizers.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    record = json.loads((tmp_path / "optimizers.json").read_text())
    assert record["train_size"] == 300 and record["iterations"] == 8
    hist = record["histories"]
    assert list(hist) == ["sgd", "adam", "lbfgs"] and hist["adam"]["lr"] == 0.02
    assert all(len(h["loss"]) == 9 for h in hist.values())
    assert hist["lbfgs"]["final_loss"] < hist["sgd"]["final_loss"]


def test_optimizers_prints_without_out(capsys):
    assert cli.main(["optimizers", "--iterations", "2", "--methods", "momentum",
                     "--train-size", "100", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "momentum" in out and "test acc" in out


def test_optimizers_user_errors(capsys):
    assert cli.main(["optimizers", "--train-size", "999999", "--methods", "sgd"]) == 2
    assert "larger than" in capsys.readouterr().err
    assert cli.main(["optimizers", "--methods", "sgd", "--lrs", "adam=0.1"]) == 2
    assert "--lrs names adam" in capsys.readouterr().err
    for argv, message in [(["--methods", "sgd,newton"], "expected comma-separated methods"),
                          (["--methods", "sgd,sgd"], "listed twice"),
                          (["--lrs", "sgd=-1"], "expected METHOD=LR pairs"),
                          (["--lrs", "sgd"], "expected METHOD=LR pairs"),
                          (["--iterations", "0"], "positive integer"),
                          (["--reg", "-1"], "non-negative")]:
        with pytest.raises(SystemExit):
            cli.main(["optimizers"] + argv)
        assert message in capsys.readouterr().err, argv


def test_quick_chapter(tmp_path):
    from deepbasic.report.chapters import CHAPTERS

    importlib.import_module("deepbasic.report.chapter_optimizers")
    chapter = next(c for c in CHAPTERS if c.key == "optimizers")
    result = chapter.run(str(tmp_path), True)
    assert result.numbers and result.figures and result.notes
    assert any(label.startswith("lbfgs") for label, _ in result.numbers)
    for fname, _ in result.figures:
        assert os.path.getsize(tmp_path / fname) > 1000
