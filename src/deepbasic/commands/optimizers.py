"""``deepbasic optimizers``: first-order optimizers and L-BFGS on full-batch softmax regression.

    deepbasic optimizers --dataset fashion-mnist --iterations 100 --out runs/optimizers
    deepbasic optimizers --methods sgd,adam,lbfgs --iterations 50 --train-size 5000
    deepbasic optimizers --methods sgd,momentum --lrs sgd=0.1,momentum=0.01
"""
from __future__ import annotations

import argparse
import json
import os

from deepbasic.cli_args import CLIError, non_negative_float, non_negative_int, positive_int


def method_list(text: str) -> tuple:
    """``sgd,adam,lbfgs`` -> ("sgd", "adam", "lbfgs"), each one of the known methods."""
    from deepbasic.classic.optimizers import METHODS

    names = tuple(s.strip().lower() for s in text.split(",") if s.strip())
    unknown = [n for n in names if n not in METHODS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated methods from {','.join(METHODS)}, got {text!r}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a method is listed twice in {text!r}")
    return names


def lr_overrides(text: str) -> dict:
    """``sgd=0.1,adam=0.003`` -> {"sgd": 0.1, "adam": 0.003}."""
    from deepbasic.classic.optimizers import METHODS

    out = {}
    for item in (s.strip() for s in text.split(",") if s.strip()):
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        try:
            lr = float(value)
        except ValueError:
            lr = None
        if not sep or name not in METHODS or lr is None or not lr > 0:
            raise argparse.ArgumentTypeError(
                f"expected METHOD=LR pairs like sgd=0.1,adam=0.003 (methods: {','.join(METHODS)}; "
                f"positive learning rates), got {item!r}")
        out[name] = lr
    if not out:
        raise argparse.ArgumentTypeError(f"expected METHOD=LR pairs like sgd=0.1, got {text!r}")
    return out


def cmd_optimizers(args) -> int:
    from deepbasic.classic.optimizers import (compare_optimizers, comparison_table,
                                              plot_optimizer_comparison)
    from deepbasic.data import load_dataset
    from deepbasic.serialization import atomic_write

    lrs = args.lrs or {}
    extra = [m for m in lrs if m not in args.methods]
    if extra:
        raise CLIError(f"--lrs names {', '.join(extra)}, which --methods does not run "
                       f"({','.join(args.methods)})")
    d = load_dataset(args.dataset, root=args.data_root)
    n = len(d.train.x)
    if args.train_size and args.train_size > n:
        raise CLIError(f"--train-size {args.train_size} is larger than the {n} training images "
                       f"of {args.dataset}")
    n = args.train_size or n
    print(f"softmax regression on {args.dataset} ({n} training images, full batch, reg "
          f"{args.reg}, {args.dtype}), {args.iterations} iterations of "
          f"{', '.join(args.methods)}")
    hist = compare_optimizers(d.train.x[:n], d.train.y[:n], reg=args.reg,
                              iterations=args.iterations, methods=args.methods, lrs=lrs,
                              seed=args.seed, x_test=d.test.x, y_test=d.test.y,
                              dtype=args.dtype, verbose=not args.quiet)
    print(comparison_table(hist))
    if args.out:
        png = plot_optimizer_comparison(
            hist, os.path.join(args.out, "optimizers.png"),
            title=f"softmax regression on {args.dataset} ({n} images, full batch)")
        path = os.path.join(args.out, "optimizers.json")
        record = {"dataset": args.dataset, "train_size": n, "reg": args.reg,
                  "iterations": args.iterations, "dtype": args.dtype, "seed": args.seed,
                  "histories": hist}
        with atomic_write(path, "w") as f:
            json.dump(record, f, indent=1, allow_nan=True)
        print(f"figure: {png}\nhistories: {path}")
    return 0


def register(subparsers) -> None:
    from deepbasic.classic.optimizers import METHODS

    p = subparsers.add_parser(
        "optimizers", help="SGD, momentum, Adagrad, RMSprop, Adam and L-BFGS on softmax regression")
    p.add_argument("--dataset", default="digits", choices=["digits", "fashion-mnist", "mnist"])
    p.add_argument("--iterations", type=positive_int, default=100,
                   help="full-batch iterations per method (L-BFGS: quasi-Newton updates)")
    p.add_argument("--methods", type=method_list, default=METHODS, metavar="M1,M2",
                   help=f"comma-separated, from {','.join(METHODS)} (default: all)")
    p.add_argument("--lrs", type=lr_overrides, default=None, metavar="M=LR,...",
                   help="learning rates replacing the defaults, e.g. sgd=0.1,adam=0.003")
    p.add_argument("--reg", type=non_negative_float, default=1e-3, help="L2 penalty on W")
    p.add_argument("--train-size", type=non_negative_int, default=0,
                   help="use the first N training images (0: all)")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="DIR", help="write optimizers.png and optimizers.json")
    p.add_argument("--data-root", metavar="DIR")
    p.add_argument("--quiet", action="store_true", help="no per-method lines while running")
    p.set_defaults(func=cmd_optimizers)
