"""Semantic segmentation of generated scenes with a fully convolutional network.

    result = segmentation_experiment(upsample="unpool", train_scenes=3000, size=48, epochs=10,
                                     out_dir="runs/segment")
    result["test_mean_iou"], result["test_iou_per_class"]
    table = compare_upsampling(train_scenes=3000, size=48, epochs=10, out_dir="runs/seg-compare")

Scenes come from :func:`deepbasic.data.shapes.generate_scenes` (train, validation and test drawn
with different seeds by :func:`deepbasic.data.shapes.scene_splits`, so no test scene is seen
in training); the target of
each pixel is the scene's semantic mask (0 = background, ``k + 1`` = shape class ``k``). The
:class:`~deepbasic.models.fcn.FCN` trains through the :class:`~deepbasic.train.trainer.Trainer`
with per-pixel cross-entropy, Adam and a cosine schedule; the validation metrics are pixel
accuracy (``val_accuracy``) and mean IoU (``val_mean_iou``, which picks ``best.safetensors``).

Metrics on the held-out test scenes are computed from one confusion matrix accumulated over all
their pixels (not averaged per image): pixel accuracy = trace / total; IoU of class c =
TP / (TP + FP + FN); mean IoU = the mean over the classes (background included) that occur in the
ground truth or the predictions (see :func:`deepbasic.train.metrics.mean_iou`). The test metrics are
those of the weights at the end of training.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from deepbasic import backend
from deepbasic.data.loader import DataLoader
from deepbasic.data.shapes import scene_splits
from deepbasic.serialization import atomic_write
from deepbasic.tensor import Tensor, no_grad
from deepbasic.train.checkpoint import load_checkpoint
from deepbasic.train.metrics import (iou_per_class, mean_iou, pixel_accuracy,
                                     segmentation_confusion)

#: seeds of the three scene sets (train, validation, test): disjoint scenes
#: the name the checkpoints record for this model (``config["model"]``)
MODEL_NAME = "fcn"


def segmentation_class_names(scenes) -> list[str]:
    """The per-pixel classes of scenes: ``["background", *scenes.class_names]`` (mask value = index)."""
    return ["background", *scenes.class_names]


def _pixel_accuracy_metric(scores: np.ndarray, masks: np.ndarray) -> float:
    return pixel_accuracy(segmentation_confusion(scores, masks))


def _mean_iou_metric(scores: np.ndarray, masks: np.ndarray) -> float:
    return mean_iou(segmentation_confusion(scores, masks))


@no_grad()
def predict_masks(model, images, batch_size: int = 64) -> np.ndarray:
    """Per-pixel classes of ``images`` (N, C, H, W): (N, H, W) int64 NumPy array (model in eval
    mode, in batches)."""
    model.eval()
    images = np.asarray(images, dtype=np.float32)
    out = [backend.to_numpy(model(Tensor._make(images[i:i + batch_size])).data.argmax(axis=1))
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0,) + images.shape[2:], np.int64)


def evaluate_segmentation(model, images, masks, num_classes: int | None = None,
                          batch_size: int = 64, class_names=None) -> dict:
    """Pixel accuracy, mean IoU and per-class IoU of ``model`` on ``images`` (N, C, H, W) against
    ``masks`` (N, H, W), from one confusion matrix over all pixels. Returns a dict with
    ``pixel_accuracy``, ``mean_iou``, ``iou_per_class`` ({name: IoU or None when the class is
    absent from truth and prediction}), ``confusion`` (C x C list) and the predictions ``pred``."""
    num_classes = num_classes or model.num_classes
    masks = np.asarray(masks).astype(np.int64)
    pred = predict_masks(model, images, batch_size)
    matrix = segmentation_confusion(pred, masks, num_classes)
    names = list(class_names) if class_names is not None else [str(k) for k in range(num_classes)]
    ious = iou_per_class(matrix)
    return {"pixel_accuracy": pixel_accuracy(matrix), "mean_iou": mean_iou(matrix),
            "iou_per_class": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, ious)},
            "confusion": matrix.tolist(), "pred": pred}


def segmentation_experiment(*, upsample: str = "transpose", train_scenes: int = 3000,
                            val_scenes: int = 300, test_scenes: int = 500, size: int = 48,
                            epochs: int = 10, lr: float = 3e-3, batch_size: int = 32,
                            channels=(16, 32, 64, 96), skips: bool = True, seed: int = 0,
                            out_dir: str | None = None, resume: bool = False,
                            progress: bool = True, verbose: bool = True, examples: int = 6,
                            scene_options: dict | None = None, scenes: dict | None = None) -> dict:
    """Train an :class:`~deepbasic.models.fcn.FCN` on generated scenes and measure it.

    upsample: ``"transpose"``, ``"unpool"`` or ``"bilinear"`` (see :mod:`deepbasic.models.fcn`);
    train/val/test_scenes: how many scenes of ``size`` x ``size`` (a multiple of 8) in each split;
    lr: Adam's initial learning rate (cosine schedule over ``epochs``); channels, skips: the FCN's;
    seed: weights and shuffling; scene_options: passed to ``generate_scenes``; scenes: the
    split dict of :func:`deepbasic.data.shapes.scene_splits` when it was already generated.

    Returns a dict with ``parameters``, ``train_time_s``, ``history``, ``test_mean_iou``,
    ``test_pixel_accuracy``, ``test_iou_per_class`` and ``test_confusion`` (rows true, columns
    predicted; classes ``class_names`` = background then the shapes); with ``out_dir``:
    checkpoints, metrics.jsonl, curves.png, ``masks.png`` (test scenes: image, true mask,
    predicted mask) and ``result.json``.
    """
    from deepbasic import optim
    from deepbasic.models.fcn import FCN, UPSAMPLE_CHOICES, segmentation_loss
    from deepbasic.train.recipes import make_scheduler
    from deepbasic.train.trainer import Trainer

    if upsample not in UPSAMPLE_CHOICES:
        raise ValueError(f"segmentation_experiment: upsample must be one of "
                         f"{', '.join(UPSAMPLE_CHOICES)}, got {upsample!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16 \
            or size % FCN.factor:
        raise ValueError(f"segmentation_experiment: size must be a multiple of {FCN.factor} of at "
                         f"least 16 (the FCN halves it three times), got {size!r}")
    scene_options = dict(scene_options or {})
    if scenes is None:
        scenes = scene_splits(train_scenes, val_scenes, test_scenes, size=size, **scene_options)
    backend.manual_seed(seed)
    class_names = segmentation_class_names(scenes["train"])
    num_classes = len(class_names)
    model_kwargs = {"num_classes": num_classes, "in_channels": int(scenes["train"].images.shape[1]),
                    "channels": [int(c) for c in channels], "upsample": upsample,
                    "skips": bool(skips)}
    model = FCN(**model_kwargs)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = make_scheduler("cosine", optimizer, epochs)
    config = {"model": MODEL_NAME, "model_kwargs": model_kwargs, "class_names": class_names,
              "size": int(size), "scene_options": scene_options, "seed": int(seed), "lr": lr,
              "batch_size": int(batch_size), "train_scenes": len(scenes["train"])}
    trainer = Trainer(model, segmentation_loss, optimizer, scheduler, out_dir=out_dir,
                      metrics={"accuracy": _pixel_accuracy_metric, "mean_iou": _mean_iou_metric},
                      monitor="val_mean_iou", mode="max", progress=progress, config=config,
                      verbose=verbose)
    as_targets = {k: s.masks.astype(np.int64) for k, s in scenes.items()}
    train = DataLoader((scenes["train"].images, as_targets["train"]), batch_size, shuffle=True,
                       seed=seed)
    val = DataLoader((scenes["val"].images, as_targets["val"]), 64)
    start = time.perf_counter()
    history = trainer.fit(train, val, epochs=epochs, resume=resume)
    train_time = time.perf_counter() - start
    test = scenes["test"]
    t0 = time.perf_counter()
    ev = evaluate_segmentation(model, test.images, as_targets["test"], num_classes,
                               class_names=class_names)
    infer_ms = 1000 * (time.perf_counter() - t0) / len(test)
    result = {"upsample": upsample, "skips": bool(skips), "parameters": model.num_parameters(),
              "size": int(size), "train_scenes": len(scenes["train"]),
              "test_scenes": len(test), "epochs": len(history), "train_time_s": train_time,
              "test_ms_per_image": infer_ms, "history": history, "class_names": class_names,
              "test_mean_iou": ev["mean_iou"], "test_pixel_accuracy": ev["pixel_accuracy"],
              "test_iou_per_class": ev["iou_per_class"], "test_confusion": ev["confusion"]}
    if out_dir:
        from deepbasic.visualize.detection import save_masks

        k = min(examples, len(test))
        if k:
            result["masks_png"] = save_masks(
                test.images[:k], test.masks[:k], ev["pred"][:k], os.path.join(out_dir, "masks.png"),
                class_names=list(test.class_names),
                title=f"FCN ({upsample}): test mean IoU {ev['mean_iou']:.3f}")
        with atomic_write(os.path.join(out_dir, "result.json"), "w") as f:
            json.dump(result, f, indent=1)
    return result


def format_comparison(rows: list[dict]) -> str:
    """The upsampling comparison as an aligned text table (one row per choice)."""
    head = (f"{'upsample':<10} {'mean IoU':>9} {'pixel acc':>10} {'parameters':>11} "
            f"{'train s':>9} {'ms/img':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['upsample']:<10} {r['test_mean_iou']:>9.4f} "
                     f"{r['test_pixel_accuracy']:>10.4f} {r['parameters']:>11,} "
                     f"{r['train_time_s']:>9.1f} {r['test_ms_per_image']:>7.2f}")
    return "\n".join(lines)


def compare_upsampling(choices=("transpose", "unpool", "bilinear"), *, out_dir: str | None = None,
                       verbose: bool = True, train_scenes: int = 3000, val_scenes: int = 300,
                       test_scenes: int = 500, size: int = 48, scene_options: dict | None = None,
                       **kwargs) -> dict:
    """Run :func:`segmentation_experiment` once per upsampling choice on the same scenes, with the
    same seed and settings (``kwargs``: epochs, lr, batch_size, channels, skips, seed, progress,
    ...), each into ``out_dir/<choice>``. Returns ``{"rows": [...], "table": str}``, each row
    the choice's ``upsample``, ``test_mean_iou``, ``test_pixel_accuracy``,
    ``test_iou_per_class``, ``parameters``, ``train_time_s`` and ``test_ms_per_image``; prints the
    table when ``verbose``, and writes ``comparison.json`` and ``comparison.txt`` to ``out_dir``.
    """
    from deepbasic.models.fcn import UPSAMPLE_CHOICES

    choices = list(choices)
    bad = [c for c in choices if c not in UPSAMPLE_CHOICES]
    if bad or not choices:
        raise ValueError(f"compare_upsampling: choices must be among {', '.join(UPSAMPLE_CHOICES)},"
                         f" got {choices}")
    scene_options = dict(scene_options or {})
    scenes = scene_splits(train_scenes, val_scenes, test_scenes, size=size, **scene_options)
    rows = []
    for choice in choices:
        if verbose:
            print(f"--- upsample={choice}")
        r = segmentation_experiment(upsample=choice, size=size, scene_options=scene_options,
                                    scenes=scenes, verbose=verbose,
                                    out_dir=os.path.join(out_dir, choice) if out_dir else None,
                                    **kwargs)
        rows.append({k: r[k] for k in ("upsample", "test_mean_iou", "test_pixel_accuracy",
                                       "test_iou_per_class", "parameters", "train_time_s",
                                       "test_ms_per_image", "epochs")})
    table = format_comparison(rows)
    if verbose:
        print(table)
    result = {"rows": rows, "table": table, "train_scenes": train_scenes,
              "test_scenes": test_scenes, "size": size,
              "settings": {k: v for k, v in kwargs.items() if k not in ("progress",)}}
    if out_dir:
        with atomic_write(os.path.join(out_dir, "comparison.json"), "w") as f:
            json.dump(result, f, indent=1, default=list)
        with atomic_write(os.path.join(out_dir, "comparison.txt"), "w") as f:
            f.write(table + "\n")
    return result


def load_segmenter(path: str):
    """Rebuild an FCN from a checkpoint of :func:`segmentation_experiment`. Returns
    ``(model, config)``, the model in evaluation mode; ``config["class_names"]`` names the
    per-pixel classes and ``config["size"]`` the side of the images it was trained on. Raises
    ValueError for a checkpoint of another model."""
    from deepbasic.models.fcn import FCN

    ckpt = load_checkpoint(path)
    config = ckpt.extra.get("config") or {}
    if config.get("model") != MODEL_NAME:
        raise ValueError(f"{path}: not a segmentation (FCN) checkpoint (it holds "
                         f"{config.get('model', 'an unknown model')!r})")
    model = FCN(**config["model_kwargs"])
    model.load_state_dict(ckpt.model)
    model.eval()
    return model, config
