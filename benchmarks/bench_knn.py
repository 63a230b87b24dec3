"""kNN prediction speed, deepbasic vs scikit-learn (brute force), on the real Fashion-MNIST.

Both classify the same test images against the same 60,000 training images (pixels in [0, 1],
float32, flattened to 784) with the same k, in one process with the same BLAS threads: deepbasic's
``KNearestNeighbor`` (one float32 GEMM per chunk of test rows + argpartition) and scikit-learn's
``KNeighborsClassifier(algorithm="brute", n_jobs=None)``. Prints both times, the ratio
scikit-learn / deepbasic (> 1: deepbasic is faster), both accuracies and how often they agree.

    python benchmarks/bench_knn.py [--k 5] [--test-size 10000] [--train-size 60000] [--repeats 1]

k: from ``--k`` (default 5, the usual cross-validated choice on Fashion-MNIST; ``--cv`` picks it by
5-fold CV on 5,000 training images first).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def load(train_size: int, test_size: int, data_root=None):
    from deepbasic.data import load_dataset
    from deepbasic.data.errors import DatasetNotFoundError

    try:
        d = load_dataset("fashion-mnist", root=data_root, download=False)
    except DatasetNotFoundError as e:
        print("bench_knn: Fashion-MNIST is not installed here, so there is nothing to measure.\n"
              "Install it with `apt-get install dataset-fashion-mnist` or see below.\n\n" + str(e),
              file=sys.stderr)
        sys.exit(1)
    Xtr = np.concatenate([d.train.x, d.val.x]).reshape(-1, 784)      # the official 60,000
    ytr = np.concatenate([d.train.y, d.val.y])
    Xte, yte = d.test.x.reshape(-1, 784), d.test.y
    return Xtr[:train_size], ytr[:train_size], Xte[:test_size], yte[:test_size]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--cv", action="store_true", help="choose k by 5-fold CV on 5,000 images")
    ap.add_argument("--train-size", type=int, default=60000)
    ap.add_argument("--test-size", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=1, help="best of this many timings each")
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args(argv)

    import sklearn
    from sklearn.neighbors import KNeighborsClassifier

    from deepbasic import backend
    from deepbasic.classic import KNearestNeighbor, cross_validate_k
    from deepbasic.classic.knn import best_k

    Xtr, ytr, Xte, yte = load(args.train_size, args.test_size, args.data_root)
    k = args.k
    if args.cv:
        ks = [1, 3, 5, 7, 9, 15]
        acc = cross_validate_k(Xtr[:5000], ytr[:5000], ks, folds=5)
        k = best_k(ks, acc)
        print("5-fold CV on 5,000 images: " + ", ".join(f"k={kk} {a:.4f}" for kk, a in
                                                       zip(ks, acc.mean(axis=1))) + f" -> k={k}")
    print(f"Fashion-MNIST: {len(Xtr)} train, {len(Xte)} test, D=784, k={k}, L2; "
          f"scikit-learn {sklearn.__version__}; BLAS {backend.blas_threads()}")

    ours = KNearestNeighbor(k=k).fit(Xtr, ytr)
    sk = KNeighborsClassifier(n_neighbors=k, algorithm="brute", n_jobs=None).fit(Xtr, ytr)

    def best_of(fn):
        times, out = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return min(times), out

    t_db, p_db = best_of(lambda: ours.predict(Xte))
    t_sk, p_sk = best_of(lambda: sk.predict(Xte))
    acc_db, acc_sk = float(np.mean(p_db == yte)), float(np.mean(p_sk == yte))
    print(f"deepbasic    predict {t_db:8.2f} s   accuracy {acc_db:.4f}")
    print(f"scikit-learn predict {t_sk:8.2f} s   accuracy {acc_sk:.4f}")
    print(f"ratio scikit-learn / deepbasic = {t_sk / t_db:.2f}x "
          f"({'deepbasic faster' if t_db < t_sk else 'scikit-learn faster'}); "
          f"predictions agree on {np.mean(p_db == p_sk):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
