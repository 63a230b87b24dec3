"""The ``deepbasic knn`` and ``deepbasic linear`` commands (registered here as the lead will)."""
import os

import pytest

import deepbasic.cli as cli


@pytest.fixture(autouse=True)
def commands(monkeypatch):
    names = [n for n in ("deepbasic.commands.knn", "deepbasic.commands.linear")
             if n not in cli.COMMAND_MODULES]
    monkeypatch.setattr(cli, "COMMAND_MODULES", list(cli.COMMAND_MODULES) + names)


def test_knn_cv_writes_plot(tmp_path, capsys):
    assert cli.main(["knn", "--cv", "--cv-size", "300", "--train-size", "400", "--test-size", "50",
                     "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "best k =" in out and "test accuracy" in out
    assert os.path.getsize(tmp_path / "knn_cv.png") > 1000


def test_knn_metric_table(capsys):
    assert cli.main(["knn", "--metric", "both", "--k", "1", "--test-size", "40"]) == 0
    out = capsys.readouterr().out
    assert "l1" in out and "l2" in out and "accuracy" in out


def test_knn_user_errors(capsys):
    assert cli.main(["knn", "--train-size", "999999"]) == 2
    assert "larger than" in capsys.readouterr().err
    assert cli.main(["knn", "--train-size", "3", "--k", "5"]) == 2
    assert "larger than" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["knn", "--k", "0"])
    assert "positive integer" in capsys.readouterr().err


def test_linear_writes_templates_and_curve(tmp_path, capsys):
    assert cli.main(["linear", "--loss", "svm", "--epochs", "3", "--quiet",
                     "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out
    for name in ("templates_svm.png", "loss_svm.png"):
        assert os.path.getsize(tmp_path / name) > 1000


def test_linear_user_errors(capsys):
    assert cli.main(["linear", "--lr-decay", "2"]) == 2
    assert "--lr-decay" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["linear", "--reg", "-1"])
    assert "non-negative" in capsys.readouterr().err
