"""Classification + localization on single-object scenes: what the object is and its box.

    result = localization_experiment(train_images=4000, epochs=10, out_dir="runs/localize")
    result["test_accuracy"], result["test_mean_box_iou"]

Images come from :func:`deepbasic.data.shapes.single_object_dataset` (train, validation and test
drawn with different seeds by :func:`deepbasic.data.shapes.scene_splits`). A
:class:`~deepbasic.models.localizer.Localizer`
trains through the :class:`~deepbasic.train.trainer.Trainer` on the joint loss
``cross_entropy + box_weight * box loss``: the loader yields images and one (N, 5) float32 target
array ``[label, x/W, y/H, w/W, h/H]`` per batch (:func:`~deepbasic.models.localizer.pack_targets`),
so the Trainer's one-tensor targets carry both. Held-out metrics: class accuracy, and the mean over
test images of the IoU of the predicted box with the true box (each image counted once, whatever
its predicted class); also the fraction of images whose box IoU is at least 0.5 and the fraction
both classified right and localized with IoU >= 0.5.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from deepbasic import backend
from deepbasic.data.loader import DataLoader
from deepbasic.serialization import atomic_write
from deepbasic.train.checkpoint import load_checkpoint

#: seeds of the three image sets (train, validation, test): disjoint scenes
#: the name the checkpoints record for this model (``config["model"]``)
MODEL_NAME = "localizer"


def box_iou_per_image(pred_xyxy, true_xyxy) -> np.ndarray:
    """IoU of each predicted box with its true box: (N, 4) and (N, 4) xyxy -> (N,) float64."""
    from deepbasic.vision.boxes import elementwise_box_iou

    return np.asarray(elementwise_box_iou(np.asarray(pred_xyxy, np.float64),
                                          np.asarray(true_xyxy, np.float64)), np.float64)


def _normalized_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """Normalized (x, y, w, h) -> normalized xyxy, widths below 0 taken as 0 (not clipped)."""
    b = np.asarray(boxes, np.float64)
    return np.concatenate([b[:, :2], b[:, :2] + np.maximum(b[:, 2:], 0)], axis=1)


def localization_metrics(outputs, targets, num_classes: int) -> dict:
    """Class accuracy, mean box IoU, the fraction with IoU >= 0.5 and the fraction right on both.

    outputs: (N, num_classes + 4) model outputs; targets: (N, 5) packed ``[label, x, y, w, h]``
    (normalized boxes: IoU does not change when both boxes are scaled alike).
    """
    outputs, targets = np.asarray(outputs, np.float64), np.asarray(targets, np.float64)
    labels = targets[:, 0].astype(np.int64)
    right = outputs[:, :num_classes].argmax(axis=1) == labels
    iou = box_iou_per_image(_normalized_to_xyxy(outputs[:, num_classes:]),
                            _normalized_to_xyxy(targets[:, 1:]))
    return {"accuracy": float(right.mean()), "mean_box_iou": float(iou.mean()),
            "box_iou_50": float((iou >= 0.5).mean()),
            "correct_and_iou_50": float((right & (iou >= 0.5)).mean())}


def localization_experiment(*, train_images: int = 4000, val_images: int = 500,
                            test_images: int = 1000, size: int = 64, epochs: int = 10,
                            lr: float = 2e-3, batch_size: int = 64, channels=(16, 32, 64, 64),
                            hidden: int = 256, box_weight: float = 5.0,
                            box_loss: str = "smooth_l1", beta: float = 0.02, seed: int = 0,
                            out_dir: str | None = None, resume: bool = False,
                            progress: bool = True, verbose: bool = True, examples: int = 12,
                            scene_options: dict | None = None) -> dict:
    """Train a :class:`~deepbasic.models.localizer.Localizer` and measure it on held-out images.

    train/val/test_images: single-object scenes of ``size`` x ``size`` in each split; lr: Adam's
    initial learning rate (cosine schedule); channels, hidden: the network's; box_weight: lambda
    of the joint loss; box_loss: ``"smooth_l1"`` (with ``beta``) or ``"l2"``; scene_options:
    passed to ``single_object_dataset``.

    Returns a dict with ``parameters``, ``train_time_s``, ``history``, ``test_accuracy``,
    ``test_mean_box_iou``, ``test_box_iou_50`` and ``test_correct_and_iou_50``; with ``out_dir``:
    checkpoints, metrics.jsonl, curves.png, ``boxes.png`` (test images with true boxes dashed and
    predicted boxes solid, labelled) and ``result.json``.
    """
    from deepbasic import optim
    from deepbasic.data.shapes import CLASS_NAMES, scene_splits, single_object_dataset
    from deepbasic.models.localizer import BOX_LOSSES, Localizer, localization_loss, pack_targets
    from deepbasic.train.recipes import make_scheduler
    from deepbasic.train.trainer import Trainer

    if box_loss not in BOX_LOSSES:
        raise ValueError(f"localization_experiment: box_loss must be one of "
                         f"{', '.join(BOX_LOSSES)}, got {box_loss!r}")
    if not box_weight >= 0:
        raise ValueError(f"localization_experiment: box_weight must be >= 0, got {box_weight!r}")
    k = len(channels)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16 \
            or size % 2 ** k:
        raise ValueError(f"localization_experiment: size must be a multiple of {2 ** k} of at "
                         f"least 16 ({k} pooling stages), got {size!r}")
    scene_options = dict(scene_options or {})
    sets = scene_splits(train_images, val_images, test_images, size=size,
                        generator=single_object_dataset, **scene_options)
    class_names = list(scene_options.get("classes") or CLASS_NAMES)
    num_classes = len(class_names)
    backend.manual_seed(seed)
    targets = {name: pack_targets(s.labels, s.boxes, s.images.shape[2:]) for name, s in sets.items()}
    input_shape = tuple(int(v) for v in sets["train"].images.shape[1:])
    model_kwargs = {"num_classes": num_classes, "input_shape": list(input_shape),
                    "channels": [int(c) for c in channels], "hidden": int(hidden)}
    model = Localizer(**model_kwargs)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = make_scheduler("cosine", optimizer, epochs)
    config = {"model": MODEL_NAME, "model_kwargs": model_kwargs, "class_names": class_names,
              "size": int(size), "scene_options": scene_options, "seed": int(seed), "lr": lr,
              "batch_size": int(batch_size), "box_weight": float(box_weight),
              "box_loss": box_loss, "beta": float(beta), "train_images": int(train_images)}

    def loss_fn(outputs, y):
        return localization_loss(outputs, y, num_classes, box_weight, box_loss, beta)

    def metric(name):
        return lambda outputs, y: localization_metrics(outputs, y, num_classes)[name]

    trainer = Trainer(model, loss_fn, optimizer, scheduler, out_dir=out_dir,
                      metrics={"accuracy": metric("accuracy"),
                               "mean_box_iou": metric("mean_box_iou")},
                      monitor="val_loss", mode="min", progress=progress, config=config,
                      verbose=verbose)
    train = DataLoader((sets["train"].images, targets["train"]), batch_size, shuffle=True,
                       seed=seed)
    val = DataLoader((sets["val"].images, targets["val"]), 256)
    start = time.perf_counter()
    history = trainer.fit(train, val, epochs=epochs, resume=resume)
    train_time = time.perf_counter() - start
    test = sets["test"]
    t0 = time.perf_counter()
    labels, probs, boxes = model.predict(test.images)
    infer_ms = 1000 * (time.perf_counter() - t0) / len(test.images)
    from deepbasic.vision.boxes import xywh_to_xyxy

    true_xyxy = xywh_to_xyxy(test.boxes.astype(np.float64))
    iou = box_iou_per_image(boxes, true_xyxy)
    right = labels == test.labels
    per_class = {name: {"accuracy": float(right[test.labels == c].mean()),
                        "mean_box_iou": float(iou[test.labels == c].mean())}
                 for c, name in enumerate(class_names) if np.any(test.labels == c)}
    result = {"parameters": model.num_parameters(), "size": int(size),
              "train_images": int(train_images), "test_images": int(test_images),
              "epochs": len(history), "train_time_s": train_time, "test_ms_per_image": infer_ms,
              "box_loss": box_loss, "box_weight": float(box_weight), "history": history,
              "test_accuracy": float(right.mean()), "test_mean_box_iou": float(iou.mean()),
              "test_box_iou_50": float((iou >= 0.5).mean()),
              "test_correct_and_iou_50": float((right & (iou >= 0.5)).mean()),
              "test_per_class": per_class, "class_names": class_names}
    if out_dir:
        from deepbasic.visualize.detection import save_detections

        n = min(examples, len(test.images))
        if n:
            result["boxes_png"] = save_detections(
                test.images[:n], [b[None] for b in boxes[:n]], [[k] for k in labels[:n]],
                [[p] for p in probs[:n]], os.path.join(out_dir, "boxes.png"),
                class_names=class_names, true_boxes=[b[None] for b in true_xyxy[:n]],
                true_labels=[[k] for k in test.labels[:n]],
                title=f"localization: accuracy {result['test_accuracy']:.3f}, mean box IoU "
                      f"{result['test_mean_box_iou']:.3f} (true boxes dashed)")
        with atomic_write(os.path.join(out_dir, "result.json"), "w") as f:
            json.dump(result, f, indent=1)
    return result


def load_localizer(path: str):
    """Rebuild a Localizer from a checkpoint of :func:`localization_experiment`. Returns
    ``(model, config)``, the model in evaluation mode; raises ValueError for a checkpoint of
    another model."""
    from deepbasic.models.localizer import Localizer

    ckpt = load_checkpoint(path)
    config = ckpt.extra.get("config") or {}
    if config.get("model") != MODEL_NAME:
        raise ValueError(f"{path}: not a localization checkpoint (it holds "
                         f"{config.get('model', 'an unknown model')!r})")
    kwargs = dict(config["model_kwargs"])
    kwargs["input_shape"] = tuple(kwargs["input_shape"])
    model = Localizer(**kwargs)
    model.load_state_dict(ckpt.model)
    model.eval()
    return model, config
