"""Training the YOLO-style detector (:class:`deepbasic.models.yolo.YOLO`): targets, loss, data.

    targets = pack_targets(scenes)                   # (N, M, 5): x1, y1, x2, y2, label (-1: none)
    loss = yolo_loss(model(images), targets, model.grid_size, model.stride, model.anchors)
    history = train_yolo(model, train_scenes, val_scenes, epochs=20, lr=2e-3, batch_size=32)

Target assignment (:func:`assign_targets`, vectorised over every box of a batch): a ground-truth
box belongs to the grid cell containing its centre and, in that cell, to the anchor whose shape
(width, height, both centred) has the highest IoU with the box's shape. Its targets are the centre
offset inside the cell (in (0, 1), what sigmoid(tx), sigmoid(ty) predict), log(w / anchor_w),
log(h / anchor_h), objectness 1 and its class. When two boxes fall on the same cell and anchor,
the first one in the scene keeps it.

Loss (:func:`yolo_loss`, deepbasic ops end to end, so autograd gives the gradient), normalised by
the number of assigned anchors P (at least 1):

- box: ``box_weight`` x squared error of (sigmoid(tx), sigmoid(ty), tw, th) on assigned anchors;
- objectness: binary cross-entropy on every anchor, target 1 on assigned anchors and 0 elsewhere,
  except that an unassigned anchor whose decoded box already has IoU > ``ignore_iou`` with a
  ground-truth box of its image is ignored (YOLOv3's rule: it is a good box, just not the chosen
  one, and should not be pushed towards background);
- class: softmax cross-entropy on assigned anchors.

Importing this module registers the detector ``"yolo"`` (:mod:`deepbasic.train.detection`).
"""
from __future__ import annotations

import math

import numpy as np

from deepbasic import backend
from deepbasic.data.loader import DataLoader
from deepbasic.tensor import Tensor
from deepbasic.train.detection import DetectorSpec, register_detector
from deepbasic.vision.boxes import elementwise_box_iou, xywh_to_xyxy


# ----- targets ------------------------------------------------------------------------------------
def pack_targets(scenes, max_objects: int | None = None) -> np.ndarray:
    """The ground truth of ``scenes`` as one array (N, M, 5) float32: per object ``x1, y1, x2,
    y2`` (pixels, x2 exclusive) and its label; rows past an image's objects hold label -1 (and
    zero boxes). M = ``max_objects`` (default: the most objects in one scene, at least 1)."""
    counts = [len(lab) for lab in scenes.labels]
    m = max(max(counts, default=0), 1) if max_objects is None else int(max_objects)
    if counts and max(counts) > m:
        raise ValueError(f"pack_targets: a scene has {max(counts)} objects, more than "
                         f"max_objects={m}")
    out = np.zeros((len(counts), m, 5), np.float32)
    out[..., 4] = -1
    for i, (b, lab) in enumerate(zip(scenes.boxes, scenes.labels)):
        k = len(lab)
        if k:
            out[i, :k, :4] = xywh_to_xyxy(np.asarray(b, np.float64).reshape(-1, 4))
            out[i, :k, 4] = lab
    return out


def shape_iou(wh_a, wh_b):
    """IoU of box shapes centred on the same point: wh_a (..., 2), wh_b (..., 2) broadcast ->
    (...). min(wa, wb) * min(ha, hb) / (wa ha + wb hb - that)."""
    xp = backend.get_array_module(wh_a, wh_b)
    inter = xp.minimum(wh_a[..., 0], wh_b[..., 0]) * xp.minimum(wh_a[..., 1], wh_b[..., 1])
    union = wh_a[..., 0] * wh_a[..., 1] + wh_b[..., 0] * wh_b[..., 1] - inter
    return xp.where(union > 0, inter / xp.where(union > 0, union, 1), 0)


def assign_targets(targets, grid_size: int, stride: float, anchors) -> dict:
    """Assign every ground-truth box of a batch to one (cell, anchor) prediction.

    targets: (N, M, 5) from :func:`pack_targets` (pixels). anchors: (A, 2) in grid cells.
    Returns a dict of arrays, one entry per assigned box (P of them), in increasing ``index``:

    - ``index`` (P,) int64: the prediction row in the flattened (N * S*S*A) predictions,
      ``n * S*S*A + (cy * S + cx) * A + a``; ``image`` (P,) its image n; ``cell`` (P, 2) its
      (cx, cy) cell, ``anchor`` (P,) its anchor a;
    - ``boxes`` (P, 4) the box in pixels (xyxy), ``labels`` (P,) int64;
    - ``t`` (P, 4): the regression targets (offset x, offset y in [0, 1), log(w / anchor_w),
      log(h / anchor_h)).

    Boxes are first clipped to the image (``grid_size * stride`` pixels square): a box partly
    outside is trained on its visible part, one entirely outside (or with no area, or label < 0:
    padding) is skipped. A box whose centre lies on the image border goes to the nearest cell.
    An image without boxes (an empty scene) gets no assignment: all its predictions are
    trained as background. When two boxes get the same prediction, the one earlier in
    the scene keeps it.
    """
    t = np.asarray(backend.to_numpy(targets), dtype=np.float64)
    if t.ndim != 3 or t.shape[2] != 5:
        raise ValueError(f"assign_targets: targets must have shape (N, M, 5), got {t.shape}")
    anchors = np.asarray(anchors, dtype=np.float64)
    a = len(anchors)
    per_image = grid_size * grid_size * a
    boxes = np.clip(t[..., :4], 0.0, grid_size * stride)
    wh = boxes[..., 2:] - boxes[..., :2]
    valid = (t[..., 4] >= 0) & (wh[..., 0] > 0) & (wh[..., 1] > 0)
    n_idx, m_idx = np.nonzero(valid)                       # row-major: image, then object order
    b = boxes[n_idx, m_idx] / stride                       # grid units
    size = b[:, 2:] - b[:, :2]
    centre = 0.5 * (b[:, :2] + b[:, 2:])
    cell = np.clip(np.floor(centre), 0, grid_size - 1).astype(np.int64)
    best = shape_iou(size[:, None, :], anchors[None, :, :]).argmax(axis=1).astype(np.int64)
    index = n_idx * per_image + (cell[:, 1] * grid_size + cell[:, 0]) * a + best
    index, first = np.unique(index, return_index=True)    # the earliest box wins a prediction
    cell, best, centre, size = cell[first], best[first], centre[first], size[first]
    offset = np.clip(centre - cell, 0.0, 1.0)
    return {"index": index.astype(np.int64), "image": n_idx[first].astype(np.int64),
            "cell": cell, "anchor": best,
            "boxes": boxes[n_idx[first], m_idx[first]],
            "labels": t[n_idx[first], m_idx[first], 4].astype(np.int64),
            "t": np.concatenate([offset, np.log(size / anchors[best])], axis=1)}


def ignore_mask(pred_boxes, targets, ignore_iou: float) -> np.ndarray:
    """(N, P) bool: predictions whose box (N, P, 4 pixels xyxy) has IoU > ``ignore_iou`` with a
    ground-truth box (targets (N, M, 5)) of their image."""
    t = np.asarray(backend.to_numpy(targets), dtype=np.float64)
    iou = elementwise_box_iou(np.asarray(pred_boxes, np.float64)[:, :, None, :],
                              t[:, None, :, :4])               # (N, P, M)
    iou = np.where((t[:, None, :, 4] >= 0), iou, 0.0)
    if iou.shape[2] == 0:
        return np.zeros(iou.shape[:2], bool)
    return iou.max(axis=2) > ignore_iou


# ----- loss ---------------------------------------------------------------------------------------
def yolo_loss(raw, targets, grid_size: int, stride: float, anchors, *, ignore_iou: float = 0.5,
              box_weight: float = 5.0, return_parts: bool = False):
    """The YOLO loss (see the module docstring) of raw predictions (N, S*S*A, 5 + C) (a Tensor)
    against packed targets (N, M, 5). Returns a scalar Tensor (with ``return_parts``: also a
    dict of the box, objectness and class terms as floats)."""
    from deepbasic.models.yolo import decode_predictions
    from deepbasic.nn import functional as F

    n, rows, k = raw.shape
    a = len(anchors)
    if rows != grid_size * grid_size * a:
        raise ValueError(f"yolo_loss: {rows} predictions per image do not match a {grid_size}x"
                         f"{grid_size} grid with {a} anchors")
    xp = backend.get_array_module(raw.data)
    dtype = raw.data.dtype
    asg = assign_targets(targets, grid_size, stride, anchors)
    p = len(asg["index"])
    norm = float(max(p, 1))
    flat = raw.reshape(n * rows, k)

    # objectness on every prediction, with the ignore rule for unassigned ones
    obj_target = np.zeros(n * rows)
    obj_target[asg["index"]] = 1.0
    pred_boxes = decode_predictions(backend.to_numpy(raw.data).astype(np.float64), grid_size,
                                    stride, anchors)
    weight = (~ignore_mask(pred_boxes, targets, ignore_iou)).reshape(-1).astype(np.float64)
    weight[asg["index"]] = 1.0
    obj = F.binary_cross_entropy_with_logits(
        flat[:, 4], Tensor._make(xp.asarray(obj_target, dtype=dtype)), reduction="none")
    obj_loss = (obj * Tensor._make(xp.asarray(weight, dtype=dtype))).sum() / norm

    if p:
        pos = flat[asg["index"]]                                           # (P, 5 + C)
        t = Tensor._make(xp.asarray(asg["t"], dtype=dtype))
        xy = pos[:, 0:2].sigmoid() - t[:, 0:2]
        twh = pos[:, 2:4] - t[:, 2:4]
        box_loss = ((xy * xy).sum() + (twh * twh).sum()) * (box_weight / norm)
        cls_loss = F.cross_entropy(pos[:, 5:], Tensor._make(xp.asarray(asg["labels"])),
                                   reduction="sum") / norm
        loss = obj_loss + box_loss + cls_loss
    else:
        box_loss = cls_loss = None
        loss = obj_loss
    if return_parts:
        parts = {"box": float(box_loss.item()) if p else 0.0, "objectness": float(obj_loss.item()),
                 "class": float(cls_loss.item()) if p else 0.0, "assigned": p}
        return loss, parts
    return loss


# ----- data ---------------------------------------------------------------------------------------
class DetectionLoader(DataLoader):
    """Minibatches ``(images, targets)`` of scenes: images (B, 3, H, W) float32 and packed targets
    (B, M, 5) (:func:`pack_targets`), as tensors. ``flip``: mirror each image left-right with
    probability 1/2 (boxes mirrored with it), a new draw every epoch (seeded by seed and epoch,
    like the shuffling)."""

    def __init__(self, scenes, batch_size: int = 32, shuffle: bool = False, seed: int | None = None,
                 flip: bool = False, max_objects: int | None = None):
        super().__init__((np.asarray(scenes.images, np.float32),
                          pack_targets(scenes, max_objects)),
                         batch_size=batch_size, shuffle=shuffle, seed=seed)
        self.flip = flip

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.x)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        flips = rng.random(n) < 0.5 if self.flip else np.zeros(n, bool)
        width = self.x.shape[-1]
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            xb, yb = self.x[idx], self.y[idx]
            f = flips[idx]
            if f.any():
                xb, yb = xb.copy(), yb.copy()
                xb[f] = xb[f][..., ::-1]
                real = f[:, None] & (yb[..., 4] >= 0)
                x1 = yb[..., 0].copy()
                yb[..., 0] = np.where(real, width - yb[..., 2], yb[..., 0])
                yb[..., 2] = np.where(real, width - x1, yb[..., 2])
            yield Tensor._make(np.ascontiguousarray(xb)), Tensor._make(yb)


# ----- training -----------------------------------------------------------------------------------
def train_yolo(model, train, val, *, epochs: int = 20, lr: float = 2e-3, batch_size: int = 32,
               seed: int = 0, out_dir: str | None = None, progress: bool = True,
               verbose: bool = True, config: dict | None = None, weight_decay: float = 5e-4,
               augment: bool = True, ignore_iou: float = 0.5, box_weight: float = 5.0,
               clip_grad_norm: float | None = 10.0, schedule: str = "cosine") -> list:
    """Train ``model`` (a :class:`~deepbasic.models.yolo.YOLO`) on the scenes ``train`` with
    AdamW and a ``schedule`` lr schedule (:func:`deepbasic.train.recipes.make_scheduler`),
    validating on ``val``; checkpoints (with ``config``) go to ``out_dir``. Returns the
    Trainer's history."""
    from deepbasic import optim
    from deepbasic.train.recipes import make_scheduler
    from deepbasic.train.trainer import Trainer

    if isinstance(epochs, bool) or int(epochs) != epochs or epochs < 1:
        raise ValueError(f"yolo: epochs must be a positive integer, got {epochs!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"yolo: lr must be a positive number, got {lr!r}")
    m = max(max((len(lab) for lab in s.labels), default=0) for s in (train, val))
    optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = make_scheduler(schedule, optimizer, int(epochs))

    def loss_fn(raw, targets):
        return yolo_loss(raw, targets.data, model.grid_size, model.stride, model.anchors,
                         ignore_iou=ignore_iou, box_weight=box_weight)

    trainer = Trainer(model, loss_fn, optimizer, scheduler, out_dir=out_dir, metrics={},
                      monitor="val_loss", mode="min", progress=progress, config=config,
                      clip_grad_norm=clip_grad_norm, verbose=verbose)
    train_loader = DetectionLoader(train, batch_size, shuffle=True, seed=seed, flip=augment,
                                   max_objects=m)
    val_loader = DetectionLoader(val, 128, max_objects=m)
    return trainer.fit(train_loader, val_loader, epochs=int(epochs))


def build_yolo(num_classes: int, image_size: int, **options):
    """A :class:`~deepbasic.models.yolo.YOLO` for ``num_classes`` classes and square images of
    side ``image_size``, with its objectness biased towards background (prior 1%) so that the
    first steps are not dominated by the many empty cells."""
    from deepbasic.models.yolo import YOLO

    model = YOLO(num_classes, image_size, **options)
    k = 5 + num_classes
    bias = model.head.bias.data
    bias[4::k] = -math.log((1 - 0.01) / 0.01)
    return model


register_detector(DetectorSpec(
    name="yolo",
    description="YOLO-style single stage: CNN to a stride-8 grid (8x8 at 64x64), 3 anchors per "
                "cell (square, tall, wide), objectness x class score, per-class NMS",
    build=build_yolo,
    train=train_yolo,
    defaults={"epochs": 20, "lr": 2e-3, "batch_size": 32, "weight_decay": 5e-4, "augment": True},
    build_defaults={"channels": [16, 32, 64, 128, 128], "stride": 8,
                    "anchors": [[2.0, 2.0], [2.0, 3.0], [3.0, 2.0]]},
))
