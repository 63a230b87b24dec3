"""Ensembles: exact probability averaging, report bookkeeping, members and snapshots loaded back
from checkpoints, the Trainer's snapshot_every option, the ensemble command and tour chapter."""
import json
import math
import os

import numpy as np
import pytest

import deepbasic as db
from deepbasic import nn, optim
from deepbasic.data.loader import DataLoader
from deepbasic.train.checkpoint import load_checkpoint
from deepbasic.train.trainer import Trainer
from deepbasic.tune.ensemble import (Ensemble, ensemble_report, format_ensemble_report,
                                     load_snapshots, plot_ensemble_report, snapshot_ensemble,
                                     snapshot_paths, softmax, train_ensemble)


def _constant_model(bias):
    """A model whose logits are ``bias`` for every input (2 input features)."""
    m = nn.Linear(2, len(bias))
    m.weight.data[...] = 0.0
    m.bias.data[...] = np.asarray(bias, dtype=m.bias.data.dtype)
    return m


# ----- averaging, by hand -----------------------------------------------------------------------
def test_predict_proba_is_the_mean_of_softmax_probabilities():
    # logits [0, ln 2, 0] -> probabilities [1/4, 1/2, 1/4]; [ln 3, 0, 0] -> [3/5, 1/5, 1/5]
    a = _constant_model([0.0, math.log(2), 0.0])
    b = _constant_model([math.log(3), 0.0, 0.0])
    ens = Ensemble([a, b])
    x = np.zeros((2, 2), dtype=np.float32)
    expected = np.array([[17 / 40, 14 / 40, 9 / 40]] * 2)
    np.testing.assert_allclose(ens.member_proba(x)[0], [[0.25, 0.5, 0.25]] * 2, atol=1e-6)
    np.testing.assert_allclose(ens.member_proba(x)[1], [[0.6, 0.2, 0.2]] * 2, atol=1e-6)
    np.testing.assert_allclose(ens.predict_proba(x), expected, atol=1e-6)
    assert ens.predict(x).tolist() == [0, 0]
    assert ens.score(x, np.array([0, 1])) == 0.5
    assert len(ens) == 2 and ens.names == ["member_1", "member_2"]


def test_probabilities_not_logits_when_they_disagree():
    # a very confident member (logits 0, 6, 0) and two milder ones that prefer class 0:
    # the mean of the logits follows the confident one, the mean of the probabilities the majority
    confident = _constant_model([0.0, 6.0, 0.0])
    mild = [_constant_model([2.0, 0.0, 0.0]) for _ in range(2)]
    ens = Ensemble([confident] + mild)
    x = np.zeros((1, 2), dtype=np.float32)
    p1 = np.array([1, math.exp(6), 1]) / (math.exp(6) + 2)   # [0.0025, 0.9951, 0.0025]
    p2 = np.array([math.exp(2), 1, 1]) / (math.exp(2) + 2)   # [0.7870, 0.1065, 0.1065]
    np.testing.assert_allclose(ens.predict_proba(x)[0], (p1 + 2 * p2) / 3, atol=1e-6)
    assert ens.predict(x)[0] == 0  # class 0: 0.526 > class 1: 0.403
    assert ens.member_scores(x).mean(axis=0).argmax() == 1  # mean logits [4/3, 2, 0]
    report = ensemble_report(ens, x, np.array([0]))
    assert report["ensemble"] == 1.0 and report["logit_average"] == 0.0


def test_softmax_is_stable_and_normalized():
    p = softmax([[1000.0, 1000.0, -1000.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(p, [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-12)
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        softmax([1.0, 2.0])


def test_report_bookkeeping_and_negative_gain(tmp_path):
    a = _constant_model([0.0, math.log(2), 0.0])   # always class 1
    b = _constant_model([math.log(3), 0.0, 0.0])   # always class 0
    ens = Ensemble([a, b], names=["a", "b"])       # class 0 (17/40 > 14/40)
    x, y = np.zeros((4, 2), dtype=np.float32), np.array([0, 1, 1, 2])
    r = ensemble_report(ens, x, y)
    assert [m["name"] for m in r["members"]] == ["a", "b"]
    assert [m["accuracy"] for m in r["members"]] == [0.5, 0.25]
    assert r["best_single"] == 0.5 and r["best_member"] == "a" and r["mean_single"] == 0.375
    assert r["ensemble"] == 0.25 and r["gain"] == r["ensemble"] - r["best_single"] == -0.25
    assert r["examples"] == 4
    # negative log-likelihood of the true class: a gives it 1/4, 1/2, 1/2, 1/4
    assert r["members"][0]["nll"] == pytest.approx((math.log(4) + math.log(2)) / 2, rel=1e-6)
    assert r["ensemble_nll"] == pytest.approx(
        -np.mean(np.log([17 / 40, 14 / 40, 14 / 40, 9 / 40])), rel=1e-6)
    assert r["mean_single_nll"] == pytest.approx(np.mean([m["nll"] for m in r["members"]]))
    json.dumps(r)
    text = format_ensemble_report(r)
    assert "best single" in text and "-0.2500" in text and "a " in text
    png = plot_ensemble_report(r, str(tmp_path / "sub" / "bars.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_ensemble_errors():
    with pytest.raises(ValueError, match="at least one model"):
        Ensemble([])
    with pytest.raises(ValueError, match="one name per model"):
        Ensemble([_constant_model([0.0, 1.0])], names=["a", "b"])
    ens = Ensemble([_constant_model([0.0, 1.0]), _constant_model([0.0, 1.0, 2.0])])
    with pytest.raises(ValueError, match="scores 3 classes, but member_1 scores 2"):
        ens.predict(np.zeros((2, 2), dtype=np.float32))
    ok = Ensemble([_constant_model([0.0, 1.0])])
    with pytest.raises(ValueError, match=r"labels of shape \(3,\)"):
        ok.score(np.zeros((3, 2), dtype=np.float32), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="positive integer"):
        train_ensemble(0)
    with pytest.raises(ValueError, match="last, best"):
        train_ensemble(2, checkpoint="middle")


# ----- trained members, loaded back ----------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ens")
    ens, results = train_ensemble(2, "digits", out_dir=str(out), epochs=2, lr=3e-3,
                                  batch_size=64, snapshot_every=1)
    return out, ens, results


def test_members_are_separate_seeded_runs(trained):
    out, ens, results = trained
    assert ens.names == ["member_1", "member_2"]
    for i, r in enumerate(results, 1):
        assert r["run_dir"] == os.path.join(str(out), f"member_{i}")
        cfg = load_checkpoint(os.path.join(r["run_dir"], "last.safetensors")).extra["config"]
        assert cfg["seed"] == i - 1
    w1, w2 = (m.state_dict()["net.1.weight"] for m in ens.models)
    assert not np.array_equal(w1, w2)  # different initializations


def test_checkpoints_load_back_with_identical_predictions(trained):
    from deepbasic.data import load_dataset
    from deepbasic.train.recipes import evaluate_checkpoint

    out, ens, results = trained
    test = load_dataset("digits").test
    report = ensemble_report(ens, test.x, test.y)
    for member, r in zip(report["members"], results):
        # the member loaded from last.safetensors scores what train_classifier measured in memory
        assert member["accuracy"] == r["test_accuracy"]
        assert evaluate_checkpoint(os.path.join(r["run_dir"], "last.safetensors"))["accuracy"] \
            == r["test_accuracy"]
    again = Ensemble.from_checkpoints([os.path.join(r["run_dir"], "last.safetensors")
                                       for r in results])
    assert np.array_equal(again.predict_proba(test.x), ens.predict_proba(test.x))
    assert report["gain"] == report["ensemble"] - report["best_single"]
    assert report["best_single"] == max(m["accuracy"] for m in report["members"])


def test_snapshots_of_a_member_run(trained):
    out, ens, results = trained
    run = results[0]["run_dir"]
    assert [os.path.basename(p) for p in snapshot_paths(run)] == ["epoch_001.safetensors",
                                                                  "epoch_002.safetensors"]
    snaps = load_snapshots(run)
    assert snaps.names == ["epoch_1", "epoch_2"]
    assert load_snapshots(run, last=1).names == ["epoch_2"]
    last = ens.models[0].state_dict()  # member_1 is run's last checkpoint = the epoch-2 snapshot
    for k, v in snaps.models[1].state_dict().items():
        assert np.array_equal(v, last[k]), k
    with pytest.raises(FileNotFoundError, match="snapshot_every"):
        load_snapshots(str(out))


def test_snapshot_ensemble_ignores_stale_snapshots(trained, tmp_path):
    import shutil

    old = os.path.join(trained[2][0]["run_dir"], "epoch_002.safetensors")
    shutil.copy(old, tmp_path / "epoch_009.safetensors")  # left by an older, longer run
    ens, result = snapshot_ensemble("digits", members=3, epochs=2, snapshot_every=1,
                                    out_dir=str(tmp_path), lr=3e-3, model_kwargs={"hidden": [16]})
    assert ens.names == ["epoch_1", "epoch_2"] and result["run_dir"] == str(tmp_path)
    with pytest.raises(ValueError, match="no snapshot every 4"):
        snapshot_ensemble("digits", members=2, epochs=3, snapshot_every=4)


# ----- the Trainer's snapshot_every -----------------------------------------------------------
def _trainer(out_dir, snapshot_every):
    db.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2),
                      out_dir=out_dir, progress=False, verbose=False,
                      snapshot_every=snapshot_every)
    return trainer, DataLoader((x, y), batch_size=16, shuffle=True, seed=0), DataLoader((x, y), 64)


def test_trainer_keeps_every_kth_epoch(tmp_path):
    (tmp_path / "epoch_003.safetensors.abc123.tmp").write_bytes(b"half written")
    trainer, train, val = _trainer(tmp_path, snapshot_every=2)
    trainer.fit(train, val, epochs=5)
    kept = sorted(f for f in os.listdir(tmp_path) if f.startswith("epoch_"))
    assert kept == ["epoch_002.safetensors", "epoch_004.safetensors"]  # temp file removed
    assert load_checkpoint(tmp_path / "epoch_004.safetensors").epoch == 4
    assert load_checkpoint(tmp_path / "last.safetensors").epoch == 5
    assert Trainer.snapshot_name(12) == "epoch_012.safetensors"


def test_trainer_without_snapshots_and_bad_values(tmp_path):
    trainer, train, val = _trainer(tmp_path, snapshot_every=None)
    trainer.fit(train, val, epochs=2)
    assert not [f for f in os.listdir(tmp_path) if f.startswith("epoch_")]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="snapshot_every must be a positive integer"):
            _trainer(tmp_path, snapshot_every=bad)


# ----- the command and the chapter --------------------------------------------------------------
@pytest.fixture
def cli(monkeypatch):
    import deepbasic.cli as cli

    if "deepbasic.commands.ensemble" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES",
                            list(cli.COMMAND_MODULES) + ["deepbasic.commands.ensemble"])
    return cli


def test_ensemble_command_writes_result_and_plot(cli, tmp_path, capsys):
    assert cli.main(["ensemble", "--members", "2", "--epochs", "1", "--hidden", "32",
                     "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for word in ("member_1", "member_2", "best single", "ensemble", "gain"):
        assert word in out
    r = json.loads((tmp_path / "ensemble.json").read_text())
    assert r["gain"] == pytest.approx(r["ensemble"] - r["best_single"], abs=1e-12)
    assert len(r["members"]) == 2 and r["kind"] == "ensemble"
    assert (tmp_path / "member_2" / "last.safetensors").exists()
    assert os.path.getsize(tmp_path / "ensemble.png") > 1000


def test_ensemble_command_snapshots(cli, tmp_path, capsys):
    assert cli.main(["ensemble", "--snapshots", "--members", "2", "--epochs", "2", "--hidden", "32",
                     "--quiet", "--out", str(tmp_path)]) == 0
    assert "epoch_2" in capsys.readouterr().out
    r = json.loads((tmp_path / "ensemble.json").read_text())
    assert [m["name"] for m in r["members"]] == ["epoch_1", "epoch_2"]
    assert r["kind"] == "snapshot ensemble"
    assert sorted(os.listdir(tmp_path / "run")).count("epoch_002.safetensors") == 1


def test_ensemble_command_user_errors(cli, capsys):
    assert cli.main(["ensemble", "--snapshot-every", "2"]) == 2
    assert "--snapshot-every needs --snapshots" in capsys.readouterr().err
    assert cli.main(["ensemble", "--snapshots", "--members", "5", "--epochs", "3"]) == 2
    assert "fewer than --members 5" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["ensemble", "--members", "0"])
    assert "positive integer" in capsys.readouterr().err


def test_quick_ensemble_chapter(tmp_path):
    import deepbasic.report.chapter_ensemble  # noqa: F401  (registers the chapter)
    from deepbasic.report.chapters import CHAPTERS

    chapter = next(c for c in CHAPTERS if c.key == "ensemble")
    result = chapter.run(str(tmp_path), True)
    labels = [label for label, _ in result.numbers]
    assert "gain over the best single" in labels and "best single" in labels
    for fname, _ in result.figures:
        assert os.path.getsize(tmp_path / fname) > 1000
