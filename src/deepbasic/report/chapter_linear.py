"""Chapter: linear classifiers (multiclass SVM and softmax) and their weight templates."""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, register


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os
    import time

    from deepbasic.classic.linear import (LinearClassifier, plot_loss_history,
                                          plot_weight_templates)
    from deepbasic.data import load_dataset
    from deepbasic.data.errors import DatasetNotFoundError

    try:
        d = load_dataset("fashion-mnist", download=False)
        name = "fashion-mnist"
    except DatasetNotFoundError:
        d = load_dataset("digits")
        name = "digits"
    n_train = 10000 if quick else len(d.train.x)
    epochs = 5 if quick else 15
    settings = {"svm": dict(lr=0.01, reg=1e-4), "softmax": dict(lr=0.05, reg=1e-4)}
    numbers = [("dataset", f"{name} ({min(n_train, len(d.train.x))} training images, "
                           f"{len(d.test.x)} test images), {epochs} epochs of SGD")]
    figures, histories = [], {}
    for loss, kw in settings.items():
        clf = LinearClassifier(loss=loss, epochs=epochs, lr_decay=0.85, preprocess="standardize",
                               **kw)
        t0 = time.perf_counter()
        clf.fit(d.train.x[:n_train], d.train.y[:n_train])
        seconds = time.perf_counter() - t0
        numbers.append((f"{loss} test accuracy", f"{clf.score(d.test.x, d.test.y):.4f} "
                                                 f"({seconds:.1f} s training)"))
        histories[loss] = clf.loss_history_
        plot_weight_templates(clf.coef_, d.train.x.shape[1:], d.classes,
                              os.path.join(out_dir, "linear", f"templates_{loss}.png"),
                              title=f"{loss}: one template per class")
        figures.append((f"linear/templates_{loss}.png",
                        f"The {loss} classifier's weights, one row of W per class as an image"))
    plot_loss_history(histories, os.path.join(out_dir, "linear", "loss.png"))
    figures.append(("linear/loss.png", "Training loss per epoch (data + L2 regularization)"))
    return ChapterResult(numbers=numbers, figures=figures)


register(Chapter(
    key="linear",
    title="Linear classifiers: SVM and softmax",
    idea=("Score each class with a dot product, s = W x + b, and learn W by minibatch gradient "
          "descent on the multiclass hinge (SVM) or softmax cross-entropy loss plus a weight "
          "penalty; each row of W is a template image of its class."),
    command=("deepbasic linear --dataset fashion-mnist --loss softmax --epochs 15 "
             "--out runs/linear"),
    run=run,
))
