"""Learning-rate schedules of the recipes (step, exponential), compare_schedules and its plot,
``deepbasic train --schedule``, the decay command and tour chapter."""
import json
import math
import os

import pytest

from deepbasic import nn, optim
from deepbasic.train.recipes import SCHEDULES, make_scheduler
from deepbasic.tune.schedules import (compare_schedules, format_schedule_table,
                                      plot_schedule_comparison, schedule_lrs)


def test_schedules_listed():
    assert SCHEDULES == ("constant", "step", "exponential", "cosine")


def test_step_schedule_divides_by_ten_at_half_and_three_quarters():
    lrs = schedule_lrs("step", 0.1, 8)
    assert lrs == pytest.approx([0.1] * 4 + [0.01] * 2 + [0.001] * 2, rel=1e-12)
    assert schedule_lrs("step", 1.0, 10) == pytest.approx([1] * 5 + [0.1] * 2 + [0.01] * 3)
    assert schedule_lrs("step", 1.0, 1) == [1.0]
    assert schedule_lrs("step", 1.0, 2) == pytest.approx([1.0, 0.1])  # one milestone, not two


def test_exponential_schedule_falls_100x_over_the_run():
    lrs = schedule_lrs("exponential", 0.5, 11)
    assert lrs == pytest.approx([0.5 * 0.01 ** (e / 10) for e in range(11)], rel=1e-12)
    assert lrs[-1] == pytest.approx(0.005, rel=1e-12)
    assert schedule_lrs("exponential", 0.5, 1) == [0.5]


def test_constant_and_cosine_schedules():
    assert schedule_lrs("constant", 0.3, 4) == [0.3] * 4
    assert schedule_lrs("cosine", 1.0, 6) == pytest.approx(
        [(1 + math.cos(math.pi * e / 6)) / 2 for e in range(6)], abs=1e-12)


def test_make_scheduler_errors():
    opt = optim.SGD([nn.Parameter([0.0])], lr=0.1)
    assert make_scheduler("constant", opt, 5) is None
    with pytest.raises(ValueError, match="expected one of constant, step, exponential, cosine"):
        make_scheduler("linear", opt, 5)
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        make_scheduler("step", opt, 0)
    with pytest.raises(ValueError, match="unknown schedule"):
        compare_schedules("digits", ("constant", "warmup"))
    with pytest.raises(ValueError, match="each schedule once"):
        compare_schedules("digits", ("step", "step"))


def test_compare_schedules_records_every_epoch_and_plots(tmp_path):
    results = compare_schedules("digits", epochs=4, lr=3e-3, batch_size=128,
                                model_kwargs={"hidden": [32]})
    runs = results["runs"]
    assert list(runs) == ["constant", "step", "exponential", "cosine"]
    for name, r in runs.items():
        for key in ("lr", "train_loss", "val_loss", "val_accuracy"):
            assert len(r[key]) == 4, (name, key)
        assert r["lr"] == pytest.approx(schedule_lrs(name, 3e-3, 4), rel=1e-12)
        assert r["best_val_accuracy"] == max(r["val_accuracy"])
        assert r["final_val_accuracy"] == r["val_accuracy"][-1]
        assert 0 <= r["test_accuracy"] <= 1
    # same seed and the same lr in epoch 1: every run starts identically
    assert len({r["train_loss"][0] for r in runs.values()}) == 1
    assert len({r["train_loss"][-1] for r in runs.values()}) == 4
    json.dumps(results)
    table = format_schedule_table(results)
    assert all(name in table for name in runs)
    png = plot_schedule_comparison(results, str(tmp_path / "plots" / "schedules.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 1000
    with pytest.raises(ValueError, match="at least one run"):
        plot_schedule_comparison({"runs": {}}, str(tmp_path / "x.png"))


@pytest.fixture
def cli(monkeypatch):
    import deepbasic.cli as cli

    if "deepbasic.commands.decay" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES",
                            list(cli.COMMAND_MODULES) + ["deepbasic.commands.decay"])
    return cli


def test_train_accepts_the_new_schedules(cli, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", "mlp", "--epochs", "2", "--hidden", "16", "--schedule", "step",
                     "--no-progress", "--out", str(run)]) == 0
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["lr"] for line in lines] == pytest.approx([1e-3, 1e-4])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(["train", "mlp", "--schedule", "linear"])
    assert "invalid choice" in capsys.readouterr().err


def test_decay_command(cli, tmp_path, capsys):
    assert cli.main(["decay", "--schedules", "constant,exponential", "--epochs", "2",
                     "--hidden", "16", "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "constant" in out and "exponential" in out and "final lr" in out
    r = json.loads((tmp_path / "schedules.json").read_text())
    assert list(r["runs"]) == ["constant", "exponential"]
    assert (tmp_path / "exponential" / "last.safetensors").exists()
    assert os.path.getsize(tmp_path / "schedules.png") > 1000
    for bad in ("constant,warmup", "step,step", ","):
        with pytest.raises(SystemExit):
            cli.main(["decay", "--schedules", bad])
        assert "--schedules" in capsys.readouterr().err


def test_quick_decay_chapter(tmp_path):
    import deepbasic.report.chapter_decay  # noqa: F401  (registers the chapter)
    from deepbasic.report.chapters import CHAPTERS

    chapter = next(c for c in CHAPTERS if c.key == "decay")
    result = chapter.run(str(tmp_path), True)
    assert [label for label, _ in result.numbers][1:] == list(SCHEDULES)
    for fname, _ in result.figures:
        assert os.path.getsize(tmp_path / fname) > 1000
