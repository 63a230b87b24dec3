"""``Trainer``: the epoch loop with validation, progress, metrics, checkpoints and early stopping.

    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), out_dir="runs/a")
    history = trainer.fit(train_loader, val_loader, epochs=10)

Each epoch trains over ``train_loader`` (a :class:`~deepbasic.data.DataLoader`), evaluates on
``val_loader``, steps the scheduler, appends one JSON line to ``out_dir/metrics.jsonl``, redraws
``out_dir/curves.png``, and writes ``out_dir/last.safetensors`` (and ``best.safetensors`` when the
monitored metric improves) atomically; with ``snapshot_every=k`` it also keeps
``out_dir/epoch_<NNN>.safetensors`` after every k-th epoch (for snapshot ensembles).
``fit(..., resume=True)`` continues from ``last`` and ends with weights bit-identical to a run
that never stopped. A NaN or infinite loss stops training with :class:`NonFiniteLossError`; the
checkpoints on disk are the last good ones.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np

from deepbasic.ops.im2col import restore_blas_threads
from deepbasic.optim.clip import clip_grad_norm_
from deepbasic.optim.lr_scheduler import ReduceLROnPlateau
from deepbasic.serialization import atomic_write
from deepbasic.tensor import no_grad
from deepbasic.train.checkpoint import load_checkpoint, restore, save_checkpoint
from deepbasic.train.loop import accuracy, model_device, to_device


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


def _progress(iterable, total, desc, enabled):
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the cli extra
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True)


class Trainer:
    """Train ``model`` with ``loss_fn`` and ``optimizer`` (and an optional lr ``scheduler``).

    out_dir: the run directory (None: keep nothing on disk). metrics: ``{name: fn(scores, y)}``
    on arrays, computed on validation data (default accuracy). monitor / mode: the validation
    value that decides the best checkpoint and early stopping (``"val_loss"``/``"min"`` by
    default). patience: stop after that many epochs without improvement (None: never).
    progress: show a progress bar. config: JSON-able description saved in every checkpoint
    (e.g. how to rebuild the model). clip_grad_norm: clip the gradient norm before each step.
    snapshot_every: also keep the checkpoint of every that many epochs as
    ``epoch_<NNN>.safetensors`` (epochs k, 2k, ...; None: only ``last`` and ``best``).
    device: ``"cpu"`` or ``"cuda"`` (CuPy): move the model there first (None: leave it where it
    is). Every batch goes to the model's device, so host-array loaders serve a GPU model too;
    checkpoints hold host arrays and resume on either device.
    """

    def __init__(self, model, loss_fn, optimizer, scheduler=None, *, out_dir=None, metrics=None,
                 monitor: str = "val_loss", mode: str = "min", patience: int | None = None,
                 progress: bool = True, config: dict | None = None,
                 clip_grad_norm: float | None = None, verbose: bool = True,
                 snapshot_every: int | None = None, device: str | None = None):
        if mode not in ("min", "max"):
            raise ValueError(f"Trainer: mode must be 'min' or 'max', got {mode!r}")
        if patience is not None and patience < 1:
            raise ValueError(f"Trainer: patience must be >= 1, got {patience}")
        if snapshot_every is not None and (isinstance(snapshot_every, bool)
                                           or not isinstance(snapshot_every, (int, np.integer))
                                           or snapshot_every < 1):
            raise ValueError(f"Trainer: snapshot_every must be a positive integer or None, "
                             f"got {snapshot_every!r}")
        if device is not None:
            model.to(device)  # in place: the optimizer's parameters move with it
        self.model, self.loss_fn, self.optimizer, self.scheduler = model, loss_fn, optimizer, scheduler
        self.out_dir = os.fspath(out_dir) if out_dir is not None else None
        self.metrics = {"accuracy": accuracy} if metrics is None else dict(metrics)
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.progress, self.config, self.verbose = progress, config or {}, verbose
        self.clip_grad_norm, self.snapshot_every = clip_grad_norm, snapshot_every
        self.history: list[dict] = []
        self.best: float | None = None
        self.bad_epochs = 0

    # ----- paths ------------------------------------------------------------------------------
    def path(self, name: str) -> str | None:
        return os.path.join(self.out_dir, name) if self.out_dir else None

    @staticmethod
    def snapshot_name(epoch: int) -> str:
        """The file name of the snapshot kept after ``epoch``: ``epoch_007.safetensors``."""
        return f"epoch_{epoch:03d}.safetensors"

    # ----- one epoch --------------------------------------------------------------------------
    def _forward_batch(self, xb):
        """The model's output for a batch: ``model(xb)``, or ``model(*xb)`` when a loader yields
        a tuple of inputs (a captioner reads images and caption words)."""
        return self.model(*xb) if isinstance(xb, tuple) else self.model(xb)

    def train_epoch(self, loader, epoch: int) -> dict:
        """One pass over ``loader``; returns ``{"train_loss", "train_time", "examples"}``."""
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        self.model.train()
        total, seen, start = 0.0, 0, time.perf_counter()
        bar = _progress(loader, len(loader), f"epoch {epoch}", self.progress)
        device = model_device(self.model)
        for step, (xb, yb) in enumerate(bar):
            xb, yb = to_device(xb, device), to_device(yb, device)
            self.optimizer.zero_grad()
            loss = self.loss_fn(self._forward_batch(xb), yb)
            value = loss.item()
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"training loss became {value} at epoch {epoch}, step {step}: lower the "
                    f"learning rate or check the data; the last good checkpoint is kept"
                    + (f" in {self.out_dir}" if self.out_dir else "")
                )
            loss.backward()
            if self.clip_grad_norm is not None:
                clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
            self.optimizer.step()
            n = len(yb)
            total += value * n
            seen += n
            if bar is not loader and step % 10 == 0:
                bar.set_postfix(loss=f"{total / seen:.4f}")
        if bar is not loader:
            bar.close()
        elapsed = time.perf_counter() - start
        return {"train_loss": total / max(seen, 1), "train_time": elapsed, "examples": seen}

    @no_grad()
    def evaluate(self, loader) -> dict:
        """Mean loss and every metric over ``loader``, in evaluation mode."""
        self.model.eval()
        total, seen, scores, labels = 0.0, 0, [], []
        device = model_device(self.model)
        for xb, yb in loader:
            xb, yb = to_device(xb, device), to_device(yb, device)
            out = self._forward_batch(xb)
            total += self.loss_fn(out, yb).item() * len(yb)
            seen += len(yb)
            scores.append(out.numpy())
            labels.append(yb.numpy())
        result = {"loss": total / max(seen, 1)}
        if seen:
            s, y = np.concatenate(scores), np.concatenate(labels)
            for name, fn in self.metrics.items():
                result[name] = float(fn(s, y))
        return result

    # ----- the loop ---------------------------------------------------------------------------
    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def _state(self) -> dict:
        return {"history": self.history, "best": self.best, "bad_epochs": self.bad_epochs,
                "monitor": self.monitor, "config": self.config}

    def _save(self, name: str, epoch: int) -> None:
        save_checkpoint(self.path(name), self.model, self.optimizer, self.scheduler, epoch,
                        extra=self._state())

    def _write_metrics(self) -> None:
        with atomic_write(self.path("metrics.jsonl"), "w") as f:
            for row in self.history:
                f.write(json.dumps(row) + "\n")

    def _remove_stale_temp_files(self) -> None:
        """Delete half-written temp files that a killed run left beside its outputs."""
        names = ("last.safetensors.", "best.safetensors.", "metrics.jsonl.", "curves.png.", "epoch_")
        for f in os.listdir(self.out_dir):
            if f.endswith(".tmp") and f.startswith(names):
                os.unlink(os.path.join(self.out_dir, f))

    def resume(self) -> int:
        """Load ``out_dir/last.safetensors``; returns the epoch it finished."""
        path = self.path("last.safetensors")
        if path is None or not os.path.exists(path):
            raise FileNotFoundError(f"resume: no checkpoint at {path}")
        ckpt = load_checkpoint(path)
        epoch = restore(ckpt, self.model, self.optimizer, self.scheduler)
        state = ckpt.extra
        self.history = list(state.get("history", []))
        self.best, self.bad_epochs = state.get("best"), int(state.get("bad_epochs", 0))
        self._write_metrics()  # drop lines of epochs after the checkpoint, if any
        return epoch

    def fit(self, train_loader, val_loader=None, epochs: int = 1, resume: bool = False) -> list:
        """Train until ``epochs`` (total, counting resumed ones) or early stopping; returns history.

        Convolutions leave the BLAS on one thread while they run (see
        :func:`deepbasic.ops.im2col.keep_blas_on_one_thread`); it gets its threads back here,
        when training ends.
        """
        try:
            return self._fit(train_loader, val_loader, epochs, resume)
        finally:
            restore_blas_threads()

    def _fit(self, train_loader, val_loader, epochs: int, resume: bool) -> list:
        if self.out_dir:
            os.makedirs(self.out_dir, exist_ok=True)
            self._remove_stale_temp_files()
        start_epoch = self.resume() + 1 if resume else 1
        if not resume and self.out_dir:
            self._write_metrics()
        for epoch in range(start_epoch, epochs + 1):
            row = {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"]}
            row.update(self.train_epoch(train_loader, epoch))
            if val_loader is not None:
                row.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
            if self.scheduler is not None:
                if isinstance(self.scheduler, ReduceLROnPlateau):
                    self.scheduler.step(row.get(self.monitor, row["train_loss"]))
                else:
                    self.scheduler.step()
            self.history.append(row)
            value = row.get(self.monitor)
            improved = value is not None and self._improved(value)
            if improved:
                self.best, self.bad_epochs = value, 0
            else:
                self.bad_epochs += 1
            if self.out_dir:
                if improved:
                    self._save("best.safetensors", epoch)
                self._save("last.safetensors", epoch)
                if self.snapshot_every is not None and epoch % self.snapshot_every == 0:
                    self._save(self.snapshot_name(epoch), epoch)
                self._write_metrics()
                self.plot()
            if self.verbose:
                print(self._line(row), file=sys.stderr if self.progress else sys.stdout)
            if self.patience is not None and self.bad_epochs >= self.patience:
                if self.verbose:
                    print(f"early stopping: {self.monitor} did not improve for {self.patience} epochs")
                break
        return self.history

    @staticmethod
    def _line(row: dict) -> str:
        parts = [f"epoch {row['epoch']:3d}", f"loss {row['train_loss']:.4f}"]
        for k in ("val_loss", "val_accuracy"):
            if k in row:
                parts.append(f"{k.replace('_', ' ')} {row[k]:.4f}")
        rate = row["examples"] / row["train_time"] if row["train_time"] > 0 else float("inf")
        parts.append(f"{rate:,.0f} ex/s")
        return "  ".join(parts)

    def plot(self) -> str | None:
        """Draw loss and accuracy curves to ``out_dir/curves.png``; returns the path."""
        if not self.out_dir or not self.history:
            return None
        from deepbasic.train.plots import plot_curves

        return plot_curves(self.history, self.path("curves.png"))
