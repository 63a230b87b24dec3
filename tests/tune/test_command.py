"""The ``deepbasic search`` command (registered here as the lead will) and the tour chapter."""
import json
import os
import sys

import pytest

import deepbasic.cli as cli


@pytest.fixture(autouse=True)
def commands(monkeypatch):
    names = [n for n in ("deepbasic.commands.search",) if n not in cli.COMMAND_MODULES]
    monkeypatch.setattr(cli, "COMMAND_MODULES", list(cli.COMMAND_MODULES) + names)


def test_compare_prints_both_tables_and_writes_json_and_plot(tmp_path, capsys):
    assert cli.main(["search", "--method", "compare", "--budget", "4", "--epochs", "1",
                     "--hidden", "32", "--train-size", "400", "--backend", "serial",
                     "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "random search: 4 trials" in out and "grid search: 4 trials" in out
    assert "(grid 2 x 2 = 4 points)" in out
    assert "search wins" in out or "tie between" in out
    assert "400 training" in out
    for method in ("random", "grid"):
        data = json.load(open(tmp_path / f"search_{method}.json"))
        assert data["method"] == method and len(data["trials"]) == 4
        assert all(t["error"] is None for t in data["trials"])
    assert os.path.getsize(tmp_path / "search.png") > 5000


def test_coarse_to_fine_prints_rounds(capsys):
    assert cli.main(["search", "--method", "coarse-to-fine", "--budget", "7", "--rounds", "2",
                     "--epochs", "1", "--hidden", "16", "--train-size", "300",
                     "--backend", "serial", "--quiet", "--lr-range", "1e-3,1e-1"]) == 0
    out = capsys.readouterr().out
    assert "2 rounds of 3 trials" in out and "round 1: lr [0.001, 0.1]" in out
    assert "round 2: lr" in out and "[1/" not in out   # --quiet: no per-trial lines


def test_user_errors(capsys, monkeypatch):
    with pytest.raises(SystemExit):
        cli.main(["search", "--lr-range", "1e-1,1e-4"])
    assert "0 < LOW < HIGH" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["search", "--reg-range", "0,1e-2"])
    assert "0 < LOW < HIGH" in capsys.readouterr().err
    assert cli.main(["search", "--address", "auto"]) == 2
    assert "--address is for --backend ray" in capsys.readouterr().err
    assert cli.main(["search", "--train-size", "99999"]) == 2
    assert "larger than the 1078 training images" in capsys.readouterr().err
    assert cli.main(["search", "--method", "coarse-to-fine", "--budget", "2", "--rounds", "3"]) == 2
    assert "at least one trial per round" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)
    assert cli.main(["search", "--backend", "ray", "--budget", "1", "--epochs", "1"]) == 2
    assert "pip install 'deepbasic[tune]'" in capsys.readouterr().err


def test_quick_chapter(tmp_path):
    import importlib

    from deepbasic.report.chapters import CHAPTERS

    importlib.import_module("deepbasic.report.chapter_search")
    chapter = next(c for c in CHAPTERS if c.key == "search")
    result = chapter.run(str(tmp_path), True)
    labels = [label for label, _ in result.numbers]
    assert "random search best validation accuracy" in labels and "verdict" in labels
    for fname, _ in result.figures:
        assert os.path.getsize(tmp_path / fname) > 5000
    assert (tmp_path / "search" / "random.json").exists()
