"""Objectives for hyperparameter search: train an MLP and report its best validation accuracy.

    objective = MLPObjective("fashion-mnist", epochs=5, train_size=10_000)
    objective({"lr": 1e-3, "weight_decay": 1e-5})   # {"score": 0.85..., "train_accuracy": ...}

A config holds ``lr`` (required) and optionally ``weight_decay`` (L2 regularization, Adam's
coupled penalty: ``weight_decay * w`` is added to the gradient), ``hidden`` (a width or a tuple
of widths), ``dropout`` and ``batch_size``; anything else is an error. The trial trains with
:class:`~deepbasic.train.trainer.Trainer` (Adam, softmax cross-entropy, no files written) and is
deterministic for a given config and ``seed``: the global generator is seeded before the model is
built and the minibatch order is seeded by ``seed``. Each process loads a dataset once and keeps
it for later trials.

:func:`synthetic_objective` is a cheap stand-in with the same shape (an accuracy-like bump in
``log10(lr)`` that barely depends on ``weight_decay``), for trying searches and backends in
milliseconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

CONFIG_KEYS = ("lr", "weight_decay", "hidden", "dropout", "batch_size")

_CACHE: dict = {}   # "full": ((dataset, root), DatasetSplits); "subset": (key, arrays)


def trial_data(dataset: str, data_root=None, train_size: int | None = None):
    """``(x_train, y_train, x_val, y_val, classes)`` for a trial, cached in this process.

    train_size: a stratified subset of the training split (the same one for every trial and
    seed); None keeps it all. The validation split is always whole.
    """
    full = _CACHE.get("full")
    if full is None or full[0] != (dataset, data_root):
        from deepbasic.data import load_dataset

        _CACHE.clear()  # one dataset per process
        full = _CACHE["full"] = ((dataset, data_root), load_dataset(dataset, root=data_root))
    key = (dataset, data_root, train_size)
    subset = _CACHE.get("subset")
    if subset is None or subset[0] != key:
        import numpy as np

        from deepbasic.data import stratified_split

        d = full[1]
        x, y = d.train.x, d.train.y
        if train_size is not None:
            if train_size > len(y):
                raise ValueError(f"train_size {train_size} is larger than the {len(y)} training "
                                 f"images of {dataset}")
            if train_size < len(y):
                _, keep = stratified_split(y, train_size / len(y), seed=0)
                x, y = np.ascontiguousarray(x[keep]), y[keep]
        subset = _CACHE["subset"] = (key, (x, y, d.val.x, d.val.y, list(d.classes)))
    return subset[1]


def _check_config(config: dict) -> dict:
    if not isinstance(config, dict):
        raise TypeError(f"a trial config must be a dict, got {config!r}")
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"unknown config keys {unknown}: expected some of {', '.join(CONFIG_KEYS)}")
    if "lr" not in config:
        raise ValueError(f"the config needs a learning rate 'lr', got keys {sorted(config)}")
    lr, wd = float(config["lr"]), float(config.get("weight_decay", 0.0))
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {config['lr']}")
    if not wd >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {config['weight_decay']}")
    dropout = float(config.get("dropout", 0.0))
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {config['dropout']}")
    return {"lr": lr, "weight_decay": wd, "dropout": dropout}


def train_mlp(config: dict, dataset: str = "digits", *, epochs: int = 10,
              train_size: int | None = None, hidden=(256, 128), batch_size: int = 64,
              seed: int = 0, data_root: str | None = None) -> dict:
    """Train an MLP with Adam for ``epochs`` with the config's hyperparameters.

    Returns ``{"score": best validation accuracy, "best_epoch", "train_accuracy" (the final
    model, on the training images used), "train_loss" (last epoch), "train_seconds" (the epochs'
    training time, without data loading and evaluation)}``. Keys in ``config`` override
    ``hidden`` and ``batch_size``.
    """
    from deepbasic import backend, nn, optim
    from deepbasic.data import DataLoader
    from deepbasic.models import build_model
    from deepbasic.train.loop import evaluate
    from deepbasic.train.trainer import Trainer

    c = _check_config(config)
    hidden = config.get("hidden", hidden)
    hidden = (int(hidden),) if isinstance(hidden, (int, float)) else tuple(int(h) for h in hidden)
    batch_size = int(config.get("batch_size", batch_size))
    x, y, xv, yv, classes = trial_data(dataset, data_root, train_size)
    backend.manual_seed(seed)
    model = build_model("mlp", input_shape=x.shape[1:], num_classes=len(classes), hidden=hidden,
                        dropout=c["dropout"])
    optimizer = optim.Adam(model.parameters(), lr=c["lr"], weight_decay=c["weight_decay"])
    trainer = Trainer(model, nn.CrossEntropyLoss(), optimizer, monitor="val_accuracy", mode="max",
                      progress=False, verbose=False)
    history = trainer.fit(DataLoader((x, y), batch_size=batch_size, shuffle=True, seed=seed),
                          DataLoader((xv, yv), batch_size=1024), epochs=epochs)
    best_epoch = max(history, key=lambda r: r["val_accuracy"])["epoch"]
    return {"score": trainer.best, "best_epoch": best_epoch,
            "train_accuracy": evaluate(model, x, y), "train_loss": history[-1]["train_loss"],
            "train_seconds": sum(r["train_time"] for r in history)}


@dataclass(frozen=True)
class MLPObjective:
    """``objective(config)``: :func:`train_mlp` with fixed data, epochs, architecture and seed.

    A top-level class, so instances pickle for the process and Ray backends.
    """

    dataset: str = "digits"
    epochs: int = 10
    train_size: int | None = None
    hidden: tuple = (256, 128)
    batch_size: int = 64
    seed: int = 0
    data_root: str | None = None

    def __call__(self, config: dict) -> dict:
        return train_mlp(config, self.dataset, epochs=self.epochs, train_size=self.train_size,
                         hidden=self.hidden, batch_size=self.batch_size, seed=self.seed,
                         data_root=self.data_root)


def synthetic_objective(config: dict) -> dict:
    """An accuracy-like score in (0.5, 0.95]: a Gaussian bump in log10(lr) peaking at lr = 3e-3
    (width 0.6 decades), minus 0.1 per decade that weight_decay exceeds 1e-3. Raises for lr <= 0
    (a failing trial)."""
    lr = float(config["lr"])
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    wd = float(config.get("weight_decay", 0.0))
    score = 0.5 + 0.45 * math.exp(-(math.log10(lr) - math.log10(3e-3)) ** 2 / (2 * 0.6 ** 2))
    score -= 0.1 * max(0.0, math.log10(max(wd, 1e-12)) + 3.0)
    return {"score": score, "train_accuracy": min(1.0, score + 0.02)}
