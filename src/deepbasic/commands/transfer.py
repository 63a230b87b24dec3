"""``deepbasic transfer``: pretrain on some classes, fine-tune on others from a few labels each,
and compare with training from scratch on the same images.

    deepbasic transfer --dataset fashion-mnist --source 0-4 --target 5-9 --per-class 100 \\
        --pretrain-epochs 5 --epochs 30 --out runs/transfer
    deepbasic transfer --checkpoint runs/transfer/pretrain/last.safetensors --finetune all

The pretrained network (a ``convnet`` trained on the ``--source`` classes, or ``--checkpoint``)
gets a new last fully connected layer for the ``--target`` classes; everything else is frozen and
only that layer is trained on ``--per-class`` labelled images of each target class
(``--finetune all``: then every layer, at a tenth of the learning rate, for as many epochs
again). The same architecture from random weights is trained on the same images for the same
number of epochs. Prints both test accuracies on every test image of the target classes; with
``--out`` writes each stage's run directory, ``DIR/transfer.json`` and ``DIR/transfer.png``.
See :mod:`deepbasic.train.transfer`.
"""
from __future__ import annotations

import argparse
import os
import re
import time

from deepbasic.cli_args import CLIError, non_negative_int, positive_float, positive_int
from deepbasic.train.recipes import SCHEDULES

DATASETS = ["digits", "fashion-mnist", "mnist", "cifar10"]


def class_spec(text: str) -> str:
    """An argparse type: the syntax of a class spec (``0-4``, ``5,7,9``); the labels are checked
    against the dataset later (see :func:`deepbasic.train.transfer.parse_classes`)."""
    if not re.fullmatch(r"\s*\d+\s*(-\s*\d+\s*)?(,\s*\d+\s*(-\s*\d+\s*)?)*", text):
        raise argparse.ArgumentTypeError(f"expected class labels and ranges like 0-4 or 5,7,9, "
                                         f"got {text!r}")
    return text


def cmd_transfer(args) -> int:
    from deepbasic.data import load_dataset
    from deepbasic.train.transfer import (format_transfer_table, parse_classes,
                                          transfer_experiment)

    if args.checkpoint is not None:
        if not os.path.isfile(args.checkpoint):
            raise CLIError(f"--checkpoint {args.checkpoint}: no such file")
        if args.pretrain_epochs is not None:
            raise CLIError("--pretrain-epochs does not apply with --checkpoint (the network is "
                           "already trained)")
    data = load_dataset(args.dataset, root=args.data_root)
    try:  # check the class specs before anything is trained
        for spec in (args.source, args.target):
            if spec is not None:
                parse_classes(spec, len(data.classes))
    except ValueError as e:
        raise CLIError(str(e)) from None
    n = len(data.classes)
    what = (f"the network of {args.checkpoint}" if args.checkpoint else
            f"{args.model or 'convnet'} pretrained on classes {args.source or f'0-{n // 2 - 1}'} "
            f"for {args.pretrain_epochs or 5} epochs")
    target = args.target or ("the others" if args.checkpoint else f"{n // 2}-{n - 1}")
    print(f"transfer on {args.dataset}: {what}; target classes {target} "
          f"with {args.per_class} labelled images each; fine-tuning: {args.finetune}, "
          f"{args.epochs} epochs, lr {args.lr:g}, seed {args.seed}"
          + (f"; into {args.out}" if args.out else ""))
    t0 = time.perf_counter()
    try:
        result = transfer_experiment(
            data, args.source, args.target, per_class=args.per_class, model=args.model,
            checkpoint=args.checkpoint, pretrain_epochs=args.pretrain_epochs or 5,
            finetune_epochs=args.epochs, finetune=args.finetune, lr=args.lr,
            pretrain_lr=args.pretrain_lr, batch_size=args.batch_size, schedule=args.schedule,
            seed=args.seed, out_dir=args.out, verbose=not args.quiet)
    except ValueError as e:
        raise CLIError(str(e).splitlines()[0]) from None
    for warning in result["warnings"]:
        print(f"warning: {warning}")
    pre = result["pretrain"]
    if pre["source_test_accuracy"] is not None:
        print(f"pretrained network: test accuracy {pre['source_test_accuracy']:.4f} on its own "
              f"classes" + (f" ({pre['seconds']:.1f} s)" if pre["epochs"] else ""))
    print(format_transfer_table(result))
    print(f"{time.perf_counter() - t0:.1f} s in all")
    if args.out:
        print(f"result: {os.path.join(args.out, 'transfer.json')}\nplot: {result['plot']}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("transfer", help="reuse a network trained on some classes for "
                                               "others, against training from scratch")
    p.add_argument("--dataset", default="fashion-mnist", choices=DATASETS)
    p.add_argument("--checkpoint", metavar="CKPT",
                   help="a pretrained network (a .safetensors checkpoint of deepbasic train or "
                        "of an earlier transfer run) instead of pretraining one")
    p.add_argument("--source", type=class_spec, default=None, metavar="SPEC",
                   help="the classes to pretrain on, e.g. 0-4 (default: the first half)")
    p.add_argument("--target", type=class_spec, default=None, metavar="SPEC",
                   help="the classes to transfer to, e.g. 5-9 (default: the others)")
    p.add_argument("--per-class", type=positive_int, default=100, metavar="N",
                   help="labelled training images of each target class")
    p.add_argument("--model", default=None, choices=["mlp", "threelayer", "convnet",
                                                    "vgg-small", "resnet20"],
                   help="the network to pretrain (default convnet)")
    p.add_argument("--pretrain-epochs", type=positive_int, default=None, metavar="N",
                   help="epochs of pretraining on the source classes (default 5)")
    p.add_argument("--pretrain-lr", type=positive_float, default=1e-3,
                   help="the pretraining learning rate (Adam; batch 128)")
    p.add_argument("--epochs", type=positive_int, default=30, metavar="N",
                   help="fine-tuning epochs (scratch trains as many in all)")
    p.add_argument("--finetune", default="head", choices=["head", "all"],
                   help="head: train only the new last layer; all: then unfreeze everything "
                        "and train as many epochs again at lr/10")
    p.add_argument("--lr", type=positive_float, default=1e-3,
                   help="the fine-tuning learning rate (Adam), also scratch's")
    p.add_argument("--batch-size", type=positive_int, default=64,
                   help="the fine-tuning batch size")
    p.add_argument("--schedule", default="cosine", choices=list(SCHEDULES),
                   help="learning rate over the epochs of every stage")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--out", metavar="DIR", help="the runs, transfer.json and transfer.png")
    p.add_argument("--data-root", metavar="DIR")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.set_defaults(func=cmd_transfer)
