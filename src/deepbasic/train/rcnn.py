"""Training the two-stage detectors (:mod:`deepbasic.models.rcnn`) and registering them as
``"rcnn"``, ``"fast-rcnn"``, ``"faster-rcnn"`` and ``"mask-rcnn"`` in the detector registry
(:mod:`deepbasic.train.detection`):

    from deepbasic.train.detection import detection_experiment
    r = detection_experiment("fast-rcnn", train_scenes=1500, epochs=8, out_dir="runs/fast-rcnn")

One loop trains all four (:func:`train_two_stage`): Adam on the sum of the model's losses
(``model.loss``: the box head's classification + regression; Faster / Mask R-CNN add the RPN's
objectness + regression, Mask R-CNN the mask loss), a cosine learning-rate schedule stepped per
epoch, the mean validation loss after each epoch and an atomic checkpoint
(``out_dir/last.safetensors``, with the run's configuration and history in its metadata).

R-CNN and Fast R-CNN train on selective-search proposals: those of a scene set are computed once
(:func:`scene_proposals`) and cached in memory, keyed by a hash of the images, so validation and
repeated runs reuse them. ``detect`` never uses this cache: its time per image includes the
proposals, as it must to compare R-CNN with Fast R-CNN.
"""
from __future__ import annotations

import hashlib
import os
import time

import numpy as np

from deepbasic import backend
from deepbasic.models.rcnn import (RCNN, FasterRCNN, FastRCNN, MaskRCNN,
                                   selective_search_proposals)
from deepbasic.optim import Adam
from deepbasic.tensor import no_grad
from deepbasic.train.checkpoint import save_checkpoint
from deepbasic.train.detection import DetectorSpec, register_detector
from deepbasic.train.recipes import make_scheduler
from deepbasic.vision.boxes import xywh_to_xyxy

_PROPOSAL_CACHE: dict = {}


def scene_proposals(scenes, max_proposals: int = 200, mode: str = "fast") -> list[np.ndarray]:
    """Selective-search proposals of every scene's image (list of (P_i, 4) xyxy float64),
    computed once per set of images and cached in memory."""
    images = np.ascontiguousarray(scenes.images)
    key = (hashlib.sha1(images.tobytes()).hexdigest(), images.shape, int(max_proposals), mode)
    if key not in _PROPOSAL_CACHE:
        _PROPOSAL_CACHE[key] = selective_search_proposals(images, max_proposals, mode)
    return _PROPOSAL_CACHE[key]


def clear_proposal_cache() -> None:
    _PROPOSAL_CACHE.clear()


def scene_targets(scenes, masks: bool = False) -> list[dict]:
    """Each scene's ground truth for ``model.loss``: ``{"boxes": (G, 4) xyxy float64, "labels":
    (G,) int64[, "masks": (G, H, W) bool]}``."""
    out = []
    for i in range(len(scenes)):
        t = {"boxes": xywh_to_xyxy(np.asarray(scenes.boxes[i], np.float64).reshape(-1, 4)),
             "labels": np.asarray(scenes.labels[i], np.int64)}
        if masks:
            t["masks"] = np.asarray(scenes.instance_masks[i], bool)
        out.append(t)
    return out


def _batch_losses(model, images, targets, proposals, rng):
    losses = model.loss(images, targets, proposals, rng=rng)
    total = None
    for v in losses.values():
        total = v if total is None else total + v
    return total, {k: float(v.item()) for k, v in losses.items()}


def train_two_stage(model, train, val, *, epochs: int = 8, lr: float = 1e-3, batch_size: int = 8,
                    seed: int = 0, out_dir: str | None = None, progress: bool = True,
                    verbose: bool = True, config: dict | None = None, weight_decay: float = 0.0,
                    val_limit: int = 200, schedule: str = "cosine") -> list[dict]:
    """Train a two-stage detector on :class:`~deepbasic.data.shapes.Scenes` (the registry's
    ``train``). Returns the per-epoch history: epoch, train_loss (and each loss's mean), val_loss,
    lr, seconds."""
    masks = isinstance(model, MaskRCNN)
    rng = np.random.default_rng(seed)
    targets = scene_targets(train, masks)
    val = val[:val_limit] if val is not None and len(val) else None
    val_targets = scene_targets(val, masks) if val is not None else None
    proposals = val_proposals = None
    if model.uses_selective_search:
        start = time.perf_counter()
        proposals = scene_proposals(train, model.max_proposals)
        val_proposals = scene_proposals(val, model.max_proposals) if val is not None else None
        if verbose:
            print(f"selective search proposals: {len(train) + (len(val) if val else 0)} images "
                  f"in {time.perf_counter() - start:.1f}s")
    optimizer = Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = make_scheduler(schedule, optimizer, int(epochs))
    history = []
    n = len(train)
    for epoch in range(1, int(epochs) + 1):
        start = time.perf_counter()
        model.train()
        order = rng.permutation(n)
        sums, steps = {}, 0
        for b in range(0, n, batch_size):
            idx = order[b:b + batch_size]
            total, parts = _batch_losses(model, train.images[idx], [targets[i] for i in idx],
                                         [proposals[i] for i in idx] if proposals else None, rng)
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
            if progress and verbose and steps % 50 == 0:
                print(f"  epoch {epoch} step {steps}: loss {sum(parts.values()):.4f}", flush=True)
        row = {"epoch": epoch, "train_loss": sum(sums.values()) / max(steps, 1),
               **{f"train_{k}": v / max(steps, 1) for k, v in sums.items()},
               "lr": optimizer.param_groups[0]["lr"]}
        if val is not None:
            row["val_loss"] = _validation_loss(model, val, val_targets, val_proposals,
                                               batch_size, seed)
        if scheduler is not None:
            scheduler.step()
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        if verbose:
            print(f"epoch {epoch}/{epochs}: train loss {row['train_loss']:.4f}"
                  + (f", val loss {row['val_loss']:.4f}" if "val_loss" in row else "")
                  + f" ({row['seconds']:.1f}s)", flush=True)
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            save_checkpoint(os.path.join(out_dir, "last.safetensors"), model, optimizer,
                            scheduler, epoch, extra={"config": config or {}, "history": history})
    model.eval()
    return history


def _validation_loss(model, val, targets, proposals, batch_size, seed) -> float:
    """Mean total loss over the validation scenes, in training mode's sampling but without
    gradients (fixed seed, so epochs are comparable)."""
    rng = np.random.default_rng([seed, 1])
    model.eval()
    total, count = 0.0, 0
    with no_grad():
        for b in range(0, len(val), batch_size):
            sl = slice(b, b + batch_size)
            loss, _ = _batch_losses(model, val.images[sl], targets[sl],
                                    proposals[sl] if proposals else None, rng)
            total += float(backend.to_numpy(loss.data)) * len(targets[sl])
            count += len(targets[sl])
    model.train()
    return total / max(count, 1)


_TRAIN_DEFAULTS = {"epochs": 8, "lr": 1e-3, "batch_size": 8}

register_detector(DetectorSpec(
    "rcnn", "R-CNN: selective search, each proposal warped to 32x32 and classified by its own "
    "CNN pass (softmax + class-specific box regression)",
    build=lambda num_classes, image_size, **kw: RCNN(num_classes, image_size, **kw),
    train=train_two_stage, defaults=dict(_TRAIN_DEFAULTS)))
register_detector(DetectorSpec(
    "fast-rcnn", "Fast R-CNN: selective search, one conv pass per image, RoI max pooling, shared "
    "class and box heads",
    build=lambda num_classes, image_size, **kw: FastRCNN(num_classes, image_size, **kw),
    train=train_two_stage, defaults=dict(_TRAIN_DEFAULTS)))
register_detector(DetectorSpec(
    "faster-rcnn", "Faster R-CNN: a region proposal network with anchors on the backbone, "
    "RoIAlign, the Fast R-CNN head; trained jointly",
    build=lambda num_classes, image_size, **kw: FasterRCNN(num_classes, image_size, **kw),
    train=train_two_stage, defaults=dict(_TRAIN_DEFAULTS)))
register_detector(DetectorSpec(
    "mask-rcnn", "Mask R-CNN: Faster R-CNN plus a per-box mask head (convs + transposed conv on "
    "RoIAlign features, per-class sigmoid masks)",
    build=lambda num_classes, image_size, **kw: MaskRCNN(num_classes, image_size, **kw),
    train=train_two_stage, defaults=dict(_TRAIN_DEFAULTS), masks=True))
