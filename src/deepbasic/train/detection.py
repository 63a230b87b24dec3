"""Object detectors on generated scenes: one registry, one experiment, one evaluation for all.

    r = detection_experiment("yolo", train_scenes=3000, epochs=20, out_dir="runs/yolo")
    r["bbox"]["mAP50"], r["seconds_per_image"]
    model, config = load_detector("runs/yolo/detector.safetensors")
    model.detect(images)     # [{"boxes": (K, 4) xyxy, "scores": (K,), "labels": (K,)}, ...]

Every detector is registered as a :class:`DetectorSpec` by a module listed in
``DETECTOR_MODULES`` (imported when the registry is first used):

- ``build(num_classes, image_size, **options) -> model``: an :class:`~deepbasic.nn.Module` with
  ``model.detect(images (N, 3, H, W) float32 ndarray) -> list`` of one dict per image:
  ``"boxes"`` (K, 4) float xyxy pixel corners (x2 exclusive: ``x2 - x1`` is the width, as
  :func:`deepbasic.vision.boxes.xywh_to_xyxy` gives for COCO boxes), ``"scores"`` (K,),
  ``"labels"`` (K,) int class ids from 0, and with ``masks=True`` in the spec ``"masks"``
  (K, H, W) bool. ``detect`` runs in evaluation mode without gradients and restores the mode.
- ``train(model, train, val, *, epochs, lr, batch_size, seed, out_dir, progress, verbose,
  config, **options) -> history``: trains on the :class:`~deepbasic.data.shapes.Scenes`
  ``train`` (``val`` for validation), writing checkpoints (with ``config`` in their metadata) to
  ``out_dir`` if given; returns the per-epoch history (a list of dicts with at least
  ``"epoch"`` and ``"train_loss"``).
- ``defaults``: the training options a run uses unless told otherwise (epochs, lr, batch_size
  and any detector-specific option), and ``build_defaults`` for ``build``.

:func:`detection_experiment` generates train / validation / test scenes
(:func:`deepbasic.data.shapes.scene_splits`: seeds 0, 1, 2, so the test scenes are never trained on), builds and trains the detector, saves it as
``out_dir/detector.safetensors`` (weights + the configuration :func:`load_detector` needs),
evaluates it on the test scenes with pycocotools' COCOeval (:mod:`deepbasic.vision.coco_eval`;
bbox, and segm for detectors with masks) and the time per image, and draws test scenes with their
detections (``detections.png``; ``masks.png`` with the instance masks of a mask detector).
"""
from __future__ import annotations

import importlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from deepbasic import backend
from deepbasic.serialization import atomic_write

#: modules that register detectors when imported
DETECTOR_MODULES = ["deepbasic.train.yolo", "deepbasic.train.rcnn"]

@dataclass
class DetectorSpec:
    name: str
    description: str
    build: Callable
    train: Callable
    defaults: dict = field(default_factory=dict)
    build_defaults: dict = field(default_factory=dict)
    masks: bool = False


_DETECTORS: dict[str, DetectorSpec] = {}
_loaded = False


def register_detector(spec: DetectorSpec) -> DetectorSpec:
    """Add (or replace) a detector in the registry."""
    _DETECTORS[spec.name] = spec
    return spec


def detectors() -> dict[str, DetectorSpec]:
    """The registered detectors by name (imports ``DETECTOR_MODULES`` the first time; a module
    that is not there yet is skipped)."""
    global _loaded
    if not _loaded:
        for name in DETECTOR_MODULES:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as e:
                if e.name != name:
                    raise
        _loaded = True
    return dict(_DETECTORS)


def get_detector(name: str) -> DetectorSpec:
    specs = detectors()
    if name not in specs:
        raise ValueError(f"unknown detector {name!r}: expected one of {', '.join(sorted(specs))}")
    return specs[name]


def run_detector(model, images, batch_size: int = 64) -> tuple[list, float]:
    """``model.detect`` over ``images`` (N, 3, H, W) in batches. Returns (detections, seconds per
    image)."""
    out = []
    start = time.perf_counter()
    for i in range(0, len(images), batch_size):
        out += model.detect(images[i:i + batch_size])
    return out, (time.perf_counter() - start) / max(len(images), 1)


def evaluate_detector(model, scenes, masks: bool = False, batch_size: int = 64) -> dict:
    """COCO metrics of ``model`` on ``scenes``: ``{"bbox": stats, ["segm": stats],
    "seconds_per_image", "detections"}`` (stats from :func:`~deepbasic.vision.coco_eval.
    coco_evaluate`, without its printed summary)."""
    from deepbasic.data.coco import to_coco
    from deepbasic.vision.coco_eval import coco_evaluate, detections_to_coco

    dets, seconds = run_detector(model, scenes.images, batch_size)
    gt = to_coco(scenes)
    boxes = [d["boxes"] for d in dets]
    scores = [d["scores"] for d in dets]
    labels = [d["labels"] for d in dets]
    result = {"seconds_per_image": seconds, "detections": dets}
    stats = coco_evaluate(gt, detections_to_coco(boxes, scores, labels))
    result["bbox"] = {k: v for k, v in stats.items() if k != "summary"}
    if masks:
        segm = coco_evaluate(gt, detections_to_coco(boxes, scores, labels,
                                                    masks=[d["masks"] for d in dets]),
                             iou_type="segm")
        result["segm"] = {k: v for k, v in segm.items() if k != "summary"}
    return result


def detection_experiment(method: str, *, train_scenes: int = 3000, val_scenes: int = 200,
                         test_scenes: int = 500, size: int = 64, seed: int = 0,
                         out_dir: str | None = None, progress: bool = True, verbose: bool = True,
                         examples: int = 8, scene_options: dict | None = None,
                         build_options: dict | None = None, **train_options) -> dict:
    """Train the registered detector ``method`` on generated scenes and measure it on held-out
    ones (see the module docstring). ``train_options`` override the detector's ``defaults``
    (e.g. ``epochs``, ``lr``, ``batch_size``); ``build_options`` its ``build_defaults``.

    Returns a dict with the method, parameters, history, training time, ``bbox`` (and ``segm``)
    COCO stats, ``seconds_per_image`` and file paths (with ``out_dir``: ``detector.safetensors``,
    ``detections.png``, ``result.json``).
    """
    from deepbasic.data.shapes import scene_splits
    from deepbasic.serialization import save_file

    spec = get_detector(method)
    backend.manual_seed(seed)
    scene_options = dict(scene_options or {})
    sets = scene_splits(train_scenes, val_scenes, test_scenes, size=size, **scene_options)
    num_classes = len(sets["train"].class_names)
    build_kwargs = {**spec.build_defaults, **(build_options or {})}
    model = spec.build(num_classes, size, **build_kwargs)
    options = {**spec.defaults, **train_options}
    config = {"model": "detector", "method": method, "num_classes": num_classes, "size": size,
              "build_options": build_kwargs, "train_options": options,
              "scene_options": scene_options, "class_names": list(sets["train"].class_names),
              "seed": seed}
    start = time.perf_counter()
    history = spec.train(model, sets["train"], sets["val"], seed=seed, out_dir=out_dir,
                         progress=progress, verbose=verbose, config=config, **options)
    train_time = time.perf_counter() - start
    ev = evaluate_detector(model, sets["test"], masks=spec.masks)
    result = {"method": method, "description": spec.description,
              "parameters": model.num_parameters(), "train_scenes": train_scenes,
              "test_scenes": test_scenes, "size": size, "train_time_s": train_time,
              "history": history, "bbox": ev["bbox"], "seconds_per_image": ev["seconds_per_image"],
              "options": options}
    if "segm" in ev:
        result["segm"] = ev["segm"]
    if out_dir:
        path = os.path.join(out_dir, "detector.safetensors")
        save_file({k: backend.to_numpy(v) for k, v in model.state_dict().items()}, path,
                  metadata={"config": json.dumps(config)})
        result["detector"] = path
        result["detections_png"] = save_detection_examples(
            sets["test"], ev["detections"][:examples], os.path.join(out_dir, "detections.png"))
        if spec.masks:
            result["masks_png"] = save_mask_examples(
                sets["test"], ev["detections"][:examples], os.path.join(out_dir, "masks.png"))
        with atomic_write(os.path.join(out_dir, "result.json"), "w") as f:
            json.dump(result, f, indent=1)
    return result


def save_detection_examples(scenes, detections, path: str, score_threshold: float = 0.5) -> str:
    """Draw the first ``len(detections)`` scenes with their detections scoring at least
    ``score_threshold`` (and the true boxes) into a PNG."""
    from deepbasic.visualize.detection import save_detections

    from deepbasic.vision.boxes import xywh_to_xyxy

    n = len(detections)
    keep = [d["scores"] >= score_threshold for d in detections]
    return save_detections(
        scenes.images[:n], [d["boxes"][k] for d, k in zip(detections, keep)],
        [d["labels"][k] for d, k in zip(detections, keep)],
        scores_list=[d["scores"][k] for d, k in zip(detections, keep)], path=path,
        class_names=list(scenes.class_names),
        true_boxes=[xywh_to_xyxy(np.asarray(b, np.float64)) for b in scenes.boxes[:n]],
        true_labels=list(scenes.labels[:n]))


def paint_instances(detections: dict, shape, score_threshold: float = 0.5) -> np.ndarray:
    """One image's detected instance masks as a semantic map (H, W) int: 0 background, label + 1
    where a mask scoring at least ``score_threshold`` covers the pixel (higher scores painted
    last, so they win where masks overlap)."""
    out = np.zeros(shape, dtype=np.int64)
    order = np.argsort(detections["scores"], kind="stable")
    for i in order:
        if detections["scores"][i] >= score_threshold:
            out[np.asarray(detections["masks"][i], dtype=bool)] = int(detections["labels"][i]) + 1
    return out


def save_mask_examples(scenes, detections, path: str, score_threshold: float = 0.5) -> str:
    """The first ``len(detections)`` scenes with their true semantic masks and the detected
    instance masks (scoring at least ``score_threshold``) painted in class colours, into a PNG."""
    from deepbasic.visualize.detection import save_masks

    n = len(detections)
    shape = scenes.images.shape[2:]
    return save_masks(scenes.images[:n], scenes.masks[:n],
                      np.stack([paint_instances(d, shape, score_threshold) for d in detections]),
                      path=path, class_names=list(scenes.class_names), max_images=n,
                      title="instance masks: truth | detected")


def load_detector(path: str):
    """Rebuild a detector saved by :func:`detection_experiment`. Returns ``(model, config)``,
    the model in evaluation mode."""
    from deepbasic.serialization import load_file

    tensors, metadata = load_file(path)
    if "config" not in metadata:
        raise ValueError(f"{path}: not a detector file (no configuration in its metadata)")
    config = json.loads(metadata["config"])
    if config.get("model") != "detector":
        raise ValueError(f"{path}: not a detector file (it holds {config.get('model')!r})")
    spec = get_detector(config["method"])
    model = spec.build(config["num_classes"], config["size"], **config["build_options"])
    model.load_state_dict(tensors)
    model.eval()
    return model, config


def format_comparison(results: list) -> str:
    """One table of detectors: mAP@0.5, mAP@[.5:.95], (mask mAP), time per image, parameters."""
    rows = [("detector", "mAP@0.5", "mAP@[.5:.95]", "mask mAP@0.5", "ms / image", "parameters",
             "training s")]
    for r in results:
        rows.append((r["method"], f"{r['bbox']['mAP50']:.3f}", f"{r['bbox']['mAP']:.3f}",
                     f"{r['segm']['mAP50']:.3f}" if "segm" in r else "-",
                     f"{1000 * r['seconds_per_image']:.1f}", f"{r['parameters']:,}",
                     f"{r['train_time_s']:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)
