"""``deepbasic localize``: classification + localization of the single object in a scene.

    deepbasic localize train --images 4000 --epochs 10 --out runs/localize
    deepbasic localize predict --checkpoint runs/localize/best.safetensors --images 8 --out b.png
    deepbasic localize predict --checkpoint runs/localize/best.safetensors --image a.png --out b.png

``train`` generates single-object scenes (train / validation / test from different seeds), trains a
CNN with a class head and a box head on cross-entropy + lambda * box loss (smooth L1 or L2), and
prints class accuracy and mean box IoU on the test images; ``predict`` labels and boxes new scenes
(with the true boxes beside) or RGB PNG files of the training size and saves them drawn as a PNG.
See :mod:`deepbasic.train.localization`.
"""
from __future__ import annotations

import os
import time

import numpy as np

from deepbasic.cli_args import (CLIError, hidden_sizes, non_negative_float, non_negative_int,
                                positive_float, positive_int)


def cmd_train(args) -> int:
    from deepbasic.train.localization import localization_experiment

    k = len(args.channels)
    if args.size % 2 ** k:
        raise CLIError(f"--size must be a multiple of {2 ** k} ({k} pooling stages), got "
                       f"{args.size}")
    if args.resume and not args.out:
        raise CLIError("--resume needs --out (the run to continue)")
    print(f"localization: {args.images} training images of {args.size}x{args.size}, "
          f"{args.epochs} epochs, lr {args.lr:g}, box loss {args.box_loss} x {args.box_weight:g}, "
          f"seed {args.seed}" + (f"; into {args.out}" if args.out else ""))
    try:
        r = localization_experiment(train_images=args.images, val_images=args.val_images,
                                    test_images=args.test_images, size=args.size,
                                    epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                                    channels=args.channels, hidden=args.hidden,
                                    box_weight=args.box_weight, box_loss=args.box_loss,
                                    beta=args.beta, seed=args.seed, out_dir=args.out,
                                    resume=args.resume, progress=not args.no_progress)
    except (ValueError, RuntimeError) as e:
        raise CLIError(str(e).splitlines()[0]) from None
    print(f"{r['parameters']:,} parameters, {r['train_time_s']:.1f} s of training, "
          f"{r['epochs']} epochs")
    print(f"test class accuracy {r['test_accuracy']:.4f}   mean box IoU "
          f"{r['test_mean_box_iou']:.4f}   IoU >= 0.5: {r['test_box_iou_50']:.3f}   right class "
          f"and IoU >= 0.5: {r['test_correct_and_iou_50']:.3f}   ({r['test_images']} images)")
    if args.out:
        print(f"boxes: {r['boxes_png']}\nresult: {os.path.join(args.out, 'result.json')}")
    return 0


def cmd_predict(args) -> int:
    from deepbasic.commands._images import load_model_checkpoint, read_images
    from deepbasic.data.shapes import single_object_dataset
    from deepbasic.train.localization import box_iou_per_image, load_localizer
    from deepbasic.vision.boxes import xywh_to_xyxy
    from deepbasic.visualize.detection import save_detections

    model, config = load_model_checkpoint(args.checkpoint, load_localizer, "localization")
    names = list(config["class_names"])
    truth = None
    if args.image:
        images = read_images(args.image, model.input_shape)
    else:
        data = single_object_dataset(args.images, seed=args.seed, size=config["size"],
                                     **config.get("scene_options", {}))
        images = data.images
        truth = (data.labels, np.asarray(xywh_to_xyxy(data.boxes.astype(np.float64))))
    t0 = time.perf_counter()
    labels, probs, boxes = model.predict(images)
    ms = 1000 * (time.perf_counter() - t0) / len(images)
    iou = None if truth is None else box_iou_per_image(boxes, truth[1])
    for i in range(len(images)):
        box = ", ".join(f"{v:.1f}" for v in boxes[i])
        line = f"{i:3d}  {names[labels[i]]:<9} p={probs[i]:.3f}  box xyxy ({box})"
        if truth is not None:
            line += f"   true {names[truth[0][i]]}, IoU {iou[i]:.3f}"
        print(line)
    if truth is not None:
        print(f"on these {len(images)} images: class accuracy {np.mean(labels == truth[0]):.4f}, "
              f"mean box IoU {iou.mean():.4f}")
    print(f"{ms:.2f} ms per image")
    if args.out:
        path = save_detections(images, [b[None] for b in boxes], [[k] for k in labels],
                               [[p] for p in probs], args.out, class_names=names,
                               true_boxes=None if truth is None else [b[None] for b in truth[1]],
                               true_labels=None if truth is None else [[k] for k in truth[0]])
        print(f"boxes: {path}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("localize", help="classification + localization of single objects: "
                                               "a class head and a box head on one CNN")
    sub = p.add_subparsers(dest="action", required=True, metavar="train|predict")
    t = sub.add_parser("train", help="train a localizer and measure class accuracy and mean box "
                                     "IoU on held-out images")
    t.add_argument("--images", type=positive_int, default=4000, metavar="N",
                   help="training images (one object each)")
    t.add_argument("--val-images", type=positive_int, default=500, metavar="N")
    t.add_argument("--test-images", type=positive_int, default=1000, metavar="N")
    t.add_argument("--size", type=positive_int, default=64, help="image side in pixels")
    t.add_argument("--epochs", type=positive_int, default=10)
    t.add_argument("--lr", type=positive_float, default=2e-3, help="Adam, cosine schedule")
    t.add_argument("--batch-size", type=positive_int, default=64)
    t.add_argument("--channels", type=hidden_sizes, default=(16, 32, 64, 64),
                   help="filters per conv block (each halves the image), e.g. 16,32,64,64")
    t.add_argument("--hidden", type=positive_int, default=256, help="hidden units of the box head")
    t.add_argument("--box-loss", choices=("smooth_l1", "l2"), default="smooth_l1")
    t.add_argument("--box-weight", type=non_negative_float, default=5.0, metavar="LAMBDA",
                   help="loss = cross-entropy + LAMBDA * box loss")
    t.add_argument("--beta", type=positive_float, default=0.02,
                   help="smooth L1's quadratic zone, in units of the image side")
    t.add_argument("--seed", type=non_negative_int, default=0)
    t.add_argument("--out", metavar="DIR", help="checkpoints, curves, boxes.png, result.json")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_train)
    s = sub.add_parser("predict", help="label and box new scenes or PNG images")
    s.add_argument("--checkpoint", required=True, metavar="CKPT")
    src = s.add_mutually_exclusive_group()
    src.add_argument("--image", nargs="+", metavar="PNG",
                     help="RGB image files of the training size")
    src.add_argument("--images", type=positive_int, default=8, metavar="N",
                     help="new single-object scenes (default 8)")
    s.add_argument("--seed", type=non_negative_int, default=100,
                   help="seed of the new scenes (training used 0-2)")
    s.add_argument("--out", metavar="PNG", help="save the images with their boxes here")
    s.set_defaults(func=cmd_predict)
