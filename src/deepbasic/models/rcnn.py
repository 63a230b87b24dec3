"""The two-stage detectors: R-CNN, Fast R-CNN, Faster R-CNN and Mask R-CNN, small enough for
generated 64 x 64 scenes.

    model = FastRCNN(num_classes=4)
    model.detect(images)   # [{"boxes": (K, 4) xyxy, "scores": (K,), "labels": (K,)}, ...]
    losses = model.loss(images, targets, proposals)   # {"cls": Tensor, "box": Tensor}

All four share the pieces below and differ only in where the regions come from and how each
region's features are computed:

=============  ===============================  ==============================================
model          regions                          features of a region
=============  ===============================  ==============================================
RCNN           selective search                 the image crop, warped (bilinear) to S x S, run
                                                through its own CNN: one CNN pass per region
FastRCNN       selective search                 RoI max pooling of ONE backbone pass per image
FasterRCNN     a region proposal network (RPN)  RoIAlign of the backbone's feature map, shared
               on the backbone's feature map    with the RPN
MaskRCNN       as Faster R-CNN                  as Faster R-CNN, plus a mask head per region
=============  ===============================  ==============================================

Every region then goes through the same :class:`BoxHead`: num_classes + 1 scores (index 0 is the
background, class k is index k + 1) and class-specific box deltas (num_classes * 4, the R-CNN
parameterization of :func:`deepbasic.vision.boxes.encode_boxes` with weights :data:`BOX_WEIGHTS`).
Detection (:func:`postprocess`) scores every region, decodes one box per class, drops scores
below ``score_threshold``, runs per-class NMS and keeps the ``max_detections`` best.

Training targets (:func:`assign_proposals`): a region is positive (its best ground-truth box's
class) when its IoU with that box is >= 0.5, background below; a balanced minibatch of regions per
image is drawn by :func:`~deepbasic.vision.anchors.sample_balanced`. The losses
(:func:`fast_rcnn_loss`, :func:`rpn_loss`, :func:`mask_loss`) are written with deepbasic
operations, so autograd differentiates them.

Boxes are xyxy pixel corners with an exclusive end (``x2 - x1`` is the width), as in
:mod:`deepbasic.vision.boxes`.
"""
from __future__ import annotations

import numpy as np

from deepbasic import backend, nn
from deepbasic.nn import functional as F
from deepbasic.tensor import Tensor, no_grad
from deepbasic.vision.anchors import make_anchors, match_anchors, sample_balanced
from deepbasic.vision.boxes import batched_nms, clip_boxes, decode_boxes, encode_boxes, nms
from deepbasic.vision.roi import boxes_to_rois, roi_align, roi_pool
from deepbasic.vision.selective_search import selective_search

#: weights of the box head's regression targets (Fast R-CNN's)
BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
#: weights of the RPN's regression targets
RPN_WEIGHTS = (1.0, 1.0, 1.0, 1.0)


# ----- proposals and crops ------------------------------------------------------------------------
def selective_search_proposals(images, max_proposals: int | None = 200, mode: str = "fast",
                               min_box_size: int = 2) -> list[np.ndarray]:
    """Selective-search proposals of each image (N, 3, H, W): a list of N (P_i, 4) float64 xyxy
    arrays, the best-ranked first (at most ``max_proposals``)."""
    return [selective_search(im, mode=mode, max_proposals=max_proposals,
                             min_box_size=min_box_size).astype(np.float64) for im in images]


def _bilinear_matrix(coords: np.ndarray, in_size: int, valid: np.ndarray | None = None):
    """Interpolation matrices (K, O, in_size): row o samples position ``coords[k, o]`` (in pixel
    index units, clamped to [0, in_size - 1]) by linear interpolation of its two neighbours;
    rows where ``valid`` is False are zero."""
    c = np.clip(coords, 0.0, in_size - 1.0)
    lo = np.floor(c).astype(np.int64)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = c - lo
    k, o = coords.shape
    m = np.zeros((k, o, in_size), np.float64)
    ki, oi = np.meshgrid(np.arange(k), np.arange(o), indexing="ij")
    np.add.at(m, (ki, oi, lo), 1.0 - frac)
    np.add.at(m, (ki, oi, hi), frac)
    if valid is not None:
        m *= valid[..., None]
    return m


def warp_crops(images, rois, size: int = 32) -> np.ndarray:
    """R-CNN's warp: each RoI's crop of its image resampled (bilinear) to ``size`` x ``size``.

    images: (N, C, H, W) array; rois: (K, 5) rows (batch index, x1, y1, x2, y2). Output pixel
    (i, j) samples the image at ((x1 + (j + 0.5) w / size - 0.5), (y1 + (i + 0.5) h / size - 0.5))
    in pixel-index coordinates (pixel centres), clamped at the border: the same points as
    ``roi_align(..., sampling_ratio=1, aligned=True)``. Vectorized over RoIs as two batched
    matrix products (rows, then columns). Returns (K, C, size, size) float32.
    """
    images = np.asarray(images)
    r = np.asarray(rois, np.float64).reshape(-1, 5)
    n, c, h, w = images.shape
    if len(r) == 0:
        return np.zeros((0, c, size, size), np.float32)
    steps = (np.arange(size) + 0.5) / size
    ys = r[:, 2:3] + steps[None] * (r[:, 4:5] - r[:, 2:3]) - 0.5
    xs = r[:, 1:2] + steps[None] * (r[:, 3:4] - r[:, 1:2]) - 0.5
    my = _bilinear_matrix(ys, h).astype(np.float32)            # (K, S, H)
    mx = _bilinear_matrix(xs, w).astype(np.float32)            # (K, S, W)
    crops = images[r[:, 0].astype(np.int64)].astype(np.float32)  # (K, C, H, W)
    return np.matmul(np.matmul(my[:, None], crops), mx[:, None].transpose(0, 1, 3, 2))


def paste_masks(masks, boxes, height: int, width: int, threshold: float = 0.5) -> np.ndarray:
    """Mask R-CNN's paste: each (M, M) mask probability map resized (bilinear) into its box of an
    (height, width) image and thresholded. masks: (K, M, M); boxes: (K, 4) xyxy. Pixels whose
    centre lies outside the box are False. Returns (K, height, width) bool."""
    masks = np.asarray(masks, np.float64)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    k = len(boxes)
    if k == 0:
        return np.zeros((0, height, width), bool)
    m = masks.shape[-1]
    px = np.arange(width) + 0.5
    py = np.arange(height) + 0.5
    bw = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)[:, None]
    bh = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)[:, None]
    u = (px[None] - boxes[:, :1]) / bw * m - 0.5
    v = (py[None] - boxes[:, 1:2]) / bh * m - 0.5
    in_x = (px[None] >= boxes[:, :1]) & (px[None] < boxes[:, 2:3])
    in_y = (py[None] >= boxes[:, 1:2]) & (py[None] < boxes[:, 3:4])
    mx = _bilinear_matrix(u, m, in_x)                           # (K, W, M)
    my = _bilinear_matrix(v, m, in_y)                           # (K, H, M)
    full = np.matmul(np.matmul(my, masks), mx.transpose(0, 2, 1))
    return full >= threshold


# ----- training targets ---------------------------------------------------------------------------
def assign_proposals(proposals, gt_boxes, gt_labels, num_samples: int = 32,
                     positive_fraction: float = 0.25, iou_threshold: float = 0.5, rng=None,
                     add_ground_truth: bool = True):
    """Label proposals for the box head and draw a balanced minibatch of them.

    proposals: (P, 4) xyxy; gt_boxes: (G, 4) xyxy; gt_labels: (G,) class ids from 0. A proposal
    whose best IoU with a ground-truth box is >= ``iou_threshold`` is a positive of that box's
    class, the others are background. The ground-truth boxes themselves are added as proposals
    (``add_ground_truth``), so every image has positives. Returns ``(boxes (S, 4), labels (S,)
    int64 with 0 = background and k + 1 = class k, targets (S, 4) encoded with BOX_WEIGHTS (0 for
    background), matched (S,) int64 ground-truth index (-1 for background))``; positives first.
    """
    props = np.asarray(proposals, np.float64).reshape(-1, 4)
    gt = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    gl = np.asarray(gt_labels, np.int64).reshape(-1)
    if add_ground_truth and len(gt):
        props = np.concatenate([props, gt])
    wh = props[:, 2:] - props[:, :2]
    props = props[(wh > 0).all(axis=1)]
    flags, matched = match_anchors(props, gt, iou_threshold, iou_threshold,
                                   allow_low_quality=False)
    pos, neg = sample_balanced(flags, num_samples, positive_fraction, rng)
    idx = np.concatenate([pos, neg])
    boxes = props[idx]
    labels = np.zeros(len(idx), np.int64)
    targets = np.zeros((len(idx), 4), np.float64)
    match = np.full(len(idx), -1, np.int64)
    if len(pos):
        labels[:len(pos)] = gl[matched[pos]] + 1
        targets[:len(pos)] = encode_boxes(props[pos], gt[matched[pos]], BOX_WEIGHTS)
        match[:len(pos)] = matched[pos]
    return boxes, labels, targets, match


# ----- losses -------------------------------------------------------------------------------------
def smooth_l1(input, target, beta: float = 1.0) -> Tensor:
    """Summed smooth-L1 (Huber) loss: 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta beyond,
    d = input - target. Written as ``m = min(|d|, beta); 0.5 m^2 / beta + (|d| - m)``."""
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target), dtype=input.dtype)
    d = (input - target).abs()
    m = d.clamp(max=beta)
    return (m * m * (0.5 / beta) + (d - m)).sum()


def fast_rcnn_loss(class_logits, box_deltas, labels, box_targets, beta: float = 1.0):
    """The box head's losses: ``(classification, regression)``.

    class_logits: (R, C + 1) Tensor; box_deltas: (R, 4C) Tensor; labels: (R,) int (0 =
    background); box_targets: (R, 4). Classification: mean softmax cross-entropy over all R
    regions. Regression: smooth-L1 between each positive region's deltas FOR ITS CLASS and its
    target, summed and divided by R (Fast R-CNN / torchvision)."""
    labels = np.asarray(labels, np.int64)
    r = len(labels)
    cls = F.cross_entropy(class_logits, labels)
    pos = np.flatnonzero(labels > 0)
    if len(pos) == 0:
        return cls, (box_deltas * 0.0).sum()
    deltas = box_deltas.reshape(r, -1, 4)[pos, labels[pos] - 1]
    tgt = np.asarray(box_targets, np.float64)[pos]
    return cls, smooth_l1(deltas, tgt.astype(deltas.dtype), beta) * (1.0 / max(r, 1))


def rpn_loss(objectness, deltas, labels, targets, beta: float = 1.0 / 9):
    """The RPN's losses over its sampled anchors: ``(objectness, regression)``.

    objectness: (S,) logits Tensor; deltas: (S, 4) Tensor; labels: (S,) 1 object / 0 background;
    targets: (S, 4) (used where labels == 1). Objectness: mean binary cross-entropy; regression:
    smooth-L1 (beta 1/9, as Faster R-CNN) over the positives, divided by S."""
    labels = np.asarray(labels)
    s = len(labels)
    obj = F.binary_cross_entropy_with_logits(
        objectness, Tensor(labels.astype(np.float64), dtype=objectness.dtype))
    pos = np.flatnonzero(labels == 1)
    if len(pos) == 0:
        return obj, (deltas * 0.0).sum()
    tgt = np.asarray(targets, np.float64)[pos]
    return obj, smooth_l1(deltas[pos], tgt.astype(deltas.dtype), beta) * (1.0 / max(s, 1))


def mask_loss(mask_logits, labels, targets):
    """Mask R-CNN's mask loss: mean per-pixel binary cross-entropy of the mask of each positive
    region's OWN class. mask_logits: (R, C, M, M) Tensor; labels: (R,) classes 1..C; targets:
    (R, M, M) in {0, 1}."""
    labels = np.asarray(labels, np.int64)
    picked = mask_logits[np.arange(len(labels)), labels - 1]
    tgt = Tensor(np.asarray(targets, np.float64), dtype=mask_logits.dtype)
    return F.binary_cross_entropy_with_logits(picked, tgt)


# ----- building blocks ----------------------------------------------------------------------------
def conv_stack(in_channels: int, channels=(16, 32, 64)) -> nn.Sequential:
    """conv3x3-ReLU blocks, a 2x2 max pool after each block but the last: stride 2^(blocks-1)."""
    layers, c = [], in_channels
    for i, out in enumerate(channels):
        layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU()]
        if i < len(channels) - 1:
            layers.append(nn.MaxPool2d(2))
        c = out
    return nn.Sequential(*layers)


class BoxHead(nn.Module):
    """Flattened region features -> a hidden ReLU layer -> class scores (C + 1) and
    class-specific box deltas (4C)."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 256):
        super().__init__()
        self.num_classes = num_classes
        self.fc = nn.Linear(in_features, hidden)
        self.cls_score = nn.Linear(hidden, num_classes + 1)
        self.bbox_pred = nn.Linear(hidden, 4 * num_classes)

    def forward(self, x):
        h = self.fc(x.reshape(x.shape[0], -1)).relu()
        return self.cls_score(h), self.bbox_pred(h)


def postprocess(proposals, class_logits, box_deltas, height: int, width: int,
                score_threshold: float = 0.05, nms_iou: float = 0.5,
                max_detections: int = 100) -> dict:
    """One image's detections from its regions' head outputs: (P, 4) proposals, (P, C + 1)
    logits and (P, 4C) deltas (arrays) -> ``{"boxes", "scores", "labels"}`` (see the module
    docstring), plus ``"keep"``: the region each detection came from."""
    p = len(proposals)
    logits = np.asarray(class_logits, np.float64).reshape(p, -1)
    c = logits.shape[1] - 1
    if p == 0:
        return _empty()
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    boxes = decode_boxes(np.asarray(proposals, np.float64)[:, None],
                         np.asarray(box_deltas, np.float64).reshape(p, c, 4), BOX_WEIGHTS)
    boxes = clip_boxes(boxes, height, width).reshape(-1, 4)
    scores = probs[:, 1:].reshape(-1)
    labels = np.tile(np.arange(c), p)
    region = np.repeat(np.arange(p), c)
    wh = boxes[:, 2:] - boxes[:, :2]
    ok = np.flatnonzero((scores >= score_threshold) & (wh >= 1e-2).all(axis=1))
    keep = ok[batched_nms(boxes[ok], scores[ok], labels[ok], nms_iou)][:max_detections]
    return {"boxes": boxes[keep].astype(np.float32), "scores": scores[keep].astype(np.float32),
            "labels": labels[keep].astype(np.int64), "keep": region[keep]}


def _empty(height: int | None = None, width: int | None = None) -> dict:
    out = {"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros(0, np.float32),
           "labels": np.zeros(0, np.int64), "keep": np.zeros(0, np.int64)}
    if height is not None:
        out["masks"] = np.zeros((0, height, width), bool)
    return out


class TwoStageDetector(nn.Module):
    """What the four detectors share: the box head, the postprocessing and ``detect``.

    Subclasses implement ``_detect(images ndarray) -> list of dicts`` and
    ``loss(images, targets, proposals=None, rng=None) -> dict of loss Tensors``; ``targets`` is
    a list of dicts with ``"boxes"`` (G, 4) xyxy, ``"labels"`` (G,) and (Mask R-CNN)
    ``"masks"`` (G, H, W) bool."""

    #: whether training needs selective-search proposals (R-CNN, Fast R-CNN)
    uses_selective_search = False

    def __init__(self, num_classes: int, image_size: int, score_threshold: float = 0.05,
                 nms_iou: float = 0.5, max_detections: int = 100):
        super().__init__()
        self.num_classes = int(num_classes)
        self.image_size = int(image_size)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_detections = int(max_detections)

    def detect(self, images) -> list[dict]:
        """Detections of images (N, 3, H, W): one dict per image (boxes, scores, labels[, masks])
        in evaluation mode without gradients (the mode is restored)."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"detect: images must have shape (N, 3, H, W), got {images.shape}")
        if len(images) == 0:
            return []
        was = self.training
        self.eval()
        try:
            with no_grad():
                dets = self._detect(images)
        finally:
            self.train(was)
        for d in dets:
            d.pop("keep", None)
        return dets

    def _post(self, proposals, logits, deltas, height, width):
        return postprocess(proposals, logits, deltas, height, width, self.score_threshold,
                           self.nms_iou, self.max_detections)

    def _post_images(self, props, logits, deltas, height, width) -> list:
        """:meth:`_post` per image, ``logits`` / ``deltas`` holding the rows of all images'
        proposals ``props`` (a list of (P_i, 4)) in order."""
        out, start = [], 0
        for p in props:
            out.append(self._post(p, logits[start:start + len(p)], deltas[start:start + len(p)],
                                  height, width))
            start += len(p)
        return out

    def _sample(self, proposals, targets, rng):
        """assign_proposals for each image: (rois (R, 5), labels (R,), box targets (R, 4),
        matched ground truth (R,) as indices into the batch's concatenated ground truth)."""
        rois, labels, tgts, matched, offset = [], [], [], [], 0
        for i, (props, t) in enumerate(zip(proposals, targets)):
            b, lab, tg, m = assign_proposals(props, t["boxes"], t["labels"], self.rois_per_image,
                                             self.positive_fraction, rng=rng)
            rois.append(np.concatenate([np.full((len(b), 1), float(i)), b], axis=1))
            labels.append(lab)
            tgts.append(tg)
            matched.append(np.where(m >= 0, m + offset, -1))
            offset += len(t["boxes"])
        return (np.concatenate(rois), np.concatenate(labels), np.concatenate(tgts),
                np.concatenate(matched))


def _tensor(images) -> Tensor:
    return Tensor._make(np.ascontiguousarray(images, np.float32))


# ----- R-CNN --------------------------------------------------------------------------------------
class RCNN(TwoStageDetector):
    """R-CNN (Girshick et al. 2014): every selective-search proposal is cropped, warped to
    ``crop_size`` x ``crop_size`` and classified by its own CNN pass (conv stack + 2x2 max pool +
    :class:`BoxHead`); the CNN is trained end to end with softmax and box regression (as Fast
    R-CNN's head, instead of the paper's SVMs and separate regressors)."""

    uses_selective_search = True

    def __init__(self, num_classes: int, image_size: int = 64, crop_size: int = 32,
                 channels=(16, 32, 64), hidden: int = 256, max_proposals: int = 200,
                 rois_per_image: int = 32, positive_fraction: float = 0.25,
                 chunk: int = 512, **kwargs):
        super().__init__(num_classes, image_size, **kwargs)
        self.crop_size, self.max_proposals = int(crop_size), int(max_proposals)
        self.rois_per_image, self.positive_fraction = int(rois_per_image), positive_fraction
        self.chunk = int(chunk)
        self.features = conv_stack(3, channels)
        self.pool = nn.MaxPool2d(2)
        side = self.crop_size // 2 ** (len(channels) - 1) // 2
        self.head = BoxHead(channels[-1] * side * side, num_classes, hidden)

    def forward(self, crops):
        """Warped crops (K, 3, S, S) Tensor -> (class logits (K, C + 1), deltas (K, 4C))."""
        return self.head(self.pool(self.features(crops)))

    def score_rois(self, images, rois):
        crops = warp_crops(images, rois, self.crop_size)
        return self(_tensor(crops))

    def loss(self, images, targets, proposals=None, rng=None) -> dict:
        rois, labels, tgts, _ = self._sample(proposals, targets, rng)
        logits, deltas = self.score_rois(images, rois)
        cls, box = fast_rcnn_loss(logits, deltas, labels, tgts)
        return {"cls": cls, "box": box}

    def _detect(self, images):
        h, w = images.shape[2:]
        props = selective_search_proposals(images, self.max_proposals)
        rois = boxes_to_rois(props)
        logits, deltas = [], []
        for i in range(0, len(rois), self.chunk):   # one CNN pass per proposal, in chunks
            lg, dl = self.score_rois(images, rois[i:i + self.chunk])
            logits.append(backend.to_numpy(lg.data))
            deltas.append(backend.to_numpy(dl.data))
        logits = np.concatenate(logits) if logits else np.zeros((0, self.num_classes + 1))
        deltas = np.concatenate(deltas) if deltas else np.zeros((0, 4 * self.num_classes))
        return self._post_images(props, logits, deltas, h, w)


# ----- Fast R-CNN ---------------------------------------------------------------------------------
class FastRCNN(TwoStageDetector):
    """Fast R-CNN (Girshick 2015): one backbone pass per image, RoI max pooling
    (:func:`~deepbasic.vision.roi.roi_pool`) of every selective-search proposal on the feature
    map to ``pool_size`` x ``pool_size``, then the shared :class:`BoxHead`."""

    uses_selective_search = True

    def __init__(self, num_classes: int, image_size: int = 64, channels=(16, 32, 64),
                 pool_size: int = 4, hidden: int = 256, max_proposals: int = 200,
                 rois_per_image: int = 32, positive_fraction: float = 0.25, **kwargs):
        super().__init__(num_classes, image_size, **kwargs)
        self.pool_size, self.max_proposals = int(pool_size), int(max_proposals)
        self.rois_per_image, self.positive_fraction = int(rois_per_image), positive_fraction
        self.stride = 2 ** (len(channels) - 1)
        self.backbone = conv_stack(3, channels)
        self.head = BoxHead(channels[-1] * self.pool_size ** 2, num_classes, hidden)

    def forward(self, images, rois):
        """images (N, 3, H, W) Tensor, rois (R, 5) -> (class logits, deltas) of the rois."""
        feats = self.backbone(images)
        pooled = roi_pool(feats, rois, self.pool_size, 1.0 / self.stride)
        return self.head(pooled)

    def loss(self, images, targets, proposals=None, rng=None) -> dict:
        rois, labels, tgts, _ = self._sample(proposals, targets, rng)
        logits, deltas = self(_tensor(images), rois)
        cls, box = fast_rcnn_loss(logits, deltas, labels, tgts)
        return {"cls": cls, "box": box}

    def _detect(self, images):
        h, w = images.shape[2:]
        props = selective_search_proposals(images, self.max_proposals)
        logits, deltas = self(_tensor(images), boxes_to_rois(props))
        logits, deltas = backend.to_numpy(logits.data), backend.to_numpy(deltas.data)
        return self._post_images(props, logits, deltas, h, w)


# ----- Faster R-CNN -------------------------------------------------------------------------------
class RPN(nn.Module):
    """Region proposal network: a 3x3 conv + ReLU on the feature map, then per anchor an
    objectness logit (1x1 conv, A channels) and box deltas (1x1 conv, 4A channels)."""

    def __init__(self, in_channels: int, num_anchors: int, hidden: int = 64):
        super().__init__()
        self.num_anchors = num_anchors
        self.conv = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.objectness = nn.Conv2d(hidden, num_anchors, 1)
        self.deltas = nn.Conv2d(hidden, 4 * num_anchors, 1)

    def forward(self, feats):
        """(N, C, h, w) -> objectness (N, h*w*A), deltas (N, h*w*A, 4) in make_anchors' order
        (y, x, a)."""
        n, _, fh, fw = feats.shape
        t = self.conv(feats).relu()
        obj = self.objectness(t).permute(0, 2, 3, 1).reshape(n, fh * fw * self.num_anchors)
        d = self.deltas(t).permute(0, 2, 3, 1).reshape(n, fh * fw * self.num_anchors, 4)
        return obj, d


class FasterRCNN(TwoStageDetector):
    """Faster R-CNN (Ren et al. 2015): a backbone, an :class:`RPN` on its feature map with
    anchors (:func:`~deepbasic.vision.anchors.make_anchors`), proposals = the decoded top-scoring
    anchors after NMS, then RoIAlign (or RoIPool) of those proposals on the SAME feature map and
    the :class:`BoxHead`. Trained jointly: the sum of the RPN's and the head's losses."""

    def __init__(self, num_classes: int, image_size: int = 64, channels=(16, 32, 64),
                 pool_size: int = 4, hidden: int = 256, anchor_sizes=(8, 16, 32),
                 aspect_ratios=(0.5, 1.0, 2.0), rpn_batch: int = 64, rpn_pre_nms: int = 200,
                 rpn_post_nms: int = 64, rpn_nms_iou: float = 0.7, rois_per_image: int = 32,
                 positive_fraction: float = 0.25, roi_op: str = "align", **kwargs):
        super().__init__(num_classes, image_size, **kwargs)
        if roi_op not in ("align", "pool"):
            raise ValueError(f"FasterRCNN: roi_op must be 'align' or 'pool', got {roi_op!r}")
        self.pool_size, self.roi_op = int(pool_size), roi_op
        self.rpn_batch, self.rpn_pre_nms = int(rpn_batch), int(rpn_pre_nms)
        self.rpn_post_nms, self.rpn_nms_iou = int(rpn_post_nms), float(rpn_nms_iou)
        self.rois_per_image, self.positive_fraction = int(rois_per_image), positive_fraction
        self.stride = 2 ** (len(channels) - 1)
        self.feature_channels = channels[-1]
        fs = -(-self.image_size // self.stride)
        self.anchors = make_anchors((fs, fs), self.stride, anchor_sizes, aspect_ratios)
        self.backbone = conv_stack(3, channels)
        self.rpn = RPN(channels[-1], len(anchor_sizes) * len(aspect_ratios), channels[-1])
        self.head = BoxHead(channels[-1] * self.pool_size ** 2, num_classes, hidden)

    def pool_rois(self, feats, rois, size=None):
        size = size or self.pool_size
        if self.roi_op == "pool":
            return roi_pool(feats, rois, size, 1.0 / self.stride)
        return roi_align(feats, rois, size, 1.0 / self.stride)

    def _anchors_for(self, feats):
        fh, fw = feats.shape[2:]
        if len(self.anchors) != fh * fw * self.rpn.num_anchors:
            raise ValueError(f"{type(self).__name__}: built for {self.image_size}-pixel images, "
                             f"got a {fh}x{fw} feature map")
        return self.anchors

    def propose(self, obj, deltas, anchors, height, width) -> list[np.ndarray]:
        """The RPN's proposals of each image: decode every anchor, clip, keep the
        ``rpn_pre_nms`` best by objectness, NMS at ``rpn_nms_iou``, keep ``rpn_post_nms``."""
        obj = backend.to_numpy(obj.data).astype(np.float64)
        deltas = backend.to_numpy(deltas.data).astype(np.float64)
        out = []
        for o, d in zip(obj, deltas):
            top = np.argsort(-o, kind="stable")[:self.rpn_pre_nms]
            boxes = clip_boxes(decode_boxes(anchors[top], d[top], RPN_WEIGHTS), height, width)
            wh = boxes[:, 2:] - boxes[:, :2]
            ok = np.flatnonzero((wh >= 1.0).all(axis=1))
            keep = ok[nms(boxes[ok], o[top][ok], self.rpn_nms_iou)][:self.rpn_post_nms]
            out.append(boxes[keep])
        return out

    def _rpn_losses(self, obj, deltas, anchors, targets, rng):
        idx_img, idx_anchor, labels, tgts = [], [], [], []
        for i, t in enumerate(targets):
            gt = np.asarray(t["boxes"], np.float64).reshape(-1, 4)
            flags, matched = match_anchors(anchors, gt, 0.7, 0.3, allow_low_quality=True)
            pos, neg = sample_balanced(flags, self.rpn_batch, 0.5, rng)
            sel = np.concatenate([pos, neg])
            idx_img.append(np.full(len(sel), i))
            idx_anchor.append(sel)
            lab = np.zeros(len(sel), np.int64)
            lab[:len(pos)] = 1
            tg = np.zeros((len(sel), 4))
            if len(pos):
                tg[:len(pos)] = encode_boxes(anchors[pos], gt[matched[pos]], RPN_WEIGHTS)
            labels.append(lab)
            tgts.append(tg)
        ii, aa = np.concatenate(idx_img), np.concatenate(idx_anchor)
        return rpn_loss(obj[ii, aa], deltas[ii, aa], np.concatenate(labels), np.concatenate(tgts))

    def _shared(self, images, targets, rng):
        """The RPN and box-head losses of a batch, with what Mask R-CNN's head needs."""
        x = _tensor(images)
        h, w = images.shape[2:]
        feats = self.backbone(x)
        anchors = self._anchors_for(feats)
        obj, deltas = self.rpn(feats)
        rpn_obj, rpn_box = self._rpn_losses(obj, deltas, anchors, targets, rng)
        proposals = self.propose(obj, deltas, anchors, h, w)
        rois, labels, tgts, matched = self._sample(proposals, targets, rng)
        logits, box_deltas = self.head(self.pool_rois(feats, rois))
        cls, box = fast_rcnn_loss(logits, box_deltas, labels, tgts)
        losses = {"rpn_obj": rpn_obj, "rpn_box": rpn_box, "cls": cls, "box": box}
        return losses, feats, rois, labels, matched

    def loss(self, images, targets, proposals=None, rng=None) -> dict:
        return self._shared(images, targets, rng)[0]

    def _detect(self, images):
        return self._detect_boxes(images)[0]

    def _detect_boxes(self, images):
        """(detections, feature map) of a batch."""
        h, w = images.shape[2:]
        feats = self.backbone(_tensor(images))
        anchors = self._anchors_for(feats)
        obj, deltas = self.rpn(feats)
        props = self.propose(obj, deltas, anchors, h, w)
        rois = boxes_to_rois(props)
        if len(rois) == 0:
            return [_empty() for _ in props], feats
        logits, box_deltas = self.head(self.pool_rois(feats, rois))
        logits = backend.to_numpy(logits.data)
        box_deltas = backend.to_numpy(box_deltas.data)
        out, start = [], 0
        for p in props:
            out.append(self._post(p, logits[start:start + len(p)],
                                  box_deltas[start:start + len(p)], h, w))
            start += len(p)
        return out, feats


# ----- Mask R-CNN ---------------------------------------------------------------------------------
class MaskHead(nn.Module):
    """Two conv3x3-ReLU, a 2x2 stride-2 transposed conv + ReLU (doubling the resolution) and a
    1x1 conv to one mask logit map per class: (R, C_in, m, m) -> (R, num_classes, 2m, 2m)."""

    def __init__(self, in_channels: int, num_classes: int, hidden: int = 32):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(),
                                  nn.ConvTranspose2d(hidden, hidden, 2, stride=2), nn.ReLU(),
                                  nn.Conv2d(hidden, num_classes, 1))

    def forward(self, x):
        return self.body(x)


class MaskRCNN(FasterRCNN):
    """Mask R-CNN (He et al. 2017): Faster R-CNN plus a :class:`MaskHead` on RoIAlign features
    (``mask_pool`` x ``mask_pool``) of each box, trained with per-pixel binary cross-entropy of
    its class's sigmoid mask against the ground-truth instance mask resampled into the RoI
    (RoIAlign of the mask itself); at detection each box's mask is pasted back into the image
    (:func:`paste_masks`) and thresholded at 0.5."""

    def __init__(self, num_classes: int, image_size: int = 64, mask_pool: int = 8,
                 mask_hidden: int = 32, mask_threshold: float = 0.5, **kwargs):
        kwargs.setdefault("roi_op", "align")
        super().__init__(num_classes, image_size, **kwargs)
        self.mask_pool, self.mask_threshold = int(mask_pool), float(mask_threshold)
        self.mask_head = MaskHead(self.feature_channels, num_classes, mask_hidden)

    @property
    def mask_size(self) -> int:
        return 2 * self.mask_pool

    def loss(self, images, targets, proposals=None, rng=None) -> dict:
        losses, feats, rois, labels, matched = self._shared(images, targets, rng)
        pos = np.flatnonzero(labels > 0)
        if len(pos) == 0:
            losses["mask"] = (feats * 0.0).sum()
            return losses
        gt_masks = np.concatenate([np.asarray(t["masks"], np.float32).reshape(
            -1, *images.shape[2:]) for t in targets])
        mask_rois = np.concatenate([matched[pos, None].astype(np.float64), rois[pos, 1:]], axis=1)
        with no_grad():
            tgt = roi_align(Tensor(gt_masks[:, None]), mask_rois, self.mask_size, 1.0)
        tgt = (backend.to_numpy(tgt.data)[:, 0] >= 0.5).astype(np.float64)
        logits = self.mask_head(roi_align(feats, rois[pos], self.mask_pool, 1.0 / self.stride))
        losses["mask"] = mask_loss(logits, labels[pos], tgt)
        return losses

    def _detect(self, images):
        h, w = images.shape[2:]
        dets, feats = self._detect_boxes(images)
        boxes = [d["boxes"].astype(np.float64) for d in dets]
        rois = boxes_to_rois(boxes)
        if len(rois):
            logits = self.mask_head(roi_align(feats, rois, self.mask_pool, 1.0 / self.stride))
            probs = 1.0 / (1.0 + np.exp(-backend.to_numpy(logits.data).astype(np.float64)))
            labels = np.concatenate([d["labels"] for d in dets])
            probs = probs[np.arange(len(labels)), labels]
        start = 0
        for d, b in zip(dets, boxes):
            k = len(b)
            d["masks"] = (paste_masks(probs[start:start + k], b, h, w, self.mask_threshold)
                          if k else np.zeros((0, h, w), bool))
            start += k
        return dets
