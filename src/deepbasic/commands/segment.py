"""``deepbasic segment``: semantic segmentation of generated scenes with a fully convolutional net.

    deepbasic segment train --upsample unpool --scenes 3000 --epochs 10 --out runs/segment
    deepbasic segment train --upsample compare --scenes 3000 --epochs 10 --out runs/seg-compare
    deepbasic segment predict --checkpoint runs/segment/best.safetensors --scenes 6 --out masks.png
    deepbasic segment predict --checkpoint runs/segment/best.safetensors --image a.png --out m.png

``train`` generates train / validation / test scenes (deepbasic.data.shapes), trains an FCN whose
decoder upsamples by transposed convolution, max unpooling (SegNet) or bilinear interpolation, and
prints pixel accuracy, mean IoU and the IoU of every class on the test scenes; ``--upsample
compare`` trains all three on the same scenes and prints one table. ``predict`` segments new
scenes (with their true masks beside) or RGB PNG files of the training size, and saves the masks
as a PNG. See :mod:`deepbasic.train.segmentation`.
"""
from __future__ import annotations

import os
import time

import numpy as np

from deepbasic.cli_args import CLIError, hidden_sizes, non_negative_int, positive_float, positive_int

CHOICES = ("transpose", "unpool", "bilinear", "compare")


def _channels(text: str) -> tuple:
    sizes = hidden_sizes(text)
    if len(sizes) != 4:
        import argparse

        raise argparse.ArgumentTypeError(f"expected four widths c0,c1,c2,c3 like 16,32,64,96, got "
                                         f"{text!r}")
    return sizes


def _print_result(r: dict) -> None:
    print(f"upsample {r['upsample']}: {r['parameters']:,} parameters, {r['train_time_s']:.1f} s of "
          f"training, {r['epochs']} epochs")
    print(f"test pixel accuracy {r['test_pixel_accuracy']:.4f}   mean IoU {r['test_mean_iou']:.4f}"
          f"   ({r['test_scenes']} scenes)")
    print("IoU per class: " + "  ".join(
        f"{name} {'-' if v is None else f'{v:.3f}'}" for name, v in r["test_iou_per_class"].items()))


def cmd_train(args) -> int:
    from deepbasic.train.segmentation import compare_upsampling, segmentation_experiment

    if args.size % 8:
        raise CLIError(f"--size must be a multiple of 8 (the FCN halves it three times), got "
                       f"{args.size}")
    if args.resume and not args.out:
        raise CLIError("--resume needs --out (the run to continue)")
    if args.resume and args.upsample == "compare":
        raise CLIError("--resume continues one run: give --upsample transpose, unpool or bilinear")
    if args.min_objects > args.max_objects:
        raise CLIError(f"--min-objects ({args.min_objects}) must not exceed --max-objects "
                       f"({args.max_objects})")
    print(f"segmentation: {args.scenes} training scenes of {args.size}x{args.size}, upsample "
          f"{args.upsample}, {args.epochs} epochs, lr {args.lr:g}, batch {args.batch_size}, seed "
          f"{args.seed}" + (f"; into {args.out}" if args.out else ""))
    common = dict(train_scenes=args.scenes, val_scenes=args.val_scenes,
                  test_scenes=args.test_scenes, size=args.size, epochs=args.epochs, lr=args.lr,
                  batch_size=args.batch_size, channels=args.channels, skips=not args.no_skips,
                  seed=args.seed, progress=not args.no_progress,
                  scene_options={"min_objects": args.min_objects,
                                 "max_objects": args.max_objects})
    try:
        if args.upsample == "compare":
            r = compare_upsampling(out_dir=args.out, verbose=False, **common)
            print(r["table"])
            if args.out:
                print(f"table: {os.path.join(args.out, 'comparison.txt')}; each run in "
                      f"{os.path.join(args.out, '<upsample>')}")
            return 0
        r = segmentation_experiment(upsample=args.upsample, out_dir=args.out, resume=args.resume,
                                    **common)
    except (ValueError, RuntimeError) as e:
        raise CLIError(str(e).splitlines()[0]) from None
    _print_result(r)
    if args.out:
        print(f"masks: {r['masks_png']}\nresult: {os.path.join(args.out, 'result.json')}")
    return 0


def cmd_predict(args) -> int:
    from deepbasic.commands._images import load_model_checkpoint, read_images
    from deepbasic.data.shapes import generate_scenes
    from deepbasic.train.metrics import mean_iou, pixel_accuracy, segmentation_confusion
    from deepbasic.train.segmentation import load_segmenter, predict_masks
    from deepbasic.visualize.detection import save_masks

    model, config = load_model_checkpoint(args.checkpoint, load_segmenter, "segmentation (FCN)")
    size = int(config["size"])
    names = list(config["class_names"])
    truth = None
    if args.image:
        images = read_images(args.image, (model.in_channels, size, size))
    else:
        scenes = generate_scenes(args.scenes, seed=args.seed, size=size,
                                 **config.get("scene_options", {}))
        images, truth = scenes.images, scenes.masks.astype(np.int64)
    t0 = time.perf_counter()
    pred = predict_masks(model, images)
    ms = 1000 * (time.perf_counter() - t0) / len(images)
    for i, m in enumerate(pred):
        counts = np.bincount(m.ravel(), minlength=len(names))
        found = ", ".join(f"{names[k]} {counts[k]} px" for k in range(1, len(names)) if counts[k])
        print(f"{i:3d}  {found or 'background only'}")
    if truth is not None:
        matrix = segmentation_confusion(pred, truth, len(names))
        print(f"on these {len(images)} scenes: pixel accuracy {pixel_accuracy(matrix):.4f}, "
              f"mean IoU {mean_iou(matrix):.4f}")
    print(f"{ms:.2f} ms per image ({config['model_kwargs']['upsample']} upsampling)")
    if args.out:
        path = save_masks(images, truth, pred, args.out, class_names=names[1:],
                          max_images=len(images))
        print(f"masks: {path}")
    return 0


def cmd_eval(args) -> int:
    from deepbasic.commands._images import load_model_checkpoint
    from deepbasic.data.shapes import generate_scenes
    from deepbasic.train.segmentation import evaluate_segmentation, load_segmenter

    model, config = load_model_checkpoint(args.checkpoint, load_segmenter, "segmentation (FCN)")
    size = int(config["size"])
    names = list(config["class_names"])
    scenes = generate_scenes(args.scenes, seed=args.seed, size=size,
                             **config.get("scene_options", {}))
    t0 = time.perf_counter()
    ev = evaluate_segmentation(model, scenes.images, scenes.masks, len(names), class_names=names)
    ms = 1000 * (time.perf_counter() - t0) / args.scenes
    print(f"{config['model_kwargs']['upsample']} FCN on {args.scenes} new scenes of {size}x{size} "
          f"(seed {args.seed}): pixel accuracy {ev['pixel_accuracy']:.4f}, mean IoU "
          f"{ev['mean_iou']:.4f}, {ms:.2f} ms per image")
    for name, iou in ev["iou_per_class"].items():
        print(f"  {name:<12} IoU {'absent' if iou is None else f'{iou:.4f}'}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("segment", help="semantic segmentation of generated scenes with a "
                                              "fully convolutional network")
    sub = p.add_subparsers(dest="action", required=True, metavar="train|eval|predict")
    t = sub.add_parser("train", help="train an FCN and measure pixel accuracy and mean IoU on "
                                     "held-out scenes")
    t.add_argument("--upsample", choices=CHOICES, default="transpose",
                   help="decoder upsampling: transposed conv, max unpooling (SegNet), bilinear + "
                        "conv, or compare (all three on the same scenes, one table)")
    t.add_argument("--scenes", type=positive_int, default=3000, metavar="N", help="training scenes")
    t.add_argument("--val-scenes", type=positive_int, default=300, metavar="N")
    t.add_argument("--test-scenes", type=positive_int, default=500, metavar="N")
    t.add_argument("--size", type=positive_int, default=48,
                   help="scene side in pixels (a multiple of 8)")
    t.add_argument("--min-objects", type=positive_int, default=1, metavar="K")
    t.add_argument("--max-objects", type=positive_int, default=3, metavar="K")
    t.add_argument("--epochs", type=positive_int, default=10)
    t.add_argument("--lr", type=positive_float, default=3e-3, help="Adam, cosine schedule")
    t.add_argument("--batch-size", type=positive_int, default=32)
    t.add_argument("--channels", type=_channels, default=(16, 32, 64, 96),
                   help="widths of the four encoder stages, e.g. 16,32,64,96")
    t.add_argument("--no-skips", action="store_true", help="no skip connections")
    t.add_argument("--seed", type=non_negative_int, default=0)
    t.add_argument("--out", metavar="DIR", help="checkpoints, curves, masks.png, result.json")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("eval", help="pixel accuracy, mean IoU and per-class IoU of a trained FCN "
                                    "on new scenes")
    e.add_argument("--checkpoint", required=True, metavar="CKPT")
    e.add_argument("--scenes", type=positive_int, default=500, metavar="N")
    e.add_argument("--seed", type=non_negative_int, default=2,
                   help="seed of the scenes (2: the training run's test scenes)")
    e.set_defaults(func=cmd_eval)
    s = sub.add_parser("predict", help="segment new scenes or PNG images with a trained FCN")
    s.add_argument("--checkpoint", required=True, metavar="CKPT")
    src = s.add_mutually_exclusive_group()
    src.add_argument("--image", nargs="+", metavar="PNG",
                     help="segment these RGB image files (the training size)")
    src.add_argument("--scenes", type=positive_int, default=6, metavar="N",
                     help="new scenes to segment (default 6)")
    s.add_argument("--seed", type=non_negative_int, default=100,
                   help="seed of the new scenes (training used 0-2)")
    s.add_argument("--out", metavar="PNG", help="save images and masks here")
    s.set_defaults(func=cmd_predict)
