"""``DataLoader``: minibatches of in-memory arrays as tensors, shuffled reproducibly.

A dataset is anything with arrays ``x`` (N, ...) and ``y`` (N,) (a split from ``load_dataset``),
or a tuple ``(x, y)``. Shuffling uses a generator seeded by ``(seed, epoch)``, so epoch ``e`` has
the same order whether or not the run was stopped and resumed; the trainer calls
:meth:`DataLoader.set_epoch`. Transforms run on whole batches (vectorized), with the same generator.
"""
from __future__ import annotations

import math

import numpy as np

from deepbasic import backend
from deepbasic.tensor import Tensor


def _arrays(dataset):
    if hasattr(dataset, "x") and hasattr(dataset, "y"):
        return np.asarray(dataset.x), np.asarray(dataset.y)
    if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        return np.asarray(dataset[0]), np.asarray(dataset[1])
    raise TypeError(
        f"DataLoader: expected a dataset with arrays .x and .y, or a tuple (x, y), got "
        f"{type(dataset).__name__}"
    )


class DataLoader:
    """Iterate over ``(x, y)`` batches: x (B, ...) float tensor, y (B,) int64 tensor.

    batch_size: examples per batch; shuffle: a new order every epoch; drop_last: skip a final
    smaller batch; seed: the shuffling seed (drawn from the global generator when None);
    transform: a callable ``(x_batch, rng) -> x_batch`` on arrays (see ``deepbasic.data.transforms``).
    """

    def __init__(self, dataset, batch_size: int = 64, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, transform=None):
        self.x, self.y = _arrays(dataset)
        if len(self.x) != len(self.y):
            raise ValueError(
                f"DataLoader: x has {len(self.x)} examples but y has {len(self.y)}"
            )
        if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self.seed = int(backend.generator().integers(2**31)) if seed is None else int(seed)
        self.transform = transform
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order (and random augmentation) the next iteration uses."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.x)
        order = rng.permutation(n) if self.shuffle else None
        stop = (n // self.batch_size) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            if order is None:
                xb, yb = self.x[start:start + self.batch_size], self.y[start:start + self.batch_size]
            else:
                idx = order[start:start + self.batch_size]
                xb, yb = self.x[idx], self.y[idx]
            if self.transform is not None:
                xb = self.transform(xb, rng)
            yield Tensor._make(xb), Tensor._make(yb)
