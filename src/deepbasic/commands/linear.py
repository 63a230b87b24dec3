"""``deepbasic linear``: a linear SVM or softmax classifier trained by minibatch SGD.

    deepbasic linear --dataset fashion-mnist --loss softmax --epochs 15 --out runs/linear
    deepbasic linear --loss svm --reg 1e-3 --reg-type l1 --lr 0.01
"""
from __future__ import annotations

import os
import time

from deepbasic.cli_args import CLIError, non_negative_float, positive_float, positive_int


def cmd_linear(args) -> int:
    from deepbasic.classic.linear import (LinearClassifier, plot_loss_history,
                                          plot_weight_templates)
    from deepbasic.data import load_dataset

    d = load_dataset(args.dataset, root=args.data_root)
    if args.lr_decay <= 0 or args.lr_decay > 1:
        raise CLIError(f"--lr-decay must be in (0, 1], got {args.lr_decay}")
    clf = LinearClassifier(loss=args.loss, reg=args.reg, reg_type=args.reg_type, lr=args.lr,
                           epochs=args.epochs, batch_size=args.batch_size,
                           optimizer=args.optimizer, lr_decay=args.lr_decay,
                           preprocess=args.preprocess, seed=args.seed)
    print(f"linear {args.loss} on {args.dataset} ({len(d.train.x)} train / {len(d.val.x)} val / "
          f"{len(d.test.x)} test), reg {args.reg} ({args.reg_type}), lr {args.lr}, "
          f"{args.epochs} epochs, {args.optimizer}")
    t0 = time.perf_counter()
    clf.fit(d.train.x, d.train.y, d.val.x, d.val.y, verbose=not args.quiet)
    seconds = time.perf_counter() - t0
    acc = clf.score(d.test.x, d.test.y)
    print(f"test accuracy {acc:.4f} (validation {clf.val_history_[-1]:.4f}; {seconds:.1f} s training)")
    if args.out:
        shape = d.train.x.shape[1:]
        t = plot_weight_templates(clf.coef_, shape, d.classes,
                                  os.path.join(args.out, f"templates_{args.loss}.png"),
                                  title=f"{args.loss} weights, one template per class")
        c = plot_loss_history({args.loss: clf.loss_history_},
                              os.path.join(args.out, f"loss_{args.loss}.png"))
        print(f"templates: {t}\nloss curve: {c}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("linear", help="linear SVM / softmax classifier with weight templates")
    p.add_argument("--dataset", default="digits", choices=["digits", "fashion-mnist", "mnist"])
    p.add_argument("--loss", default="softmax", choices=["svm", "softmax"])
    p.add_argument("--reg", type=non_negative_float, default=1e-4, help="regularization strength")
    p.add_argument("--reg-type", default="l2", choices=["l2", "l1"])
    p.add_argument("--lr", type=positive_float, default=0.05)
    p.add_argument("--lr-decay", type=positive_float, default=0.85,
                   help="multiply the learning rate by this after each epoch")
    p.add_argument("--epochs", type=positive_int, default=15)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--optimizer", default="sgd",
                   choices=["sgd", "adam", "adamw", "rmsprop", "adagrad"])
    p.add_argument("--preprocess", default="standardize", choices=["none", "center", "standardize"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="DIR", help="write templates_<loss>.png and loss_<loss>.png")
    p.add_argument("--data-root", metavar="DIR")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.set_defaults(func=cmd_linear)
