"""Learning-rate decay on the real Fashion-MNIST: constant, step, exponential and cosine schedules
on the same MLP.

Design (fixed before running): an MLP 784-256-128-10 (no batch norm, no dropout, so the schedule
is the only regularizing difference), Adam from lr 1e-3, batch 128, 20 epochs, seed 0 for every
run (same initial weights, same batch order); the 55,000 / 5,000 train / validation split and the
official 10,000 test images. Schedules (see deepbasic.train.recipes.make_scheduler): step = lr/10
after epoch 10 and lr/100 after epoch 15; exponential = a smooth 100x decay (gamma =
0.01^(1/19)); cosine = half a cosine towards 0. Reported per schedule: final lr, final training
loss, best and final validation accuracy, and the test accuracy of the final weights (the test
set is used only for this report).

    python experiments/lr_decay_fashion.py [--epochs 20] [--out runs/lr_decay_fashion]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--out", default="runs/lr_decay_fashion")
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args(argv)

    from deepbasic.data import load_dataset
    from deepbasic.data.errors import DatasetNotFoundError
    from deepbasic.serialization import atomic_write
    from deepbasic.tune.schedules import (compare_schedules, format_schedule_table,
                                          plot_schedule_comparison)

    try:
        load_dataset("fashion-mnist", root=args.data_root, download=False)
    except DatasetNotFoundError as e:
        print(f"lr_decay_fashion: Fashion-MNIST is not installed; nothing to run.\n{e}",
              file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    results = compare_schedules("fashion-mnist", ("constant", "step", "exponential", "cosine"),
                                epochs=args.epochs, lr=args.lr, batch_size=128, seed=0,
                                model_kwargs={"hidden": [256, 128]}, out_dir=args.out,
                                data_root=args.data_root, verbose=True)
    seconds = time.perf_counter() - t0
    print(format_schedule_table(results))
    for name, r in results["runs"].items():
        print(f"{name:12s} val accuracy per epoch: " + " ".join(f"{a:.4f}" for a in r["val_accuracy"]))
    results["total_seconds"] = seconds
    with atomic_write(os.path.join(args.out, "schedules.json"), "w") as f:
        json.dump(results, f, indent=1)
    png = plot_schedule_comparison(results, os.path.join(args.out, "schedules.png"))
    print(f"{seconds:.0f} s; wrote {args.out}/schedules.json and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
