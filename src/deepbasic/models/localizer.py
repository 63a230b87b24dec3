"""Classification + localization: one CNN that says what the single object in an image is and
where it is.

    model = Localizer(num_classes=6, input_shape=(3, 64, 64))
    out = model(images)                         # (N, num_classes + 4)
    scores, boxes = split_outputs(out, 6)       # (N, 6) class scores, (N, 4) normalized boxes
    loss = localization_loss(out, pack_targets(labels, boxes_px, (64, 64)), 6, box_weight=5.0)

Box parameterization
    The box head predicts ``(x, y, w, h)`` normalized by the image side: ``x / W``, ``y / H``
    (the top-left corner) and ``w / W``, ``h / H`` (the size), each in [0, 1] for a box inside the
    image, in the continuous pixel convention of :mod:`deepbasic.vision.boxes` (pixel column i
    covers [i, i + 1), so a shapes box ``(x, y, w, h)`` in pixels maps to ``(x/W, y/H, w/W, h/H)``).
    The head is linear (no squashing); :func:`decode_boxes` clips the corners to the image.

One tensor in, one out (what the :class:`~deepbasic.train.trainer.Trainer` expects)
    ``forward`` returns the class scores and the box concatenated, (N, num_classes + 4); targets
    are packed into one (N, 5) float32 array ``[label, x/W, y/H, w/W, h/H]``
    (:func:`pack_targets`); :func:`split_outputs` and :func:`unpack_targets` take them apart. The
    label is stored as a float (exact for any class count below 2**24).

Loss
    ``cross_entropy(scores, label) + box_weight * box_loss(box, target_box)`` with ``box_loss``
    ``"smooth_l1"`` (Fast R-CNN's: 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere; beta
    in normalized units) or ``"l2"`` (0.5 d^2), summed over the four numbers and averaged over the
    batch.
"""
from __future__ import annotations

import numpy as np

from deepbasic import backend, init, nn
from deepbasic.nn import functional as F
from deepbasic.ops.shape import cat
from deepbasic.tensor import Tensor

BOX_LOSSES = ("smooth_l1", "l2")


class Localizer(nn.Module):
    """A shared CNN trunk with a class head and a box head: (N, C, H, W) -> (N, num_classes + 4).

    Trunk (shared): per entry of ``channels``, conv3x3-BN-ReLU, conv3x3-BN-ReLU, 2x2 max pool,
    giving features (N, c, H / 2^k, W / 2^k). Class head: global max pool over positions (what the
    object is does not depend on where it is) -> Linear(c, num_classes). Box head: the feature map
    flattened (keeping where things are) -> Linear(-, hidden) -> ReLU -> Linear(hidden, 4), the
    normalized box ``(x/W, y/H, w/W, h/H)`` (see the module docstring). H and W must be
    divisible by 2 ** len(channels).
    """

    def __init__(self, num_classes: int, input_shape=(3, 64, 64), channels=(16, 32, 64, 64),
                 hidden: int = 256):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"Localizer: input_shape must be (C, H, W), got {tuple(input_shape)}")
        c, h, w = (int(v) for v in input_shape)
        k = len(channels)
        if k < 1 or h % 2 ** k or w % 2 ** k:
            raise ValueError(f"Localizer: {k} pooling stages need H and W divisible by {2 ** k}, "
                             f"got {h}x{w}")
        if int(num_classes) < 1:
            raise ValueError(f"Localizer: num_classes must be positive, got {num_classes}")
        self.num_classes, self.input_shape = int(num_classes), (c, h, w)
        layers = []
        for out in channels:
            layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(),
                       nn.Conv2d(out, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(), nn.MaxPool2d(2, 2)]
            c = out
        self.trunk = nn.Sequential(*layers)
        self.class_head = nn.Linear(c, self.num_classes)
        self.box_head = nn.Sequential(nn.Flatten(), nn.Linear(c * (h >> k) * (w >> k), hidden),
                                      nn.ReLU(), nn.Linear(hidden, 4))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, nonlinearity="relu")
        # start the box head at the mean box (centred, a quarter of the side) with small weights
        last = self.box_head[-1]
        init.normal_(last.weight, std=1e-3)
        last.bias.data[:2], last.bias.data[2:] = 0.375, 0.25

    def check_input(self, x) -> None:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"Localizer: expected images (N, {', '.join(map(str, self.input_shape))})"
                             f", got shape {tuple(x.shape)}")

    def forward(self, x):
        """x: (N, C, H, W) -> (N, num_classes + 4): class scores, then the normalized box."""
        self.check_input(x)
        f = self.trunk(x)                                   # (N, c, h, w)
        return cat([self.class_head(f.amax(axis=(2, 3))), self.box_head(f)], dim=1)

    def predict(self, x, batch_size: int = 256):
        """Labels (N,) int64, class probabilities of those labels (N,) and boxes (N, 4) in pixels
        ``xyxy`` (clipped to the image) for images x (N, C, H, W), in evaluation mode."""
        from deepbasic.tensor import no_grad

        was_training = self.training
        self.eval()
        try:
            outs = []
            with no_grad():
                for i in range(0, len(x), batch_size):
                    xb = x[i:i + batch_size]
                    xb = xb if isinstance(xb, Tensor) else Tensor._make(np.asarray(xb, np.float32))
                    outs.append(backend.to_numpy(self(xb).data))
        finally:
            self.train(was_training)
        out = np.concatenate(outs) if outs else np.zeros((0, self.num_classes + 4), np.float32)
        scores, boxes = split_outputs(out, self.num_classes)
        z = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        labels = probs.argmax(axis=1)
        return labels, probs[np.arange(len(labels)), labels], decode_boxes(boxes, self.input_shape[1:])


def _numpy(x) -> np.ndarray:
    """A Tensor's, CuPy's or NumPy's values as a NumPy array."""
    return backend.to_numpy(x.data if isinstance(x, Tensor) else x)


def split_outputs(outputs, num_classes: int):
    """(N, num_classes + 4) outputs -> class scores (N, num_classes) and boxes (N, 4) (Tensors
    or arrays, whichever came in)."""
    if outputs.ndim != 2 or outputs.shape[1] != num_classes + 4:
        raise ValueError(f"split_outputs: expected outputs (N, {num_classes + 4}) for {num_classes} "
                         f"classes, got shape {tuple(outputs.shape)}")
    return outputs[:, :num_classes], outputs[:, num_classes:]


def pack_targets(labels, boxes, image_size) -> np.ndarray:
    """Labels (N,) and pixel boxes (N, 4) ``(x, y, w, h)`` -> (N, 5) float32 targets
    ``[label, x/W, y/H, w/W, h/H]``; image_size: ``(H, W)`` or an int."""
    h, w = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)[-2:]
    labels = np.asarray(labels)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if labels.shape != (len(boxes),):
        raise ValueError(f"pack_targets: {labels.shape} labels for {len(boxes)} boxes")
    scale = np.array([w, h, w, h], np.float64)
    return np.concatenate([labels[:, None].astype(np.float64), boxes / scale], axis=1) \
        .astype(np.float32)


def unpack_targets(targets):
    """(N, 5) packed targets -> labels (N,) int64 array and normalized boxes (N, 4) (a Tensor
    when a Tensor came in)."""
    if targets.ndim != 2 or targets.shape[1] != 5:
        raise ValueError(f"unpack_targets: expected targets (N, 5) [label, x, y, w, h], got shape "
                         f"{tuple(targets.shape)}")
    data = targets.data if isinstance(targets, Tensor) else targets
    return data[:, 0].astype(np.int64), targets[:, 1:]


def decode_boxes(boxes, image_size) -> np.ndarray:
    """Normalized ``(x/W, y/H, w/W, h/H)`` (N, 4) -> pixel ``xyxy`` (N, 4) clipped to the image."""
    h, w = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)[-2:]
    b = _numpy(boxes).astype(np.float64).reshape(-1, 4)
    x1, y1 = b[:, 0] * w, b[:, 1] * h
    x2, y2 = x1 + np.maximum(b[:, 2], 0) * w, y1 + np.maximum(b[:, 3], 0) * h
    return np.stack([np.clip(x1, 0, w), np.clip(y1, 0, h), np.clip(x2, 0, w), np.clip(y2, 0, h)],
                    axis=1)


def smooth_l1(d, beta: float):
    """Elementwise smooth L1 (Huber / beta) of a Tensor d: 0.5 d^2 / beta where |d| < beta, else
    |d| - 0.5 beta. Written as 0.5 m^2 / beta + (|d| - m) with m = min(|d|, beta)."""
    a = F.abs(d)
    m = F.minimum(a, beta)
    return m * m * (0.5 / beta) + (a - m)


def box_regression_loss(pred, target, kind: str = "smooth_l1", beta: float = 0.02):
    """Box loss summed over the 4 numbers, averaged over the N boxes: pred, target (N, 4) Tensors.

    ``"smooth_l1"``: see :func:`smooth_l1` (``beta`` in normalized units; 0.02 is about a pixel
    at 64 x 64); ``"l2"``: 0.5 d^2. Gradient: d / beta clipped to [-1, 1] (smooth L1) or d (l2),
    divided by N.
    """
    if kind not in BOX_LOSSES:
        raise ValueError(f"box_regression_loss: kind must be one of {', '.join(BOX_LOSSES)}, "
                         f"got {kind!r}")
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"box_regression_loss: predictions {tuple(pred.shape)} vs targets "
                         f"{tuple(target.shape)}")
    d = pred - target
    per = smooth_l1(d, beta) if kind == "smooth_l1" else d * d * 0.5
    return per.sum() * (1.0 / max(pred.shape[0], 1))


def localization_loss(outputs, targets, num_classes: int, box_weight: float = 5.0,
                      box_loss: str = "smooth_l1", beta: float = 0.02):
    """Joint loss: cross_entropy(scores, labels) + box_weight * box_regression_loss(box, target).

    outputs: (N, num_classes + 4) model outputs; targets: (N, 5) packed ``[label, x, y, w, h]``
    (see :func:`pack_targets`).
    """
    scores, boxes = split_outputs(outputs, num_classes)
    labels, target_boxes = unpack_targets(targets)
    return (F.cross_entropy(scores, labels)
            + box_regression_loss(boxes, target_boxes, box_loss, beta) * float(box_weight))
