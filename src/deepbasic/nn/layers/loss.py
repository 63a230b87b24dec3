"""Loss layers: callable objects over the functional losses (PyTorch's names)."""
from __future__ import annotations

from deepbasic.nn import functional as F
from deepbasic.nn.module import Module


class CrossEntropyLoss(Module):
    """Softmax cross-entropy from logits (N, C) and targets (N,), or (N, C, d1, ...) and
    (N, d1, ...) (e.g. segmentation); see ``F.cross_entropy``."""

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0,
                 ignore_index: int = -100):
        super().__init__()
        self.reduction, self.label_smoothing, self.ignore_index = reduction, label_smoothing, ignore_index

    def forward(self, input, target):
        return F.cross_entropy(input, target, reduction=self.reduction,
                               label_smoothing=self.label_smoothing, ignore_index=self.ignore_index)


class TemporalCrossEntropyLoss(Module):
    """Softmax cross-entropy over sequences: scores (N, T, V), targets (N, T), an optional
    (N, T) bool mask (True where a position counts) and/or an ``ignore_index`` target id that
    never counts (padding). ``reduction``: "batch" (default: sum over the positions that count,
    divided by N, CS231n's temporal_softmax_loss), "mean" (divided by the number of positions
    that count, PyTorch's cross_entropy with ignore_index), "sum" or "none" ((N, T) losses).
    See ``F.temporal_cross_entropy``.

    ``loss = criterion(scores, targets)`` or ``criterion(scores, targets, mask)``.
    """

    def __init__(self, ignore_index=None, reduction: str = "batch"):
        super().__init__()
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, scores, targets, mask=None):
        return F.temporal_cross_entropy(scores, targets, mask, ignore_index=self.ignore_index,
                                        reduction=self.reduction)


class NLLLoss(Module):
    """Negative log-likelihood of log-probabilities (N, C) and targets (N,) (or (N, C, d1, ...)
    and (N, d1, ...)): loss_i = -input[i, target_i]."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.nll_loss(input, target, reduction=self.reduction)


class MultiClassHingeLoss(Module):
    """The multiclass SVM loss; see ``F.svm_loss``."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.margin, self.reduction = margin, reduction

    def forward(self, scores, target):
        return F.svm_loss(scores, target, margin=self.margin, reduction=self.reduction)


class MSELoss(Module):
    """Mean squared error."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(Module):
    """Mean absolute error."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy on logits."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, reduction=self.reduction)
