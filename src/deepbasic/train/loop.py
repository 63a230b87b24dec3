"""The plain minibatch training loop and evaluation over in-memory arrays.

x: (N, ...) float array, y: (N,) int64 labels. Batches are drawn in a permutation from the global
generator (``deepbasic.manual_seed`` makes runs reproducible).
"""
from __future__ import annotations

import numpy as np

from deepbasic import backend
from deepbasic.tensor import Tensor, no_grad


def model_device(model) -> str:
    """Where a module's parameters (or, without any, its buffers) live: ``"cpu"`` or ``"cuda"``
    (``"cpu"`` for a module with neither)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return "cpu"


def to_device(batch, device: str):
    """A batch (a tensor, or a tuple / list of tensors and other values) on ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    return batch


def train_epoch(model, loss_fn, optimizer, x, y, batch_size: int = 128, shuffle: bool = True):
    """One pass over (x, y) in minibatches; returns the mean training loss.

    Each step: forward, loss, backward, optimizer step. The model is put in training mode; the
    batches go to the model's device (host arrays in, a GPU model trains on the GPU).
    """
    n = len(x)
    order = backend.generator().permutation(n) if shuffle else np.arange(n)
    model.train()
    device = model_device(model)
    total, seen = 0.0, 0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        xb, yb = Tensor._make(x[idx]).to(device), Tensor._make(y[idx]).to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
        seen += len(idx)
    return total / max(seen, 1)


@no_grad()
def predict(model, x, batch_size: int = 1024) -> np.ndarray:
    """Scores (N, C) of the model in evaluation mode, computed in batches on the model's device;
    a host array."""
    model.eval()
    device = model_device(model)
    outs = [model(Tensor._make(x[s:s + batch_size]).to(device)).numpy()
            for s in range(0, len(x), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0,))


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows whose highest score is the label."""
    return float((scores.argmax(axis=1) == np.asarray(y)).mean())


def evaluate(model, x, y, batch_size: int = 1024) -> float:
    """Accuracy of the model on (x, y)."""
    return accuracy(predict(model, x, batch_size), y)
