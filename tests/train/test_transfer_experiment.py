"""The transfer-learning experiment (pretrain on some classes, fine-tune on others from few
labels, against scratch), its class-subset helpers, the ``deepbasic transfer`` command and the
tour chapter, on the 8x8 digits with tiny budgets."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import deepbasic.cli as cli
from deepbasic.data import DatasetSplits, Split, load_dataset
from deepbasic.train.checkpoint import load_checkpoint
from deepbasic.train.recipes import load_model
from deepbasic.train.transfer import (class_split, class_subset, format_transfer_table,
                                      parse_classes, pick_per_class, transfer_experiment)

FAST = dict(per_class=12, pretrain_epochs=3, finetune_epochs=6, batch_size=32, lr=1e-2,
            pretrain_batch_size=64, pretrain_lr=1e-2, model_kwargs={"channels": [8, 16]},
            val_per_class=10)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def run(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("transfer")
    return transfer_experiment(digits, "0-4", "5-9", seed=3, out_dir=str(out), **FAST), out


# ----- class specs and subsets -------------------------------------------------------------------
@pytest.mark.parametrize("spec, expected", [
    ("0-4", (0, 1, 2, 3, 4)), ("5,7,9", (5, 7, 9)), ("0-2, 8", (0, 1, 2, 8)), ("3", (3,)),
    ("9,1", (9, 1)), (range(5, 10), (5, 6, 7, 8, 9)), ([2, np.int64(4)], (2, 4)),
])
def test_parse_classes(spec, expected):
    assert parse_classes(spec, 10) == expected


@pytest.mark.parametrize("spec, message", [
    ("", "expected labels and ranges"), ("a-b", "got part 'a-b'"), ("4-2", "runs backwards"),
    ("3,3", "class 3 is listed twice"), ("0-10", "class 10 is out of range"),
    ([1.5], "integers"), ([True], "integers"), ([], "no classes"), (5, "a sequence"),
])
def test_parse_classes_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_classes(spec, 10)


def test_pick_per_class_is_stratified_sorted_and_seeded():
    y = np.repeat(np.arange(4), 30)[np.random.default_rng(0).permutation(120)]
    idx = pick_per_class(y, (1, 3), 7, seed=5)
    assert len(idx) == 14 and np.all(np.diff(idx) > 0)
    assert sorted(np.bincount(y[idx], minlength=4).tolist()) == [0, 0, 7, 7]
    np.testing.assert_array_equal(idx, pick_per_class(y, (1, 3), 7, seed=5))
    assert not np.array_equal(idx, pick_per_class(y, (1, 3), 7, seed=6))
    assert len(pick_per_class(y, (0,), None)) == 30
    with pytest.raises(ValueError, match="class 2 has only 30 training examples"):
        pick_per_class(y, (2,), 31)
    with pytest.raises(ValueError, match="positive integer"):
        pick_per_class(y, (2,), 0)


def test_class_subset_relabels_in_the_order_given():
    x = np.arange(6, dtype=np.float32).reshape(6, 1, 1, 1)
    split = Split(x, np.array([3, 7, 1, 7, 3, 2]))
    sub = class_subset(split, (7, 3))
    np.testing.assert_array_equal(sub.x.ravel(), [0, 1, 3, 4])
    np.testing.assert_array_equal(sub.y, [1, 0, 0, 1])
    with pytest.raises(ValueError, match="index 2 holds class 1"):
        class_subset(split, (7, 3), indices=[1, 2])


def test_class_split(digits):
    sub = class_split(digits, "5-9", per_class=20, seed=0, val_per_class=4)
    assert sub.classes == ["5", "6", "7", "8", "9"] and sub.name == "digits[5,6,7,8,9]"
    assert np.bincount(sub.train.y).tolist() == [20] * 5
    assert np.bincount(sub.val.y).tolist() == [4] * 5
    assert len(sub.test) == int(np.isin(digits.test.y, range(5, 10)).sum())
    # the images are the right ones: label k of the subset is digit k + 5
    for split, full in ((sub.test, digits.test),):
        np.testing.assert_array_equal(split.x, full.x[full.y >= 5])
        np.testing.assert_array_equal(split.y + 5, full.y[full.y >= 5])


# ----- the experiment ---------------------------------------------------------------------------
def test_transfer_and_scratch_use_the_same_labelled_images(run, digits):
    r, _ = run
    idx = np.array(r["target_train_indices"])
    assert len(idx) == 5 * FAST["per_class"] == r["train_examples"]
    assert np.bincount(digits.train.y[idx], minlength=10).tolist() == [0] * 5 + [12] * 5
    np.testing.assert_array_equal(idx, pick_per_class(digits.train.y, range(5, 10), 12, seed=3))
    for name in ("transfer", "scratch"):
        assert [row["examples"] for row in r[name]["curve"]] == [60] * FAST["finetune_epochs"]
        assert r[name]["epochs"] == FAST["finetune_epochs"]
    assert r["test_examples"] == int((digits.test.y >= 5).sum())


def test_transfer_keeps_the_pretrained_body_and_trains_only_the_head(run):
    r, out = run
    pre = load_checkpoint(out / "pretrain" / "last.safetensors").model
    tuned = load_checkpoint(out / "transfer" / "last.safetensors").model
    head = r["transfer"]["head"]
    assert head == "classifier.2" and r["transfer"]["body_unchanged"] is True
    body = [k for k in pre if not k.startswith(head + ".")]
    assert any("running_mean" in k for k in body)
    for k in body:  # weights and batch-norm statistics, bit for bit
        assert tuned[k].tobytes() == pre[k].tobytes(), k
    assert tuned[head + ".weight"].shape == pre[head + ".weight"].shape == (5, 16 * 2 * 2)
    assert not np.array_equal(tuned[head + ".weight"], pre[head + ".weight"])
    p = r["transfer"]["parameters"]
    assert p["trainable"] == 5 * 64 + 5 and p["total"] == r["scratch"]["parameters"]["total"]
    assert r["scratch"]["parameters"]["trainable"] == p["total"]


def test_transfer_learns_the_target_classes(run):
    r, _ = run
    assert r["pretrain"]["source_test_accuracy"] > 0.8
    assert r["transfer"]["test_accuracy"] > 0.5  # chance: 0.2
    assert r["scratch"]["test_accuracy"] > 0.2
    assert r["gain"] == pytest.approx(r["transfer"]["test_accuracy"]
                                      - r["scratch"]["test_accuracy"])
    assert r["warnings"] == []
    table = format_transfer_table(r)
    assert "from scratch" in table and "transfer (head)" in table and "gain" in table


def test_outputs_on_disk(run):
    r, out = run
    saved = json.loads((out / "transfer.json").read_text())
    assert saved["transfer"]["test_accuracy"] == r["transfer"]["test_accuracy"]
    assert os.path.getsize(out / "transfer.png") > 5000
    # the fine-tuned network is a checkpoint that load_model rebuilds, with 5 outputs
    model, ckpt = load_model(str(out / "transfer" / "last.safetensors"))
    assert ckpt.extra["config"]["classes"] == ["5", "6", "7", "8", "9"]
    assert model(np.zeros((2, 1, 8, 8), np.float32)).shape == (2, 5)


def test_from_checkpoint_is_reproducible(run, digits):
    """Transfer from the saved pretrained network gives exactly the numbers of the first run."""
    r, out = run
    again = transfer_experiment(digits, target_classes="5-9", seed=3,
                                checkpoint=str(out / "pretrain" / "last.safetensors"),
                                **dict(FAST, model_kwargs=None, pretrain_epochs=None))
    assert again["source_classes"] == [0, 1, 2, 3, 4] and again["pretrain"]["epochs"] is None
    assert again["pretrain"]["source_test_accuracy"] == r["pretrain"]["source_test_accuracy"]
    for name in ("transfer", "scratch"):
        assert again[name]["test_accuracy"] == r[name]["test_accuracy"]
        assert again[name]["curve"][-1]["train_loss"] == r[name]["curve"][-1]["train_loss"]


def test_finetune_all_unfreezes_after_the_head(digits):
    fast = dict(FAST, pretrain_epochs=2, finetune_epochs=3)
    r = transfer_experiment(digits, "0-4", "5-9", finetune="all", **fast)
    t = r["transfer"]
    assert t["epochs"] == r["scratch"]["epochs"] == 6 and len(t["curve"]) == 6
    assert [row["stage"] for row in t["curve"]] == ["head"] * 3 + ["all"] * 3
    assert t["curve"][3]["lr"] == pytest.approx(r["lr"] * 0.1)
    assert t["body_unchanged"] is None and 0 <= t["head_test_accuracy"] <= 1
    assert "(head stage only)" in format_transfer_table(r)


def test_experiment_errors(digits, run, tmp_path):
    with pytest.raises(ValueError, match="source and target classes overlap: 4"):
        transfer_experiment(digits, "0-4", "4-6", **FAST)
    with pytest.raises(ValueError, match="out of range"):
        transfer_experiment(digits, "0-4", "5-12", **FAST)
    with pytest.raises(ValueError, match="at least 2 classes"):
        transfer_experiment(digits, "0-4", "7", **FAST)
    with pytest.raises(ValueError, match="at least 2 source classes"):
        transfer_experiment(digits, "0", "5-9", **FAST)
    with pytest.raises(ValueError, match="class 5 has only"):
        transfer_experiment(digits, "0-4", "5-9", **dict(FAST, per_class=1000))
    with pytest.raises(ValueError, match="finetune must be one of"):
        transfer_experiment(digits, finetune="some", **FAST)
    _, out = run
    ckpt = str(out / "pretrain" / "last.safetensors")
    with pytest.raises(ValueError, match=r"trained on classes \[0, 1, 2, 3, 4\]"):
        transfer_experiment(digits, "0-3", "5-9", checkpoint=ckpt, **FAST)
    with pytest.raises(ValueError, match="source and target classes overlap: 4"):
        transfer_experiment(digits, target_classes="4-6", checkpoint=ckpt)
    with pytest.raises(ValueError, match="holds a convnet, not a mlp"):
        transfer_experiment(digits, target_classes="5-9", checkpoint=ckpt, model="mlp")
    with pytest.raises(ValueError, match="leave the model's settings out"):
        transfer_experiment(digits, target_classes="5-9", checkpoint=ckpt,
                            model_kwargs={"channels": [4, 8]})
    with pytest.raises(FileNotFoundError):
        transfer_experiment(digits, checkpoint=str(tmp_path / "none.safetensors"))
    rng = np.random.default_rng(0)
    split = Split(rng.random((40, 1, 12, 12), dtype=np.float32), np.arange(40) % 10)
    other = DatasetSplits(split, split, split, [str(i) for i in range(10)], "other")
    with pytest.raises(ValueError, match=r"trained on inputs \(1, 8, 8\), but other has "
                                         r"\(1, 12, 12\)"):
        transfer_experiment(other, checkpoint=ckpt)


def test_a_checkpoint_of_all_classes_warns(digits, tmp_path):
    from deepbasic.train.recipes import train_classifier

    train_classifier("convnet", "digits", epochs=1, out_dir=str(tmp_path), progress=False,
                     verbose=False, model_kwargs={"channels": [4, 8]})
    r = transfer_experiment(digits, checkpoint=str(tmp_path / "last.safetensors"), per_class=5,
                            finetune_epochs=1, val_per_class=2)
    assert r["target_classes"] == [5, 6, 7, 8, 9] and r["source_classes"] is None
    assert r["pretrain"]["source_test_accuracy"] is not None
    assert "already seen target classes 5, 6, 7, 8, 9" in r["warnings"][0]


# ----- the command and the chapter --------------------------------------------------------------
@pytest.fixture
def command(monkeypatch):
    if "deepbasic.commands.transfer" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES",
                            list(cli.COMMAND_MODULES) + ["deepbasic.commands.transfer"])


def test_transfer_command(command, tmp_path, capsys):
    args = ["transfer", "--dataset", "digits", "--source", "0-4", "--target", "5-9",
            "--per-class", "10", "--pretrain-epochs", "2", "--epochs", "3", "--quiet",
            "--out", str(tmp_path)]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "from scratch" in out and "transfer (head)" in out
    assert "gain of transfer over scratch" in out and "pretrained network" in out
    assert not any(line.startswith("epoch ") for line in out.splitlines())  # --quiet
    r = json.loads((tmp_path / "transfer.json").read_text())
    assert r["per_class"] == 10 and r["train_examples"] == 50
    assert os.path.getsize(tmp_path / "transfer.png") > 5000
    ckpt = str(tmp_path / "pretrain" / "last.safetensors")
    assert cli.main(["transfer", "--dataset", "digits", "--checkpoint", ckpt, "--per-class", "5",
                     "--epochs", "1", "--finetune", "all", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "transfer (all)" in out and "(head stage only)" in out


def test_transfer_command_user_errors(command, tmp_path, capsys):
    base = ["transfer", "--dataset", "digits", "--quiet"]
    assert cli.main(base + ["--source", "0-4", "--target", "4-6"]) == 2
    assert "overlap: 4" in capsys.readouterr().err
    assert cli.main(base + ["--target", "5-12"]) == 2
    assert "class 10 is out of range" in capsys.readouterr().err
    assert cli.main(base + ["--checkpoint", str(tmp_path / "none.safetensors")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "x.safetensors").write_bytes(b"")
    assert cli.main(base + ["--checkpoint", str(tmp_path / "x.safetensors"),
                            "--pretrain-epochs", "2"]) == 2
    assert "--pretrain-epochs does not apply" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(base + ["--source", "zero"])
    assert "expected class labels and ranges" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(base + ["--finetune", "body"])


def test_quick_chapter(tmp_path):
    import importlib

    from deepbasic.report import chapter_transfer, chapters

    saved = list(chapters.CHAPTERS)  # leave the tour's chapter list as the lead wired it
    try:
        importlib.reload(chapter_transfer)
        chapter = next(c for c in chapters.CHAPTERS if c.key == "transfer")
    finally:
        chapters.CHAPTERS[:] = saved
    assert "deepbasic transfer" in chapter.command
    result = chapter.run(str(tmp_path), True)
    assert result.numbers and result.figures
    labels = [label for label, _ in result.numbers]
    assert any(label.startswith("from scratch") for label in labels)
    for fname, _ in result.figures:
        assert os.path.getsize(tmp_path / fname) > 5000
