"""Complete training runs used by the command line and the tour: data, model, Trainer, report.

``train_classifier`` trains a registered model on a dataset into a run directory (checkpoints,
metrics.jsonl, curves.png, confusion.png, result.json); ``load_model`` rebuilds the model from a
checkpoint's saved configuration and ``evaluate_checkpoint`` measures it on the test split.
``make_scheduler`` builds the learning-rate schedules named in ``SCHEDULES``.
"""
from __future__ import annotations

import json
import numbers
import os
import time

from deepbasic import backend
from deepbasic.serialization import atomic_write
from deepbasic.train.checkpoint import load_checkpoint
from deepbasic.train.metrics import confusion_matrix, format_confusion, per_class_accuracy


SCHEDULES = ("constant", "step", "exponential", "cosine")

#: lr factor of the "step" and "exponential" schedules at the end of a run (a 100x decay)
FINAL_LR_FACTOR = 0.01


def make_scheduler(schedule: str, optimizer, epochs: int):
    """The lr scheduler of a named schedule over ``epochs`` epochs (stepped once per epoch).

    ``"constant"``: None (the lr never changes).
    ``"step"``: :class:`~deepbasic.optim.lr_scheduler.MultiStepLR`, the lr times 0.1 after half
    and after three quarters of the epochs (epochs 1..E/2 at lr, then lr/10, the last quarter at
    lr/100; milestones ``E // 2`` and ``3E // 4``, at least 1, duplicates dropped).
    ``"exponential"``: :class:`~deepbasic.optim.lr_scheduler.ExponentialLR` with
    ``gamma = 0.01 ** (1 / (E - 1))``, so the lr falls smoothly by 100x from the first epoch to
    the last (``gamma = 1`` for a single epoch).
    ``"cosine"``: :class:`~deepbasic.optim.lr_scheduler.CosineAnnealingLR` with ``T_max = E``
    (half a cosine from lr towards 0, reached just after the last epoch).
    """
    from deepbasic.optim import lr_scheduler

    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: expected one of {', '.join(SCHEDULES)}")
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ValueError(f"make_scheduler: epochs must be a positive integer, got {epochs!r}")
    epochs = int(epochs)
    if schedule == "step":
        milestones = sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)})
        return lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    if schedule == "exponential":
        gamma = FINAL_LR_FACTOR ** (1.0 / (epochs - 1)) if epochs > 1 else 1.0
        return lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    if schedule == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    return None


def augmentation(input_shape, dataset: str | None = None):
    """The standard augmentation for images of ``input_shape`` (C, H, W): a random crop of the
    original size from the image padded by 1/8 of its side, rounded (4 pixels at 28x28 and
    32x32), and a random horizontal flip, except for digit datasets, whose mirror images are
    other symbols."""
    from deepbasic.data.transforms import Compose, RandomCrop, RandomHorizontalFlip

    if len(input_shape) != 3:
        raise ValueError(f"augmentation needs images (C, H, W), got inputs of shape "
                         f"{tuple(input_shape)}")
    _, h, w = input_shape
    steps = [RandomCrop((h, w), padding=max(1, round(max(h, w) / 8)))]
    if dataset not in ("digits", "mnist"):
        steps.append(RandomHorizontalFlip())
    return Compose(steps)


def _loaders(data, batch_size: int, seed: int, transform=None):
    from deepbasic.data import DataLoader

    train = DataLoader(data.train, batch_size=batch_size, shuffle=True, seed=seed,
                       transform=transform)
    val = DataLoader(data.val, batch_size=1024)
    test = DataLoader(data.test, batch_size=1024)
    return train, val, test


def test_report(trainer, loader, classes, out_dir: str | None) -> dict:
    """Accuracy, per-class accuracy and confusion matrix (printed text and PNG) on ``loader``."""
    from deepbasic.train.loop import predict

    scores = predict(trainer.model, loader.x)
    pred = scores.argmax(axis=1)
    matrix = confusion_matrix(loader.y, pred, len(classes))
    result = {
        "accuracy": float((pred == loader.y).mean()),
        "per_class_accuracy": dict(zip(map(str, classes), per_class_accuracy(matrix).tolist())),
        "confusion_matrix": matrix.tolist(),
        "confusion_text": format_confusion(matrix, classes),
    }
    if out_dir:
        from deepbasic.train.plots import plot_confusion_matrix

        result["confusion_png"] = plot_confusion_matrix(
            matrix, classes, os.path.join(out_dir, "confusion.png"),
            title=f"test confusion matrix (accuracy {result['accuracy']:.3f})")
    return result


def train_classifier(model_name: str = "mlp", dataset: str = "digits", *, epochs: int = 30,
                     lr: float = 1e-3, batch_size: int = 64, weight_decay: float = 0.0,
                     seed: int = 0, out_dir: str | None = None, resume: bool = False,
                     model_kwargs: dict | None = None, progress: bool = True,
                     patience: int | None = None, data_root: str | None = None,
                     schedule: str = "constant", verbose: bool = True,
                     snapshot_every: int | None = None, augment: bool = False,
                     device: str = "cpu") -> dict:
    """Train ``model_name`` on ``dataset`` with Adam and report test accuracy.

    schedule: the learning rate over epochs, one of ``SCHEDULES`` (see :func:`make_scheduler`):
    ``"constant"``, ``"step"`` (/10 at 1/2 and 3/4 of the run), ``"exponential"`` (100x decay
    over the run) or ``"cosine"`` (annealed to 0). snapshot_every: also keep
    ``out_dir/epoch_<NNN>.safetensors`` every that many epochs (see :class:`Trainer`).
    augment: random crops and flips of the training images (see :func:`augmentation`).
    device: ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy on a GPU): where the model trains; the data
    stays in host memory and each batch is copied over. The checkpoints are the same either way.

    Returns a dict with the test accuracy, training time, throughput, history and file paths;
    also written to ``out_dir/result.json``.
    """
    from deepbasic import nn, optim
    from deepbasic.data import load_dataset
    from deepbasic.models import build_model
    from deepbasic.train.trainer import Trainer

    backend.manual_seed(seed)
    data = load_dataset(dataset, root=data_root)
    model_kwargs = dict(model_kwargs or {})
    config = {"model": model_name, "model_kwargs": model_kwargs, "dataset": dataset,
              "input_shape": list(data.train.x.shape[1:]), "classes": list(map(str, data.classes)),
              "seed": seed, "lr": lr, "batch_size": batch_size, "weight_decay": weight_decay,
              "schedule": schedule, "augment": bool(augment)}
    model = build_model(model_name, input_shape=data.train.x.shape[1:],
                        num_classes=len(data.classes), **model_kwargs).to(device)
    optimizer = optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: expected one of {', '.join(SCHEDULES)}")
    scheduler = make_scheduler(schedule, optimizer, epochs)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optimizer, scheduler, out_dir=out_dir, config=config,
                      monitor="val_accuracy", mode="max", patience=patience, progress=progress,
                      verbose=verbose, snapshot_every=snapshot_every)
    transform = augmentation(data.train.x.shape[1:], dataset) if augment else None
    train, val, test = _loaders(data, batch_size, seed, transform)
    start = time.perf_counter()
    history = trainer.fit(train, val, epochs=epochs, resume=resume)
    elapsed = time.perf_counter() - start
    report = test_report(trainer, test, data.classes, out_dir)
    train_time = sum(r["train_time"] for r in history)
    examples = sum(r["examples"] for r in history)
    result = {
        "model": model_name, "dataset": dataset, "device": device, "epochs": len(history),
        "parameters": model.num_parameters(),
        "test_accuracy": report["accuracy"], "test_examples": int(len(test.y)),
        "per_class_accuracy": report["per_class_accuracy"],
        "best_val_accuracy": trainer.best, "wall_time_s": elapsed,
        "train_time_s": train_time, "train_examples_per_s": examples / train_time if train_time else None,
        "confusion_text": report["confusion_text"], "history": history,
    }
    if out_dir:
        with atomic_write(os.path.join(out_dir, "result.json"), "w") as f:
            json.dump({k: v for k, v in result.items() if k != "confusion_text"}, f, indent=1)
    return result


def load_model(path: str):
    """Rebuild the model saved in a checkpoint written by :func:`train_classifier`.

    Returns ``(model, checkpoint)``: the model (built from the checkpoint's saved configuration,
    weights loaded, in evaluation mode) and the :class:`~deepbasic.train.checkpoint.Checkpoint`
    (``checkpoint.extra["config"]`` says how it was trained).
    """
    from deepbasic.models import build_model

    ckpt = load_checkpoint(path)
    config = ckpt.extra.get("config") or {}
    if "model" not in config:
        raise ValueError(f"{path}: the checkpoint does not say which model it holds")
    model = build_model(config["model"], input_shape=tuple(config["input_shape"]),
                        num_classes=len(config["classes"]), **config.get("model_kwargs", {}))
    model.load_state_dict(ckpt.model)
    model.eval()
    return model, ckpt


def evaluate_checkpoint(path: str, dataset: str | None = None, data_root: str | None = None,
                        out_dir: str | None = None) -> dict:
    """Rebuild the model saved in a checkpoint and measure it on the test split."""
    from deepbasic import nn
    from deepbasic.data import DataLoader, load_dataset
    from deepbasic.train.trainer import Trainer

    model, ckpt = load_model(path)
    config = ckpt.extra["config"]
    dataset = dataset or config["dataset"]
    data = load_dataset(dataset, root=data_root)
    if list(data.train.x.shape[1:]) != list(config["input_shape"]):
        raise ValueError(
            f"{path}: the model was trained on inputs {tuple(config['input_shape'])}, but "
            f"{dataset} has {tuple(data.train.x.shape[1:])}"
        )
    trainer = Trainer(model, nn.CrossEntropyLoss(), optimizer=None, progress=False, verbose=False)
    report = test_report(trainer, DataLoader(data.test, batch_size=1024), data.classes,
                         out_dir or os.path.dirname(os.path.abspath(path)))
    report["epoch"] = ckpt.epoch
    report["dataset"] = dataset
    report["test_examples"] = int(len(data.test.y))
    return report
