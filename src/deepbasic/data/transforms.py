"""Batch transforms and data augmentation, vectorized over the batch.

Each transform is a callable ``(x, rng) -> x`` on an array batch x: (N, C, H, W); ``rng`` is a
``numpy.random.Generator`` (the DataLoader passes its per-epoch one, so runs are reproducible).
"""
from __future__ import annotations

import numpy as np


def _check_images(x, what: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{what}: expected a batch of images (N, C, H, W), got shape {x.shape}")


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng=None):
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class Normalize:
    """x <- (x - mean[c]) / std[c] for each channel c."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be positive, got {std}")

    def __call__(self, x, rng=None):
        _check_images(x, "Normalize")
        if x.shape[1] != self.mean.shape[1] and self.mean.shape[1] != 1:
            raise ValueError(
                f"Normalize: {self.mean.shape[1]} channel means for input with {x.shape[1]} channels"
            )
        return ((x - self.mean) / self.std).astype(x.dtype, copy=False)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability p."""

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, x, rng):
        _check_images(x, "RandomHorizontalFlip")
        flip = rng.random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip, :, :, ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomCrop:
    """Pad each image by ``padding`` zeros on every side, then cut a random ``size`` window."""

    def __init__(self, size, padding: int = 0):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")
        self.padding = int(padding)

    def __call__(self, x, rng):
        _check_images(x, "RandomCrop")
        n, _, h, w = x.shape
        p = self.padding
        ch, cw = self.size
        if ch > h + 2 * p or cw > w + 2 * p:
            raise ValueError(
                f"RandomCrop: crop {self.size} is larger than the padded image {(h + 2 * p, w + 2 * p)}"
            )
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))).transpose(0, 2, 3, 1)  # (N, H, W, C)
        top = rng.integers(0, h + 2 * p - ch + 1, n)
        left = rng.integers(0, w + 2 * p - cw + 1, n)
        rows = top[:, None] + np.arange(ch)
        cols = left[:, None] + np.arange(cw)
        out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"
