"""The plain minibatch training loop and evaluation over in-memory arrays.

x: (N, ...) float array, y: (N,) int64 labels. Batches are drawn in a permutation from the global
generator (``deepbasic.manual_seed`` makes runs reproducible).
"""
from __future__ import annotations

import numpy as np

from deepbasic import backend
from deepbasic.tensor import Tensor, no_grad


def train_epoch(model, loss_fn, optimizer, x, y, batch_size: int = 128, shuffle: bool = True):
    """One pass over (x, y) in minibatches; returns the mean training loss.

    Each step: forward, loss, backward, optimizer step. The model is put in training mode.
    """
    n = len(x)
    order = backend.generator().permutation(n) if shuffle else np.arange(n)
    model.train()
    total, seen = 0.0, 0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        xb, yb = Tensor._make(x[idx]), Tensor._make(y[idx])
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
        seen += len(idx)
    return total / max(seen, 1)


@no_grad()
def predict(model, x, batch_size: int = 1024) -> np.ndarray:
    """Scores (N, C) of the model in evaluation mode, computed in batches."""
    model.eval()
    outs = [model(Tensor._make(x[s:s + batch_size])).numpy() for s in range(0, len(x), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0,))


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows whose highest score is the label."""
    return float((scores.argmax(axis=1) == np.asarray(y)).mean())


def evaluate(model, x, y, batch_size: int = 1024) -> float:
    """Accuracy of the model on (x, y)."""
    return accuracy(predict(model, x, batch_size), y)
