"""``deepbasic decay``: the same MLP trained with each learning-rate schedule, compared.

    deepbasic decay --dataset fashion-mnist --epochs 15 --hidden 256,128 --batch-size 128 \\
        --out runs/decay
    deepbasic decay --schedules constant,cosine --epochs 20

Every run has the same seed (initial weights, batch order) and initial lr; only the schedule
differs (see :func:`deepbasic.train.recipes.make_scheduler`). Prints a table (final lr, training
loss, best and final validation accuracy, test accuracy); with ``--out`` writes each run into
``DIR/<schedule>``, ``DIR/schedules.json`` and ``DIR/schedules.png`` (lr, training loss and
validation accuracy per epoch).
"""
from __future__ import annotations

import argparse
import json
import os
import time

from deepbasic.cli_args import (hidden_sizes, non_negative_float, non_negative_int,
                                positive_float, positive_int, probability)
from deepbasic.train.recipes import SCHEDULES


def schedule_list(text: str) -> tuple:
    """An argparse type: comma-separated schedule names, each one of ``SCHEDULES``, no repeats."""
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in names if s not in SCHEDULES]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated schedules from {','.join(SCHEDULES)}, got {text!r}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected each schedule once, got {text!r}")
    return names


def cmd_decay(args) -> int:
    from deepbasic.serialization import atomic_write
    from deepbasic.tune.schedules import (compare_schedules, format_schedule_table,
                                          plot_schedule_comparison)

    print(f"lr schedules {', '.join(args.schedules)} on {args.dataset}: MLP {list(args.hidden)}, "
          f"{args.epochs} epochs from lr {args.lr:g}, seed {args.seed}"
          + (f", into {args.out}" if args.out else ""))
    t0 = time.perf_counter()
    results = compare_schedules(
        args.dataset, args.schedules, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        seed=args.seed, weight_decay=args.weight_decay, out_dir=args.out, data_root=args.data_root,
        verbose=not args.quiet,
        model_kwargs={"hidden": list(args.hidden), "batch_norm": args.batch_norm,
                      "dropout": args.dropout})
    print(format_schedule_table(results))
    print(f"{time.perf_counter() - t0:.1f} s")
    if args.out:
        path = os.path.join(args.out, "schedules.json")
        with atomic_write(path, "w") as f:
            json.dump(results, f, indent=1)
        png = plot_schedule_comparison(results, os.path.join(args.out, "schedules.png"))
        print(f"result: {path}\nplot: {png}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("decay", help="compare learning-rate schedules on the same MLP")
    p.add_argument("--dataset", default="digits", choices=["digits", "fashion-mnist", "mnist"])
    p.add_argument("--schedules", type=schedule_list, default=tuple(SCHEDULES),
                   help=f"comma-separated, from {','.join(SCHEDULES)} (default all)")
    p.add_argument("--epochs", type=positive_int, default=20)
    p.add_argument("--lr", type=positive_float, default=1e-3, help="the initial learning rate")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--weight-decay", type=non_negative_float, default=0.0)
    p.add_argument("--hidden", type=hidden_sizes, default=(256, 128),
                   help="hidden layer widths, e.g. 256,128")
    p.add_argument("--batch-norm", action="store_true", help="batch norm after each hidden layer")
    p.add_argument("--dropout", type=probability, default=0.0)
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--out", metavar="DIR", help="the runs, schedules.json and schedules.png")
    p.add_argument("--data-root", metavar="DIR")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.set_defaults(func=cmd_decay)
