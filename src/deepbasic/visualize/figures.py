"""PNG figures for the network-visualization methods: heat maps over images, image rows and
grids (matplotlib, file-only Agg backend; each function returns the path it wrote).

    plot_saliency(images, saliency(model, images), "saliency.png")
    plot_occlusion(image, occlusion_map(model, image, per_pixel=True), "occlusion.png")
"""
from __future__ import annotations

import numpy as np

from deepbasic import backend


def _array(x) -> np.ndarray:
    return np.asarray(backend.to_numpy(getattr(x, "data", x)), dtype=np.float64)


def display_image(image, normalize: bool = False) -> np.ndarray:
    """An image (C, H, W), C = 1 or 3, as what ``imshow`` takes: (H, W) grey or (H, W, 3) RGB in
    [0, 1]. ``normalize``: min-max scaled (for gradients and optimized images); else clipped to
    [0, 1] (data images)."""
    a = _array(image)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] not in (1, 3):
        raise ValueError(f"display_image: expected an image (C, H, W) with C = 1 or 3, got shape "
                         f"{tuple(a.shape)}")
    if normalize:
        span = a.max() - a.min()
        a = (a - a.min()) / span if span > 0 else np.full_like(a, 0.5)
    a = np.clip(a, 0.0, 1.0).transpose(1, 2, 0)
    return a[..., 0] if a.shape[2] == 1 else a


def _show(ax, image, title=None, normalize=False):
    img = display_image(image, normalize)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)


def _axes(rows, cols, cell=1.6):
    from deepbasic.train.plots import _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(max(2.0, cols * cell), max(2.0, rows * cell)),
                             squeeze=False)
    return fig, axes


def plot_saliency(images, maps, path: str, titles=None, title: str = "saliency") -> str:
    """Each image (N, C, H, W) above its map (N, H, W) drawn as a heat map ('hot', each map
    scaled to its own maximum)."""
    from deepbasic.train.plots import _save

    x, m = _array(images), _array(maps)
    if x.ndim == 3:
        x, m = x[None], m[None]
    if m.shape != (x.shape[0],) + x.shape[2:]:
        raise ValueError(f"plot_saliency: maps {tuple(m.shape)} do not match images "
                         f"{tuple(x.shape)}")
    fig, axes = _axes(2, len(x))
    for i in range(len(x)):
        _show(axes[0, i], x[i], titles[i] if titles else None)
        axes[1, i].imshow(m[i], cmap="hot", vmin=0, vmax=max(float(m[i].max()), 1e-12),
                          interpolation="nearest")
        axes[1, i].set_axis_off()
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_gradients(images, grads, path: str, titles=None, title: str = "guided backprop") -> str:
    """Each image above its input-space gradient (N, C, H, W) drawn as an image (min-max scaled
    per image: grey 0.5-ish is no gradient only after scaling, so compare shapes, not levels)."""
    from deepbasic.train.plots import _save

    x, g = _array(images), _array(grads)
    if x.ndim == 3:
        x, g = x[None], g[None]
    if g.shape != x.shape:
        raise ValueError(f"plot_gradients: gradients {tuple(g.shape)} do not match images "
                         f"{tuple(x.shape)}")
    fig, axes = _axes(2, len(x))
    for i in range(len(x)):
        _show(axes[0, i], x[i], titles[i] if titles else None)
        _show(axes[1, i], g[i], normalize=True)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_occlusion(image, drop, path: str, title: str = "occlusion: drop in class probability") -> str:
    """The image, and the probability drop (H, W) (``occlusion_map(..., per_pixel=True)``, or a
    (rows, cols) grid, drawn stretched over the image) as a diverging heat map with a colour bar:
    red where hiding that part lowers the class probability."""
    from deepbasic.train.plots import _save

    x, d = _array(image), _array(drop)
    if x.ndim == 4:
        x = x[0]
    fig, axes = _axes(1, 2, cell=2.4)
    _show(axes[0, 0], x, "image")
    lim = max(float(np.abs(d).max()), 1e-12)
    h, w = x.shape[1:]
    im = axes[0, 1].imshow(d, cmap="RdBu_r", vmin=-lim, vmax=lim, extent=(0, w, h, 0),
                           interpolation="nearest")
    axes[0, 1].set_axis_off()
    axes[0, 1].set_title("probability drop", fontsize=8)
    fig.colorbar(im, ax=axes[0, 1], fraction=0.046, pad=0.04)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_images(images, path: str, titles=None, title: str = "", normalize: bool = True) -> str:
    """A row of images (N, C, H, W) (class visualizations, say), each min-max scaled when
    ``normalize``."""
    from deepbasic.train.plots import _save

    x = _array(images)
    if x.ndim == 3:
        x = x[None]
    fig, axes = _axes(1, len(x))
    for i in range(len(x)):
        _show(axes[0, i], x[i], titles[i] if titles else None, normalize)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_fooling(original, fooled, path: str, labels=("original", "fooled"),
                 magnify: float = 10.0) -> str:
    """The original image, the fooling image, and their difference magnified ``magnify`` times
    around grey (0.5 + magnify * (fooled - original))."""
    from deepbasic.train.plots import _save

    a, b = _array(original), _array(fooled)
    if a.shape != b.shape:
        raise ValueError(f"plot_fooling: images of shapes {a.shape} and {b.shape}")
    fig, axes = _axes(1, 3)
    _show(axes[0, 0], a, labels[0])
    _show(axes[0, 1], b, labels[1])
    _show(axes[0, 2], 0.5 + magnify * (b - a), f"difference x{magnify:g}")
    return _save(fig, path)


def plot_activations(acts: dict, path: str, index: int = 0, max_channels: int = 64) -> str:
    """One panel per layer of ``acts`` (``{name: (N, C, H, W) or (N, D)}``, as
    :func:`~deepbasic.visualize.features.activations` returns), showing image ``index``'s
    channels as a grid (each channel scaled to [0, 1] on its own)."""
    from deepbasic.train.plots import _save
    from deepbasic.visualize.features import activation_grid

    if not acts:
        raise ValueError("plot_activations: no activations to draw")
    fig, axes = _axes(1, len(acts), cell=3.0)
    for ax, (name, a) in zip(axes[0], acts.items()):
        grid = activation_grid(a[index], max_channels=max_channels)
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(f"{name} {tuple(a.shape[1:])}", fontsize=8)
    return _save(fig, path)


def plot_neighbors(queries, database, result: dict, path: str, labels=None) -> str:
    """For each query image, two rows: its nearest neighbours in feature space and in pixel
    space (``result`` from :func:`~deepbasic.visualize.features.neighbors`), the query first.
    ``labels``: optional class name per database image, shown over each neighbour."""
    from deepbasic.train.plots import _save

    q, d = _array(queries), _array(database)
    k = result["feature"].shape[1]
    fig, axes = _axes(2 * len(q), k + 1, cell=1.2)
    for i in range(len(q)):
        for r, space in enumerate(("feature", "pixel")):
            row = axes[2 * i + r]
            _show(row[0], q[i], f"query {i}: {space}")
            for j, idx in enumerate(result[space][i]):
                _show(row[j + 1], d[idx], str(labels[idx]) if labels is not None else f"#{idx}")
    return _save(fig, path)
