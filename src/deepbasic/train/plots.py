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
