"""Chapter: first-order optimizers and L-BFGS, compared on full-batch softmax regression."""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, register


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os

    from deepbasic.classic.optimizers import compare_optimizers, plot_optimizer_comparison
    from deepbasic.data import load_dataset
    from deepbasic.data.errors import DatasetNotFoundError

    try:
        d = load_dataset("fashion-mnist", download=False)
        name = "fashion-mnist"
    except DatasetNotFoundError:
        d = load_dataset("digits")
        name = "digits"
    n_train = min(2000 if quick else len(d.train.x), len(d.train.x))
    iterations = 30 if quick else 100
    hist = compare_optimizers(d.train.x[:n_train], d.train.y[:n_train], reg=1e-3,
                              iterations=iterations, seed=0, x_test=d.test.x, y_test=d.test.y)
    plot_optimizer_comparison(hist, os.path.join(out_dir, "optimizers", "comparison.png"),
                              title=f"softmax regression on {name} ({n_train} images, full batch)")
    numbers = [("problem", f"softmax regression + L2 (reg 1e-3) on {name}: {n_train} training "
                           f"images, full batch, {iterations} iterations per method, float64")]
    for m, h in hist.items():
        loss = "diverged" if h["diverged"] else f"{h['final_loss']:.4f}"
        evals = f", {h['total_evals']} evaluations" if m == "lbfgs" else ""
        numbers.append((f"{m} (lr {h['lr']:g})",
                        f"loss {loss}, test accuracy {h['test_accuracy']:.4f} "
                        f"({h['total_seconds']:.2f} s{evals})"))
    best_first_order = min((h["final_loss"] for m, h in hist.items() if m != "lbfgs"),
                           default=float("nan"))
    lb = hist["lbfgs"]
    notes = [f"After {iterations} iterations L-BFGS is at loss {lb['final_loss']:.4f}, the best "
             f"first-order method at {best_first_order:.4f}. A first-order iteration is one "
             f"loss-and-gradient evaluation; L-BFGS computed {lb['total_evals']} for its "
             f"{iterations} (its line search may try more than one step) and adds a two-loop "
             f"recursion over its history, so the wall-time panel is the fair comparison."]
    best_acc = max(((h["test_accuracy"], m) for m, h in hist.items() if not h["diverged"]),
                   default=(0.0, "lbfgs"))
    if best_acc[1] != "lbfgs":
        notes.append(f"A lower training loss is not a better test accuracy: {best_acc[1]} tests "
                     f"best ({best_acc[0]:.4f}, L-BFGS {hist['lbfgs']['test_accuracy']:.4f}); "
                     f"closer to the minimum of a weakly regularized loss on {n_train} images "
                     f"means fitting those images more closely.")
    figures = [("optimizers/comparison.png",
                "Training loss (log scale) per iteration and per second of wall time")]
    return ChapterResult(numbers=numbers, figures=figures, notes=notes)


register(Chapter(
    key="optimizers",
    title="Optimizers: from gradient descent to L-BFGS",
    idea=("On one convex problem, softmax regression over full batches, compare plain gradient "
          "descent, momentum, Nesterov, Adagrad, RMSprop and Adam with L-BFGS, which builds a "
          "curvature model from the last gradient changes (two-loop recursion) and picks its step "
          "by a strong-Wolfe line search."),
    command="deepbasic optimizers --dataset fashion-mnist --iterations 100 --out runs/optimizers",
    run=run,
))
