"""``deepbasic detect``: object detectors on generated scenes, measured with COCO's mAP.

    deepbasic detect train --method yolo --scenes 3000 --epochs 20 --out runs/yolo
    deepbasic detect eval --detector runs/yolo/detector.safetensors --scenes 500
    deepbasic detect predict --detector runs/yolo/detector.safetensors --scenes 8 --out det.png
    deepbasic detect predict --detector runs/yolo/detector.safetensors --image a.png --out d.png
    deepbasic detect compare --methods yolo,faster-rcnn --scenes 3000 --out runs/detectors

``train`` generates train / validation / test scenes (deepbasic.data.shapes), trains one
registered detector (:mod:`deepbasic.train.detection`) and prints COCO mAP@0.5, mAP@[.5:.95] and
the time per image on the held-out test scenes; ``eval`` measures a saved detector on new
scenes; ``predict`` draws a detector's boxes, labels and scores on scenes or PNG files;
``compare`` trains several detectors on the same scenes and prints one table.
"""
from __future__ import annotations

import json
import os

import numpy as np

from deepbasic.cli_args import CLIError, non_negative_int, positive_float, positive_int
from deepbasic.commands._images import read_images


def _method_names() -> list[str]:
    from deepbasic.train.detection import detectors

    return sorted(detectors())


def _check_method(name: str) -> str:
    names = _method_names()
    if name not in names:
        raise CLIError(f"unknown detector {name!r}: expected one of {', '.join(names)}")
    return name


def _train_options(args) -> dict:
    opts = {}
    for name in ("epochs", "lr", "batch_size"):
        value = getattr(args, name, None)
        if value is not None:
            opts[name] = value
    return opts


def _experiment(method: str, args, out_dir):
    from deepbasic.train.detection import detection_experiment

    try:
        return detection_experiment(method, train_scenes=args.scenes, val_scenes=args.val_scenes,
                                    test_scenes=args.test_scenes, size=args.size, seed=args.seed,
                                    out_dir=out_dir, progress=not args.no_progress,
                                    **_train_options(args))
    except ValueError as e:
        raise CLIError(f"{method}: {str(e).splitlines()[0]}") from None


def _print_scores(r: dict, prefix: str = "test") -> None:
    bbox = r["bbox"]
    head = f"{prefix} " if prefix else ""
    line = (f"{head}COCO mAP@0.5 {bbox['mAP50']:.4f}   mAP@[.5:.95] {bbox['mAP']:.4f}   "
            f"{1000 * r['seconds_per_image']:.2f} ms per image")
    if "segm" in r:
        line += f"   mask mAP@0.5 {r['segm']['mAP50']:.4f}"
    print(line)


def cmd_train(args) -> int:
    method = _check_method(args.method)
    opts = _train_options(args)
    print(f"detection: {method}, {args.scenes} training scenes of {args.size}x{args.size}, seed "
          f"{args.seed}" + "".join(f", {k.replace('_', ' ')} {v:g}" for k, v in opts.items())
          + (f"; into {args.out}" if args.out else ""))
    r = _experiment(method, args, args.out)
    print(f"{r['parameters']:,} parameters, {len(r['history'])} epochs, "
          f"{r['train_time_s']:.1f} s of training")
    _print_scores(r)
    if args.out:
        print(f"detector: {r['detector']}\ndetections: {r['detections_png']}\n"
              f"result: {os.path.join(args.out, 'result.json')}")
    return 0


def _load(path: str):
    from deepbasic.train.detection import get_detector, load_detector

    if not os.path.isfile(path):
        raise CLIError(f"--detector {path}: no such file (expected a detector.safetensors "
                       f"written by 'deepbasic detect train')")
    try:
        model, config = load_detector(path)
    except (ValueError, KeyError, json.JSONDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CLIError(f"--detector {path}: not a detector written by 'deepbasic detect train' "
                       f"({first})") from None
    return model, config, get_detector(config["method"])


def cmd_eval(args) -> int:
    from deepbasic.data.shapes import generate_scenes
    from deepbasic.train.detection import evaluate_detector

    model, config, spec = _load(args.detector)
    scenes = generate_scenes(args.scenes, seed=args.seed, size=config["size"],
                             **config.get("scene_options", {}))
    r = evaluate_detector(model, scenes, masks=spec.masks)
    print(f"{config['method']}: {args.scenes} scenes of {config['size']}x{config['size']} "
          f"(seed {args.seed})")
    _print_scores(r, prefix="")
    return 0


def cmd_predict(args) -> int:
    from deepbasic.data.shapes import generate_scenes
    from deepbasic.train.detection import run_detector
    from deepbasic.vision.boxes import xywh_to_xyxy
    from deepbasic.visualize.detection import save_detections

    model, config, _ = _load(args.detector)
    size = config["size"]
    true_boxes = true_labels = None
    if args.image:
        images = read_images(args.image, (3, size, size))
        names = list(args.image)
    else:
        scenes = generate_scenes(args.scenes, seed=args.seed, size=size,
                                 **config.get("scene_options", {}))
        images = scenes.images
        names = [f"scene {i}" for i in range(len(images))]
        true_boxes = [xywh_to_xyxy(np.asarray(b, np.float64).reshape(-1, 4)) for b in scenes.boxes]
        true_labels = list(scenes.labels)
    dets, seconds = run_detector(model, images)
    class_names = config.get("class_names")
    keep = [d["scores"] >= args.score for d in dets]
    for name, d, k in zip(names, dets, keep):
        found = ", ".join(
            f"{class_names[int(lab)] if class_names else int(lab)} {s:.2f} "
            f"[{b[0]:.0f} {b[1]:.0f} {b[2]:.0f} {b[3]:.0f}]"
            for b, s, lab in zip(d["boxes"][k], d["scores"][k], d["labels"][k]))
        print(f"{name}: {found or 'nothing'}")
    print(f"{1000 * seconds:.2f} ms per image ({config['method']}, score >= {args.score:g})")
    path = save_detections(images, [d["boxes"][k] for d, k in zip(dets, keep)],
                           [d["labels"][k] for d, k in zip(dets, keep)],
                           scores_list=[d["scores"][k] for d, k in zip(dets, keep)],
                           path=args.out, class_names=class_names, true_boxes=true_boxes,
                           true_labels=true_labels)
    print(f"detections: {path}")
    return 0


def cmd_compare(args) -> int:
    from deepbasic.serialization import atomic_write
    from deepbasic.train.detection import format_comparison

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise CLIError("--methods: expected comma-separated detector names, e.g. yolo,faster-rcnn")
    for m in methods:
        _check_method(m)
    results = []
    for m in methods:
        print(f"training {m} on {args.scenes} scenes of {args.size}x{args.size}")
        r = _experiment(m, args, os.path.join(args.out, m))
        _print_scores(r, prefix=f"{m}:")
        results.append(r)
    table = format_comparison(results)
    print(table)
    os.makedirs(args.out, exist_ok=True)
    with atomic_write(os.path.join(args.out, "comparison.txt"), "w") as f:
        f.write(table + "\n")
    print(f"comparison: {os.path.join(args.out, 'comparison.txt')}")
    return 0


def _scene_args(p, epochs_help: str) -> None:
    p.add_argument("--scenes", type=positive_int, default=3000, metavar="N",
                   help="training scenes")
    p.add_argument("--val-scenes", type=positive_int, default=200, metavar="N")
    p.add_argument("--test-scenes", type=positive_int, default=500, metavar="N")
    p.add_argument("--size", type=positive_int, default=64, help="scene side in pixels")
    p.add_argument("--epochs", type=positive_int, default=None, help=epochs_help)
    p.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default: the detector's)")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="scenes per batch (default: the detector's)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--no-progress", action="store_true")


def register(subparsers) -> None:
    p = subparsers.add_parser("detect", help="object detection on generated scenes: YOLO, "
                                             "R-CNN family; COCO mAP")
    sub = p.add_subparsers(dest="action", required=True, metavar="train|eval|predict|compare")
    t = sub.add_parser("train", help="train a detector and measure COCO mAP on held-out scenes")
    t.add_argument("--method", required=True, choices=_method_names(),
                   help="the registered detector to train")
    _scene_args(t, "training epochs (default: the detector's)")
    t.add_argument("--out", metavar="DIR",
                   help="checkpoints, detector.safetensors, detections.png, result.json")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="COCO mAP of a saved detector on new scenes")
    e.add_argument("--detector", required=True, metavar="FILE",
                   help="a detector.safetensors written by 'deepbasic detect train'")
    e.add_argument("--scenes", type=positive_int, default=500, metavar="N")
    e.add_argument("--seed", type=non_negative_int, default=2,
                   help="seed of the scenes (2: the test scenes of training, never trained on)")
    e.set_defaults(func=cmd_eval)

    s = sub.add_parser("predict", help="draw a detector's boxes on scenes or PNG images")
    s.add_argument("--detector", required=True, metavar="FILE")
    src = s.add_mutually_exclusive_group()
    src.add_argument("--image", nargs="+", metavar="PNG",
                     help="RGB (or RGBA, alpha dropped) image files of the detector's size")
    src.add_argument("--scenes", type=positive_int, default=8, metavar="N",
                     help="new scenes to draw (default 8; ignored with --image)")
    s.add_argument("--seed", type=non_negative_int, default=100,
                   help="seed of the new scenes (training used 0-2)")
    s.add_argument("--score", type=positive_float, default=0.5,
                   help="draw detections scoring at least this")
    s.add_argument("--out", required=True, metavar="PNG", help="where to save the drawing")
    s.set_defaults(func=cmd_predict)

    c = sub.add_parser("compare", help="train several detectors on the same scenes, one table")
    c.add_argument("--methods", required=True, metavar="NAMES",
                   help="comma-separated detectors, e.g. yolo,faster-rcnn")
    _scene_args(c, "training epochs of every detector (default: each detector's own)")
    c.add_argument("--out", required=True, metavar="DIR", help="one run folder per detector")
    c.set_defaults(func=cmd_compare)
