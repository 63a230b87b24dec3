"""Classification metrics on arrays: accuracy, per-class accuracy, confusion matrix."""
from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: {y_true.shape} labels vs {y_pred.shape} predictions")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(
        num_classes, num_classes)


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Recall of each class from a confusion matrix (NaN for a class with no examples)."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(matrix) / totals


def format_confusion(matrix: np.ndarray, classes) -> str:
    """The confusion matrix as an aligned text table with per-class accuracy."""
    names = [str(c)[:10] for c in classes]
    width = max(6, max(len(n) for n in names) + 1, len(str(int(matrix.max(initial=0)))) + 1)
    head = " " * width + "".join(n[:width - 1].rjust(width) for n in names) + "  accuracy"
    lines = [head]
    acc = per_class_accuracy(matrix)
    for i, n in enumerate(names):
        row = "".join(str(int(v)).rjust(width) for v in matrix[i])
        lines.append(n.rjust(width) + row + f"  {acc[i]:.3f}")
    return "\n".join(lines)
