"""Chapter: k-nearest neighbours, k chosen by cross-validation, L1 vs L2 distance."""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, register


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os
    import time

    import numpy as np

    from deepbasic.classic.knn import (KNearestNeighbor, best_k, compare_metrics,
                                       cross_validate_k, plot_cross_validation)
    from deepbasic.data import load_dataset

    name = "digits" if quick else "fashion-mnist"
    d = load_dataset(name)
    Xtr = np.concatenate([d.train.x, d.val.x])
    ytr = np.concatenate([d.train.y, d.val.y])
    Xte, yte = d.test.x, d.test.y
    ks = [1, 3, 5, 7, 9, 11, 15, 21]
    n_cv = len(Xtr) if quick else 5000
    acc = cross_validate_k(Xtr[:n_cv], ytr[:n_cv], ks, folds=5)
    k = best_k(ks, acc)
    plot_cross_validation(ks, acc, os.path.join(out_dir, "knn", "cv.png"),
                          title=f"kNN on {name}: accuracy vs k (5-fold CV, {n_cv} images)")
    model = KNearestNeighbor(k=k).fit(Xtr, ytr)
    t0 = time.perf_counter()
    test_acc = model.score(Xte, yte)
    seconds = time.perf_counter() - t0
    n_cmp = len(Xte) if quick else 1000
    rows = compare_metrics(Xtr if quick else Xtr[:10000], ytr if quick else ytr[:10000],
                           Xte[:n_cmp], yte[:n_cmp], k=k)
    numbers = [
        ("dataset", f"{name} ({len(Xtr)} training, {len(Xte)} test images)"),
        ("k chosen by 5-fold CV", f"{k} (mean CV accuracy {acc.mean(axis=1).max():.4f})"),
        ("test accuracy (L2)", f"{test_acc:.4f} ({seconds:.2f} s to classify the test set)"),
    ]
    where = "" if quick else f" ({n_cmp} test images vs 10,000 training images)"
    for r in rows:
        numbers.append((f"{r['metric'].upper()} distance{where}",
                        f"accuracy {r['accuracy']:.4f}, {r['predict_s']:.2f} s"))
    return ChapterResult(
        numbers=numbers,
        figures=[("knn/cv.png", "Accuracy vs k: each fold's accuracy (dots), mean +- std (line)")],
        notes=["L2 distances come from |a|^2 + |b|^2 - 2 a.b: one matrix product per chunk of test "
               "images; L1 has no such form and is an order of magnitude slower."],
    )


register(Chapter(
    key="knn",
    title="k-nearest neighbours",
    idea=("Memorize the training images; label a new image by a vote among the k training images "
          "nearest to it in pixel space. The one hyperparameter, k, is chosen by cross-validation "
          "on the training set, never on the test set."),
    command="deepbasic knn --dataset fashion-mnist --cv --out runs/knn",
    run=run,
))
