"""Train/validation/test splits: the containers ``Split`` and ``DatasetSplits``, and the seeded,
stratified hold-out that carves a validation set out of a training pool.

Conventions for image datasets: ``x`` is float32 of shape (N, C, H, W) with values in [0, 1];
``y`` is int64 of shape (N,) holding class indices 0 .. len(classes) - 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _describe(a: np.ndarray) -> str:
    return f"{a.dtype}{tuple(a.shape)}"


@dataclass(frozen=True, repr=False)
class Split:
    """One split of a dataset: inputs ``x`` (N, C, H, W) float32 and labels ``y`` (N,) int64."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        if self.y.ndim != 1:
            raise ValueError(f"Split: y must have shape (N,), got {self.y.shape}")
        if len(self.x) != len(self.y):
            raise ValueError(f"Split: x has {len(self.x)} examples but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        return f"Split(x={_describe(self.x)}, y={_describe(self.y)})"


@dataclass(frozen=True, repr=False)
class DatasetSplits:
    """A dataset's three splits and its class names (``classes[k]`` names label ``k``)."""

    train: Split
    val: Split
    test: Split
    classes: list[str]
    name: str

    def __repr__(self) -> str:
        return (f"DatasetSplits(name={self.name!r}, train={self.train!r}, val={self.val!r}, "
                f"test={self.test!r}, classes={len(self.classes)})")


def check_fraction(fraction, what: str = "val_fraction") -> float:
    """Return ``fraction`` as a float after checking 0 <= fraction < 1."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)):
        raise TypeError(f"{what} must be a number in [0, 1), got {fraction!r}")
    fraction = float(fraction)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"{what} must be in [0, 1), got {fraction}")
    return fraction


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``round(fraction * N)`` examples, the same share of every class, chosen at random.

    y: (N,) labels. Returns ``(keep, held)``: two sorted int64 index arrays that partition
    ``range(N)``. Each class gives ``floor(share)`` examples, and the examples still owed go one
    each to the classes with the largest remainders (ties: lower label first). The choice depends
    only on ``y``, ``fraction`` and ``seed`` (NumPy's PCG64 via ``default_rng``).
    """
    fraction = check_fraction(fraction, "fraction")
    y = np.asarray(y)
    n = len(y)
    n_held = int(round(fraction * n))
    labels, counts = np.unique(y, return_counts=True)
    share = counts * (n_held / n) if n else counts.astype(float)
    take = np.floor(share).astype(np.int64)
    owed = n_held - int(take.sum())
    take[np.argsort(-(share - take), kind="stable")[:owed]] += 1
    rng = np.random.default_rng(seed)
    held = [rng.permutation(np.flatnonzero(y == label))[:k] for label, k in zip(labels, take)]
    held = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    mask = np.ones(n, dtype=bool)
    mask[held] = False
    return np.flatnonzero(mask).astype(np.int64), held.astype(np.int64)


def make_splits(name: str, classes, x_pool: np.ndarray, y_pool: np.ndarray, x_test: np.ndarray,
                y_test: np.ndarray, val_fraction: float, seed: int,
                scale: float | None = None) -> DatasetSplits:
    """Carve ``val`` out of the training pool (stratified, seeded) and package all three splits.

    x_pool: (N, C, H, W), y_pool: (N,) — the official training examples; x_test, y_test: the
    official test examples, kept whole. ``train`` and ``val`` keep the pool's order. With
    ``scale``, integer pixels are turned into float32 ``x / scale`` split by split (so a uint8
    pool is never held as float32 twice). Labels become int64.
    """
    keep, held = stratified_split(y_pool, val_fraction, seed)

    def split(x, y):
        x = x if scale is None else to_unit_float(x, scale)
        return Split(x, np.asarray(y, dtype=np.int64))

    return DatasetSplits(
        train=split(x_pool[keep], y_pool[keep]),
        val=split(x_pool[held], y_pool[held]),
        test=split(x_test, y_test),
        classes=[str(c) for c in classes],
        name=name,
    )


def to_unit_float(images: np.ndarray, scale: float) -> np.ndarray:
    """Integer pixels (N, C, H, W) in 0..scale -> float32 in [0, 1], same shape (one new array)."""
    out = images.astype(np.float32)
    np.divide(out, np.float32(scale), out=out)
    return out
