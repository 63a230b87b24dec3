"""Figures of a training run, saved as PNG with matplotlib's file-only (Agg) backend."""
from __future__ import annotations


import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> str:
    """Write ``fig`` as a PNG at ``path`` atomically (``atomic_write`` creates the folder), close
    it, return ``path``. The figure is closed even when writing fails."""
    from deepbasic.serialization import atomic_write

    try:
        with atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    finally:
        _pyplot().close(fig)
    return path


def plot_curves(history: list[dict], path: str) -> str:
    """Loss (train and validation) and validation accuracy per epoch, side by side."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train")
    if any("val_loss" in r for r in history):
        ax1.plot(epochs, [r.get("val_loss", np.nan) for r in history], marker="o", label="validation")
    ax1.set(xlabel="epoch", ylabel="loss", title="loss")
    ax1.legend()
    ax1.grid(alpha=0.3)
    if any("val_accuracy" in r for r in history):
        ax2.plot(epochs, [r.get("val_accuracy", np.nan) for r in history], marker="o", color="C1")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="validation accuracy")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_bits_per_char(history: list[dict], baselines: dict, path: str) -> str:
    """Training and held-out bits per character per epoch, with each baseline (``{label: bpc}``,
    e.g. an n-gram's held-out bits per character) as a horizontal line."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in history]
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(epochs, [r["train_bpc"] for r in history], marker="o", label="LSTM, training")
    ax.plot(epochs, [r.get("val_bpc", np.nan) for r in history], marker="o", label="LSTM, held out")
    for i, (label, value) in enumerate(baselines.items()):
        ax.axhline(value, color=f"C{i + 2}", linestyle="--", label=f"{label}, held out")
    ax.set(xlabel="epoch", ylabel="bits per character", title="character language model")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_confusion_matrix(matrix: np.ndarray, classes, path: str, title: str = "confusion matrix") -> str:
    """A heat map of ``matrix`` (true class rows, predicted class columns) with counts."""
    plt = _pyplot()
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * k, 0.8 + 0.55 * k))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=list(classes))
    ax.set(xlabel="predicted", ylabel="true", title=title)
    top = matrix.max() if matrix.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] > top / 2 else "black")
    fig.tight_layout()
    return _save(fig, path)


def plot_captions(images, captions, path: str, references=None, cols: int = 4,
                  title: str = "generated captions") -> str:
    """Images (N, 3, H, W) or (N, H, W, 3) in [0, 1] in a grid, each with its caption below
    (and its reference caption, when given, in grey). Long captions wrap. Returns ``path``."""
    import textwrap

    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"plot_captions: expected images (N, 3, H, W), got shape {images.shape}")
    if images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    n = len(images)
    if len(captions) != n or (references is not None and len(references) != n):
        raise ValueError(f"plot_captions: {n} images but {len(captions)} captions"
                         + ("" if references is None else f" and {len(references)} references"))
    plt = _pyplot()
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.9 * rows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= n:
            continue
        img = np.clip(images[i], 0.0, 1.0)
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", interpolation="nearest")
        text = "\n".join(textwrap.wrap(captions[i], 34))
        ax.set_title(text, fontsize=7.5, loc="left")
        if references is not None:
            ax.text(0.0, -0.04, "\n".join(textwrap.wrap("ref: " + references[i], 38)),
                    transform=ax.transAxes, fontsize=6.5, color="0.4", va="top")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
