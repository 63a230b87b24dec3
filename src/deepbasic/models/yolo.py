"""A YOLO-style single-stage detector: a small CNN down to an S x S grid, one 1x1 conv head.

    model = YOLO(num_classes=6, image_size=64)          # 64x64 input -> 8x8 grid (stride 8)
    out = model(images)                                 # (N, S*S*A, 5 + C) raw predictions
    model.detect(images)    # [{"boxes": (K, 4) xyxy, "scores": (K,), "labels": (K,)}, ...]

Backbone: ``len(channels)`` blocks of conv3x3 -> BatchNorm2d -> ReLU; each of the first
log2(stride) blocks ends with a 2x2 max pool, so an H x W image becomes an (H/stride) x
(W/stride) grid of cells. Head: a 1x1 conv giving, for every cell and each of the A anchor shapes
(default: square, tall and wide, :mod:`deepbasic.vision.anchors`, in grid cells), 5 + C numbers
``(tx, ty, tw, th, objectness, class scores...)``. Output rows are in the ``(y, x, a)`` order of
:func:`deepbasic.vision.anchors.yolo_anchors`: row ``(y * S + x) * A + a``.

Decoding (YOLOv2 / v3), in grid cells, then times the stride to pixels::

    cx = x + sigmoid(tx)    cy = y + sigmoid(ty)    w = anchor_w * exp(tw)    h = anchor_h * exp(th)

A detection's score is sigmoid(objectness) * softmax(class scores)[class]; :meth:`YOLO.detect`
keeps (box, class) pairs scoring at least ``score_threshold`` and runs NMS per class.
"""
from __future__ import annotations

import math

import numpy as np

from deepbasic import backend, nn
from deepbasic.tensor import no_grad
from deepbasic.vision.anchors import SQUARE_ANCHORS, TALL_ANCHORS, WIDE_ANCHORS
from deepbasic.vision.boxes import BBOX_XFORM_CLIP, batched_nms, clip_boxes

#: the default anchor shapes (width, height) in grid cells: one square, one tall, one wide
DEFAULT_ANCHORS = ((float(SQUARE_ANCHORS[1, 0]), float(SQUARE_ANCHORS[1, 1])),
                   (float(TALL_ANCHORS[0, 0]), float(TALL_ANCHORS[0, 1])),
                   (float(WIDE_ANCHORS[0, 0]), float(WIDE_ANCHORS[0, 1])))


def _sigmoid(x):
    xp = backend.get_array_module(x)
    return 0.5 * (xp.tanh(0.5 * x) + 1.0)


def decode_predictions(raw, grid_size: int, stride: float, anchors) -> np.ndarray:
    """Pixel xyxy boxes (N, S*S*A, 4) from raw predictions (N, S*S*A, >= 4) (arrays, no
    gradient): centre (x + sigmoid(tx), y + sigmoid(ty)) and size anchor * exp(t) in grid cells,
    times ``stride``. tw, th are clamped at log(1000/16) before the exp."""
    xp = backend.get_array_module(raw)
    anchors = xp.asarray(anchors, dtype=raw.dtype)                   # (A, 2)
    a = anchors.shape[0]
    n = raw.shape[0]
    t = raw[..., :4].reshape(n, grid_size, grid_size, a, 4)
    gy, gx = xp.meshgrid(xp.arange(grid_size, dtype=raw.dtype),
                         xp.arange(grid_size, dtype=raw.dtype), indexing="ij")
    cx = gx[None, :, :, None] + _sigmoid(t[..., 0])
    cy = gy[None, :, :, None] + _sigmoid(t[..., 1])
    w = anchors[:, 0] * xp.exp(xp.minimum(t[..., 2], BBOX_XFORM_CLIP))
    h = anchors[:, 1] * xp.exp(xp.minimum(t[..., 3], BBOX_XFORM_CLIP))
    boxes = xp.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1)
    return (boxes * stride).reshape(n, -1, 4)


class YOLO(nn.Module):
    """Single-stage detector (see the module docstring).

    num_classes: object classes; image_size: the (square) input side in pixels, a multiple of
    ``stride``; channels: filters of each conv block; stride: pixels per grid cell, a power of 2
    (one max pool per factor 2, so ``len(channels) >= log2(stride)``); anchors: (A, 2) anchor
    widths and heights in grid cells.
    """

    def __init__(self, num_classes: int, image_size: int = 64, channels=(16, 32, 64, 128, 128),
                 stride: int = 8, anchors=DEFAULT_ANCHORS):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"YOLO: num_classes must be >= 1, got {num_classes}")
        pools = int(round(math.log2(stride))) if stride >= 1 else -1
        if pools < 0 or 2 ** pools != stride:
            raise ValueError(f"YOLO: stride must be a power of 2, got {stride}")
        channels = [int(c) for c in channels]
        if len(channels) < pools:
            raise ValueError(f"YOLO: stride {stride} needs at least {pools} conv blocks, got "
                             f"channels {channels}")
        if image_size % stride:
            raise ValueError(f"YOLO: image_size {image_size} must be a multiple of the stride "
                             f"{stride}")
        anchors = np.asarray(anchors, dtype=np.float64)
        if anchors.ndim != 2 or anchors.shape[1] != 2 or not np.all(anchors > 0):
            raise ValueError(f"YOLO: anchors must be (A, 2) positive widths and heights, got "
                             f"{anchors.tolist()}")
        self.num_classes, self.image_size, self.stride = int(num_classes), int(image_size), stride
        self.grid_size = image_size // stride
        self.anchors = anchors
        self.num_anchors = len(anchors)
        layers, c = [], 3
        for i, out in enumerate(channels):
            layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU()]
            if i < pools:
                layers.append(nn.MaxPool2d(2, 2))
            c = out
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, self.num_anchors * (5 + self.num_classes), 1)

    def forward(self, x):
        """images (N, 3, H, W) -> raw predictions (N, S*S*A, 5 + C), rows in (y, x, a) order,
        columns (tx, ty, tw, th, objectness, class scores)."""
        f = self.head(self.backbone(x))                    # (N, A*(5+C), S, S)
        n, _, h, w = f.shape
        return f.permute(0, 2, 3, 1).reshape(n, h * w * self.num_anchors, 5 + self.num_classes)

    def decode(self, raw) -> np.ndarray:
        """Pixel xyxy boxes (N, S*S*A, 4) of raw predictions (an array or Tensor)."""
        from deepbasic.tensor import Tensor

        data = raw.data if isinstance(raw, Tensor) else raw
        return decode_predictions(data, self.grid_size, self.stride, self.anchors)

    def detect(self, images, score_threshold: float = 0.05, iou_threshold: float = 0.5,
               max_detections: int = 100) -> list:
        """Detections of images (N, 3, H, W): one dict per image with ``"boxes"`` (K, 4) float32
        xyxy pixels (clipped to the image), ``"scores"`` (K,) float32 and ``"labels"`` (K,)
        int64, by decreasing score; at most ``max_detections`` per image."""
        from deepbasic.tensor import Tensor

        images = np.asarray(backend.to_numpy(images), dtype=np.float32)
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"YOLO.detect: expected images (N, 3, H, W), got shape "
                             f"{images.shape}")
        if images.shape[2:] != (self.image_size, self.image_size):
            raise ValueError(f"YOLO.detect: the model takes {self.image_size}x{self.image_size} "
                             f"images, got {images.shape[2]}x{images.shape[3]}")
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                xp = backend.get_array_module(self.head.weight.data)
                raw = backend.to_numpy(self(Tensor._make(xp.asarray(images))).data)
        finally:
            self.train(was_training)
        raw = raw.astype(np.float64)
        boxes = self.decode(raw)
        obj = _sigmoid(raw[..., 4])
        logits = raw[..., 5:]
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        scores = obj[..., None] * e / e.sum(axis=-1, keepdims=True)      # (N, P, C)
        out = []
        for i in range(len(images)):
            p, k = np.nonzero(scores[i] >= score_threshold)
            b = clip_boxes(boxes[i][p], self.image_size, self.image_size)
            s = scores[i][p, k]
            keep = np.asarray(batched_nms(b, s, k, iou_threshold))[:max_detections]
            out.append({"boxes": b[keep].astype(np.float32).reshape(-1, 4),
                        "scores": s[keep].astype(np.float32),
                        "labels": k[keep].astype(np.int64)})
        return out
