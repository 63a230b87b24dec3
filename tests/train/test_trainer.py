"""Trainer: exact resume, NaN handling, checkpoints that survive crashes, metrics and plots."""
import json
import os

import numpy as np
import pytest

import deepbasic as db
from deepbasic import nn, optim
from deepbasic.data.loader import DataLoader
from deepbasic.train.checkpoint import load_checkpoint, save_checkpoint
from deepbasic.train.trainer import NonFiniteLossError, Trainer


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return x, y


def _setup(out_dir, seed=0, lr=1e-2, scheduler=True, patience=None):
    db.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(16, 3))
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5) if scheduler else None
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, sched, out_dir=out_dir, progress=False,
                      verbose=False, patience=patience)
    train = DataLoader(_data(), batch_size=16, shuffle=True, seed=seed)
    val = DataLoader(_data(32, seed=1), batch_size=32)
    return trainer, train, val


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    full, train, val = _setup(tmp_path / "full")
    full.fit(train, val, epochs=5)

    part, train, val = _setup(tmp_path / "split")
    part.fit(train, val, epochs=2)
    db.manual_seed(12345)  # a different process state: resume must restore everything
    resumed, train, val = _setup(tmp_path / "split", seed=0)
    resumed.fit(train, val, epochs=5, resume=True)

    a, b = full.model.state_dict(), resumed.model.state_dict()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert [r["train_loss"] for r in full.history] == [r["train_loss"] for r in resumed.history]
    lines = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4, 5]


def test_run_directory_contents(tmp_path):
    trainer, train, val = _setup(tmp_path)
    history = trainer.fit(train, val, epochs=3)
    assert len(history) == 3 and {"train_loss", "val_loss", "val_accuracy", "lr"} <= set(history[0])
    for name in ("last.safetensors", "best.safetensors", "metrics.jsonl", "curves.png"):
        assert (tmp_path / name).exists(), name
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_checkpoint(tmp_path / "last.safetensors").epoch == 3
    assert [r["lr"] for r in history] == [1e-2, 1e-2, 5e-3]


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path):
    trainer, train, val = _setup(tmp_path)
    trainer.fit(train, val, epochs=1)
    good = (tmp_path / "last.safetensors").read_bytes()
    x, y = _data()
    x[5, 0] = np.nan
    bad = DataLoader((x, y), batch_size=16, shuffle=True, seed=0)
    with pytest.raises(NonFiniteLossError, match="nan"):
        trainer.fit(bad, val, epochs=3, resume=True)
    assert (tmp_path / "last.safetensors").read_bytes() == good
    assert load_checkpoint(tmp_path / "last.safetensors").epoch == 1


def test_crash_while_writing_a_checkpoint_leaves_the_previous_one(tmp_path, monkeypatch):
    trainer, train, val = _setup(tmp_path)
    trainer.fit(train, val, epochs=1)
    path = tmp_path / "last.safetensors"
    before = path.read_bytes()
    import deepbasic.serialization as ser

    real_write = ser.struct.pack

    def exploding_pack(*args):  # dies after the temp file is open, before it is complete
        raise KeyboardInterrupt

    monkeypatch.setattr(ser.struct, "pack", exploding_pack)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, trainer.model, trainer.optimizer, trainer.scheduler, epoch=9)
    monkeypatch.setattr(ser.struct, "pack", real_write)
    assert path.read_bytes() == before
    assert load_checkpoint(path).epoch == 1
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["best.safetensors", "curves.png", "last.safetensors", "metrics.jsonl"])


def test_early_stopping(tmp_path):
    trainer, train, val = _setup(tmp_path, lr=0.0, scheduler=False, patience=2)
    history = trainer.fit(train, val, epochs=10)
    assert len(history) == 3  # epoch 1 sets the best; 2 and 3 do not improve


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    trainer, train, val = _setup(tmp_path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        trainer.fit(train, val, epochs=2, resume=True)


def test_bad_trainer_arguments():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="mode"):
        Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), mode="up")


def test_plateau_scheduler_gets_the_monitored_value(tmp_path):
    db.manual_seed(0)
    model = nn.Linear(6, 3)
    opt = optim.SGD(model.parameters(), lr=1e-6)  # too small to improve the validation loss
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, sched, progress=False, verbose=False)
    trainer.fit(DataLoader(_data(), batch_size=32), DataLoader(_data(32, 1), batch_size=32), epochs=3)
    # epoch 1 sets the best validation loss; epochs 2 and 3 don't improve and each halves lr
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-6 / 4)


def test_device_cpu_and_the_batch_helpers():
    from deepbasic.train.loop import model_device, to_device

    trainer, train, val = _setup(None)
    assert model_device(trainer.model) == "cpu" and model_device(nn.ReLU()) == "cpu"
    x, y = db.tensor([1.0]), db.tensor([1])
    assert to_device(x, "cpu") is x
    assert to_device((x, y, 3), "cpu") == (x, y, 3) and to_device([x], "cpu")[0] is x
    model = nn.Linear(6, 3)
    t = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                progress=False, verbose=False, device="cpu")
    history = t.fit(DataLoader(_data(), batch_size=32), epochs=1)
    assert len(history) == 1 and model.weight.device == "cpu"
