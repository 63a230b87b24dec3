"""Classic classifiers on the real Fashion-MNIST: kNN, linear SVM, softmax; test accuracies and times.

kNN: k chosen by 5-fold CV on 5,000 training images (``--k`` to fix it), then all 60,000 training
images (train + val) classify the 10,000 test images with L2 distance.
Linear SVM and softmax: pixels in [0, 1], standardized (training mean image subtracted, divided by
one global std); a small grid of lr and reg per loss is tried on the 55,000/5,000 train/val split,
the best by validation accuracy is reported on the test set (the test set is used once).

    python experiments/fashion_classic.py [--k K] [--epochs 15] [--out runs/fashion_classic]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=None, help="skip the CV and use this k")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--out", default=None, help="write the CV plot and weight templates here")
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args(argv)

    from deepbasic.classic import KNearestNeighbor, LinearClassifier, cross_validate_k
    from deepbasic.classic.knn import best_k, plot_cross_validation
    from deepbasic.classic.linear import plot_weight_templates
    from deepbasic.data import load_dataset
    from deepbasic.data.errors import DatasetNotFoundError

    try:
        d = load_dataset("fashion-mnist", root=args.data_root, download=False)
    except DatasetNotFoundError as e:
        print(f"fashion_classic: Fashion-MNIST is not installed; nothing to run.\n{e}", file=sys.stderr)
        return 1
    Xall = np.concatenate([d.train.x, d.val.x])
    yall = np.concatenate([d.train.y, d.val.y])
    results = []

    # --- kNN ---------------------------------------------------------------------------------
    k = args.k
    if k is None:
        ks = [1, 3, 5, 7, 9, 15]
        t0 = time.perf_counter()
        acc = cross_validate_k(Xall[:5000], yall[:5000], ks, folds=5)
        k = best_k(ks, acc)
        print(f"kNN 5-fold CV on 5,000 training images ({time.perf_counter() - t0:.1f} s): "
              + ", ".join(f"k={kk}: {a:.4f}" for kk, a in zip(ks, acc.mean(axis=1))) + f" -> k={k}")
        if args.out:
            plot_cross_validation(ks, acc, os.path.join(args.out, "knn_cv.png"))
    knn = KNearestNeighbor(k=k).fit(Xall, yall)
    t0 = time.perf_counter()
    acc = knn.score(d.test.x, d.test.y)
    t = time.perf_counter() - t0
    print(f"kNN k={k} L2, {len(Xall)} training images: test accuracy {acc:.4f} "
          f"({t:.1f} s to classify {len(d.test.x)} test images)")
    results.append(("kNN", acc, t))

    # --- linear classifiers -------------------------------------------------------------------
    grid = {"svm": [dict(lr=lr, reg=reg) for lr in (0.01, 0.003) for reg in (1e-4, 1e-3)],
            "softmax": [dict(lr=lr, reg=reg) for lr in (0.05, 0.02) for reg in (1e-4, 1e-3)]}
    for loss, settings in grid.items():
        best = None
        for kw in settings:
            clf = LinearClassifier(loss=loss, epochs=args.epochs, batch_size=128, lr_decay=0.85,
                                   preprocess="standardize", seed=0, **kw)
            t0 = time.perf_counter()
            clf.fit(d.train.x, d.train.y)
            t = time.perf_counter() - t0
            val = clf.score(d.val.x, d.val.y)
            print(f"  {loss:7s} lr={kw['lr']:<6g} reg={kw['reg']:<6g} val accuracy {val:.4f} "
                  f"({t:.1f} s)")
            if best is None or val > best[0]:
                best = (val, kw, clf, t)
        val, kw, clf, t = best
        acc = clf.score(d.test.x, d.test.y)
        print(f"{loss} (lr={kw['lr']}, reg={kw['reg']}, {args.epochs} epochs, chosen on val "
              f"{val:.4f}): test accuracy {acc:.4f} ({t:.1f} s training)")
        results.append((f"linear {loss}", acc, t))
        if args.out:
            plot_weight_templates(clf.coef_, (28, 28), d.classes,
                                  os.path.join(args.out, f"templates_{loss}.png"))

    print("\nFashion-MNIST test accuracy (10,000 images)")
    for name, acc, t in results:
        print(f"  {name:15s} {acc:.4f}   {t:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
