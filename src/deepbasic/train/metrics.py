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


# ----- segmentation: per-pixel labels, scored from one confusion matrix over a whole set -----
def iou_per_class(matrix: np.ndarray) -> np.ndarray:
    """Intersection over union of each class from a (C, C) confusion matrix (rows true, columns
    predicted): IoU_c = TP_c / (TP_c + FP_c + FN_c), with TP_c = M[c, c], FP_c = column sum - TP_c,
    FN_c = row sum - TP_c. A class that is neither present nor predicted (union 0) gets NaN; a class
    predicted but never present gets 0."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"iou_per_class: expected a square (C, C) confusion matrix, got shape "
                         f"{m.shape}")
    tp = np.diag(m)
    union = m.sum(axis=0) + m.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1.0), np.nan)


def mean_iou(matrix: np.ndarray) -> float:
    """Mean IoU over classes from a (C, C) confusion matrix (see :func:`iou_per_class`).

    Classes absent from both the ground truth and the predictions are skipped (their IoU is
    undefined, 0 / 0); the mean is over the remaining classes. A class that is predicted but absent
    from the ground truth counts with IoU 0. NaN when the matrix is empty.
    """
    iou = iou_per_class(matrix)
    present = ~np.isnan(iou)
    return float(iou[present].mean()) if present.any() else float("nan")


def pixel_accuracy(matrix: np.ndarray) -> float:
    """The fraction of pixels whose class is right: trace / total of a confusion matrix."""
    m = np.asarray(matrix)
    total = m.sum()
    return float(np.trace(m) / total) if total else float("nan")


def segmentation_confusion(scores, masks, num_classes: int | None = None) -> np.ndarray:
    """The (C, C) confusion matrix of per-pixel predictions, accumulated over all images.

    scores: (N, C, H, W) class scores (the argmax over C is the prediction) or (N, H, W) predicted
    class ids (then ``num_classes`` is required); masks: (N, H, W) true class ids.
    """
    scores, masks = np.asarray(scores), np.asarray(masks)
    if scores.ndim == 4:
        num_classes = scores.shape[1] if num_classes is None else num_classes
        pred = scores.argmax(axis=1)
    elif scores.ndim == 3:
        if num_classes is None:
            raise ValueError("segmentation_confusion: num_classes is needed with predicted ids "
                             "(N, H, W)")
        pred = scores
    else:
        raise ValueError(f"segmentation_confusion: expected scores (N, C, H, W) or predictions "
                         f"(N, H, W), got shape {scores.shape}")
    if pred.shape != masks.shape:
        raise ValueError(f"segmentation_confusion: predictions {pred.shape} vs masks {masks.shape}")
    return confusion_matrix(masks.ravel(), pred.ravel(), int(num_classes))
