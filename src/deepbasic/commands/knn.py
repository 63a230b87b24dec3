"""``deepbasic knn``: k-nearest-neighbour classification, k chosen by cross-validation, L1 vs L2.

    deepbasic knn --dataset fashion-mnist --k 5                  # test accuracy, full train set
    deepbasic knn --dataset digits --cv --out runs/knn           # choose k by 5-fold CV + plot
    deepbasic knn --dataset fashion-mnist --metric both --train-size 10000 --test-size 1000
"""
from __future__ import annotations

import os
import time

import numpy as np

from deepbasic.cli_args import CLIError, positive_int

CV_KS = (1, 3, 5, 7, 9, 11, 15, 21)


def _data(args):
    from deepbasic.data import load_dataset

    d = load_dataset(args.dataset, root=args.data_root)
    # kNN has nothing to tune but k (chosen by CV on the training pool): train on train + val.
    Xtr = np.concatenate([d.train.x, d.val.x])
    ytr = np.concatenate([d.train.y, d.val.y])
    if args.train_size is not None:
        if args.train_size > len(Xtr):
            raise CLIError(f"--train-size {args.train_size} is larger than the {len(Xtr)} "
                           f"training images of {args.dataset}")
        keep = np.random.default_rng(args.seed).permutation(len(Xtr))[:args.train_size]
        Xtr, ytr = Xtr[keep], ytr[keep]
    Xte, yte = d.test.x, d.test.y
    if args.test_size is not None:
        Xte, yte = Xte[:args.test_size], yte[:args.test_size]
    return Xtr, ytr, Xte, yte


def cmd_knn(args) -> int:
    from deepbasic.classic.knn import (KNearestNeighbor, best_k, compare_metrics, cross_validate_k,
                                       format_table, plot_cross_validation)

    Xtr, ytr, Xte, yte = _data(args)
    print(f"kNN on {args.dataset}: {len(Xtr)} training images, {len(Xte)} test images")
    k = args.k
    if args.cv:
        n = min(len(Xtr), args.cv_size)
        ks = [kk for kk in CV_KS if kk <= n * 4 // 5]
        metric = "l2" if args.metric == "both" else args.metric
        t0 = time.perf_counter()
        acc = cross_validate_k(Xtr[:n], ytr[:n], ks, folds=5, metric=metric, seed=args.seed)
        k = best_k(ks, acc)
        print(f"5-fold cross-validation on {n} training images ({metric}, "
              f"{time.perf_counter() - t0:.1f} s):")
        for kk, row in zip(ks, acc):
            print(f"  k={kk:<3d} accuracy {row.mean():.4f} +- {row.std():.4f}")
        print(f"best k = {k}")
        if args.out:
            path = plot_cross_validation(ks, acc, os.path.join(args.out, "knn_cv.png"),
                                         title=f"kNN on {args.dataset}: accuracy vs k (5-fold CV)")
            print(f"plot: {path}")
    if k > len(Xtr):
        raise CLIError(f"--k {k} is larger than the {len(Xtr)} training images")
    if args.metric == "both":
        rows = compare_metrics(Xtr, ytr, Xte, yte, k=k)
        print(format_table(rows))
        return 0
    model = KNearestNeighbor(k=k, metric=args.metric).fit(Xtr, ytr)
    t0 = time.perf_counter()
    acc = model.score(Xte, yte)
    print(f"k={k} {args.metric}: test accuracy {acc:.4f} ({time.perf_counter() - t0:.1f} s to "
          f"classify {len(Xte)} images)")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("knn", help="k-nearest-neighbour classifier (choose k by CV, L1 vs L2)")
    p.add_argument("--dataset", default="digits", choices=["digits", "fashion-mnist", "mnist"])
    p.add_argument("--k", type=positive_int, default=5, help="neighbours that vote (default 5)")
    p.add_argument("--cv", action="store_true",
                   help="choose k by 5-fold cross-validation on a training subset (--cv-size)")
    p.add_argument("--cv-size", type=positive_int, default=5000,
                   help="training images used for --cv (default 5000)")
    p.add_argument("--metric", default="l2", choices=["l2", "l1", "both"],
                   help="distance; 'both' prints an L1 vs L2 table of accuracy and time")
    p.add_argument("--train-size", type=positive_int, default=None,
                   help="use a random subset of this many training images")
    p.add_argument("--test-size", type=positive_int, default=None,
                   help="classify only the first N test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="DIR", help="write the CV plot (knn_cv.png) here")
    p.add_argument("--data-root", metavar="DIR", help="where the dataset's files are")
    p.set_defaults(func=cmd_knn)
