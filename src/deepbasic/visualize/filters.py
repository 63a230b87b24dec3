"""Convolution filters drawn as an image grid (the first layer of a trained ConvNet shows edge,
blob and colour detectors).

    from deepbasic.visualize import first_conv, plot_filters
    plot_filters(first_conv(model).weight, "filters.png", title="conv1 after 10 epochs")

Each filter is min-max normalized to [0, 1] on its own (its sign and scale are lost, its pattern
is kept): 1-channel filters are drawn in grey, 3-channel ones in RGB, in a grid as square as
possible (``grid_shape``), left to right and top to bottom, separated by ``pad`` pixels.
"""
from __future__ import annotations

import math

import numpy as np


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, cols) of the most nearly square grid for ``n`` tiles: ``cols = ceil(sqrt(n))``,
    ``rows = ceil(n / cols)`` (32 -> 6 x 6 with 4 empty cells, 64 -> 8 x 8, 6 -> 2 x 3)."""
    if n < 1:
        raise ValueError(f"grid_shape: expected at least one tile, got {n}")
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def _as_filters(weight, where: str) -> np.ndarray:
    """``weight`` (a Tensor, a Parameter or an array) as a float64 NumPy array (F, C, kh, kw)."""
    from deepbasic import backend

    w = np.asarray(backend.to_numpy(getattr(weight, "data", weight)), dtype=np.float64)
    if w.ndim != 4 or w.shape[0] < 1 or w.shape[1] not in (1, 3) or min(w.shape[2:]) < 1:
        raise ValueError(f"{where}: expected convolution weights (F, C, kh, kw) with C = 1 (grey) "
                         f"or 3 (RGB), got shape {tuple(w.shape)}")
    if not np.isfinite(w).all():
        raise ValueError(f"{where}: the weights hold NaN or infinite values")
    return w


def filter_grid(weight, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """The filters of ``weight`` (F, C, kh, kw), C = 1 or 3, tiled into one image.

    Each filter is scaled to [0, 1] separately (``(w - min) / (max - min)``; a constant filter
    becomes 0.5). Returns (rows (kh + pad) + pad, cols (kw + pad) + pad) for C = 1 and the same
    with a last axis of 3 (RGB) for C = 3, with (rows, cols) = ``grid_shape(F)``; the borders
    and the empty cells after the last filter are ``pad_value`` (1: white).
    """
    w = _as_filters(weight, "filter_grid")
    if pad < 0:
        raise ValueError(f"filter_grid: pad must be >= 0, got {pad}")
    f, c, kh, kw = w.shape
    low = w.min(axis=(1, 2, 3), keepdims=True)
    span = w.max(axis=(1, 2, 3), keepdims=True) - low
    tiles = np.where(span > 0, (w - low) / np.where(span > 0, span, 1.0), 0.5)
    tiles = tiles.transpose(0, 2, 3, 1)                          # (F, kh, kw, C)
    rows, cols = grid_shape(f)
    grid = np.full((rows * (kh + pad) + pad, cols * (kw + pad) + pad, c), float(pad_value))
    for i in range(f):
        top, left = pad + (i // cols) * (kh + pad), pad + (i % cols) * (kw + pad)
        grid[top:top + kh, left:left + kw] = tiles[i]
    return grid[..., 0] if c == 1 else grid


def plot_filters(weight, path: str, title: str = "first-layer filters", pad: int = 1,
                 cell_inches: float = 0.45) -> str:
    """Save the filters of ``weight`` (F, C, kh, kw), C = 1 (grey) or 3 (RGB), as a PNG grid.

    The image is :func:`filter_grid` (each filter normalized to [0, 1] separately, grid as square
    as possible), drawn with nearest-neighbour pixels, ``cell_inches`` per filter. Returns
    ``path``.
    """
    from deepbasic.train.plots import _pyplot, _save

    w = _as_filters(weight, "plot_filters")
    grid = filter_grid(w, pad=pad)
    rows, cols = grid_shape(w.shape[0])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(2.0, cols * cell_inches), max(2.0, rows * cell_inches)))
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0.0, vmax=1.0,
              interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def first_conv(model):
    """The first :class:`~deepbasic.nn.Conv2d` of ``model`` in the order its layers were
    registered (depth first, as ``model.modules()`` lists them; for the models of
    :mod:`deepbasic.models` that is the layer applied to the input). Its ``weight`` has shape
    (F, C_in, kh, kw). ValueError if the model has none (an MLP, say)."""
    from deepbasic import nn

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ValueError(f"first_conv: {type(model).__name__} has no Conv2d layer (expected a "
                     f"convolutional network)")
