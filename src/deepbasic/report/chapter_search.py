"""Chapter: hyperparameter search, random against grid with the same budget."""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, register


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os

    from deepbasic.tune import LogUniform
    from deepbasic.tune.plots import plot_search
    from deepbasic.tune.search import compare_random_grid, comparison_line
    from deepbasic.tune.trial import MLPObjective

    if quick:
        name, epochs, train_size = "digits", 5, None
    else:
        from deepbasic.data import load_dataset
        from deepbasic.data.errors import DatasetNotFoundError

        try:
            load_dataset("fashion-mnist", download=False)
            name, epochs, train_size = "fashion-mnist", 5, 10000
        except DatasetNotFoundError:
            name, epochs, train_size = "digits", 10, None
    budget = 16
    space = {"lr": LogUniform(1e-4, 1e-1), "weight_decay": LogUniform(1e-6, 1e-2)}
    objective = MLPObjective(name, epochs=epochs, train_size=train_size)
    results = compare_random_grid(objective, space, budget, seed=0, backend="process", workers=2)
    folder = os.path.join(out_dir, "search")
    for method, r in results.items():
        r.save_json(os.path.join(folder, f"{method}.json"))
    plot_search(results, os.path.join(folder, "search.png"),
                title=f"{name}: best validation accuracy of each trial ({budget} per search)")
    images = f"{train_size} training images" if train_size else "its whole training split"
    numbers = [("dataset", f"{name} ({images}), MLP 256-128, Adam, {epochs} epochs per trial, "
                           f"{budget} trials per search")]
    for method, r in results.items():
        b = r.best
        distinct = len({t.config["lr"] for t in r.trials})
        numbers.append((f"{method} search best validation accuracy",
                        f"{b.score:.4f} at lr {b.config['lr']:.3g}, weight decay "
                        f"{b.config['weight_decay']:.3g} ({distinct} distinct learning rates, "
                        f"{r.seconds:.1f} s on 2 worker processes)"))
    numbers.append(("verdict", comparison_line(results)))
    return ChapterResult(
        numbers=numbers,
        figures=[("search/search.png",
                  "Each trial at its learning rate and L2 strength, coloured by validation "
                  "accuracy (best ringed); right: accuracy against the learning rate alone")],
        notes=["With equal budgets a 4 x 4 grid tries 4 learning rates and random search 16; "
               "when one hyperparameter matters much more than the other, random search "
               "samples the important one more finely (Bergstra & Bengio, 2012). One seed and "
               "a small validation set: differences of a few validation images are noise."],
    )


register(Chapter(
    key="search",
    title="Hyperparameter search: random versus grid",
    idea=("Pick the learning rate and regularization by training many short runs and keeping "
          "the best validation accuracy. Sample them log-uniformly at random rather than on a "
          "grid: with the same budget, random search tries a different value of every "
          "hyperparameter in every trial."),
    command=("deepbasic search --dataset fashion-mnist --train-size 10000 --epochs 5 "
             "--method compare --budget 16 --out runs/search"),
    run=run,
))
