"""Random search against grid search with the same budget: an MLP's lr and L2 on Fashion-MNIST.

Design (fixed before running): each trial trains an MLP 784-256-128-10 with Adam (batch 64) for
``--epochs`` epochs on a stratified 10,000-image subset of the training split and is scored by its
best validation accuracy on the whole 5,000-image validation split. Both searches get ``--budget``
trials over the same space, lr log-uniform in [1e-4, 1e-1] and weight_decay (L2, Adam's coupled
penalty) log-uniform in [1e-6, 1e-2]; grid search puts 4 x 4 points on it (both ends of each
range included, evenly spaced in log), random search draws 16 configurations. The comparison is
repeated for seeds 0 .. ``--repeats`` - 1. With ``--dims 4`` the space also has dropout uniform in
[0, 0.5] and ``hidden``, the width of a single hidden layer, in 64..512 (then a 16-trial grid has
2 x 2 x 2 x 2 points: two values of each hyperparameter, the lesson of Bergstra & Bengio 2012): the seed fixes random search's draws and every trial's
initialization and batch order (the grid itself does not change). Every repetition is reported.

The best validation accuracy of a search is the maximum of noisy numbers and so is biased
upwards; both searches get the same number of tries, so the bias is the same for both.

    python experiments/search_fashion.py [--budget 16] [--epochs 8] [--repeats 3] [--workers 2]
                                         [--out runs/search_fashion]
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=16, help="trials per search")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--train-size", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3, help="seeds 0 .. repeats-1")
    ap.add_argument("--workers", type=int, default=None, help="default: one per core")
    ap.add_argument("--backend", default="process", choices=["process", "serial", "ray"])
    ap.add_argument("--out", default=None, help="write the JSON results and the scatter plot here")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--dims", type=int, default=2, choices=[2, 4],
                    help="2: lr and L2; 4: also dropout in [0, 0.5] and hidden width in [64, 512] "
                         "(a 16-trial grid then has 2 values per axis)")
    args = ap.parse_args(argv)

    from deepbasic.data.errors import DatasetNotFoundError
    from deepbasic.tune import LogUniform
    from deepbasic.tune.backends import make_backend, session
    from deepbasic.tune.search import compare_random_grid, comparison_line
    from deepbasic.tune.trial import MLPObjective, trial_data

    try:
        x, _, xv, _, _ = trial_data("fashion-mnist", args.data_root, args.train_size)
    except DatasetNotFoundError as e:
        print(f"search_fashion: Fashion-MNIST is not installed; nothing to run.\n{e}", file=sys.stderr)
        return 1
    space = {"lr": LogUniform(1e-4, 1e-1), "weight_decay": LogUniform(1e-6, 1e-2)}
    if args.dims == 4:
        from deepbasic.tune import IntUniform, Uniform

        space.update(dropout=Uniform(0.0, 0.5), hidden=IntUniform(64, 512))
    backend = make_backend(args.backend, args.workers)
    print(f"Fashion-MNIST: {len(x)} training images (stratified subset), {len(xv)} validation "
          f"images; MLP 256-128, Adam, batch 64, {args.epochs} epochs per trial; {args.budget} "
          f"trials per search; lr in [1e-4, 1e-1], weight_decay in [1e-6, 1e-2], log scale"
          f"{'; dropout in [0, 0.5], hidden width in [64, 512]' if args.dims == 4 else ''}; "
          f"{backend!r}", flush=True)
    rows, start = [], time.perf_counter()
    with session(backend):  # one pool of workers for every search
        for seed in range(args.repeats):
            objective = MLPObjective("fashion-mnist", epochs=args.epochs,
                                     train_size=args.train_size, seed=seed,
                                     data_root=args.data_root)
            results = compare_random_grid(objective, space, args.budget, seed=seed, backend=backend)
            print(f"\n=== seed {seed} ===")
            for method, r in results.items():
                print(r.to_table())
                for note in r.notes:
                    print(f"  ({note})")
                print()
            print(comparison_line(results), flush=True)
            rows.append((seed, results))
            if args.out:
                for method, r in results.items():
                    r.save_json(os.path.join(args.out, f"seed{seed}_{method}.json"))
                if seed == 0:
                    from deepbasic.tune.plots import plot_search

                    plot_search(results, os.path.join(args.out, "search_seed0.png"),
                                title=f"Fashion-MNIST, {args.train_size} training images, "
                                      f"{args.epochs} epochs: best validation accuracy per trial")
    print(f"\nsummary ({args.budget} trials per search, {time.perf_counter() - start:.0f} s in all)")
    print(f"{'seed':>4}  {'random best':>11}  {'grid best':>9}  {'random lr values':>16}  "
          f"{'grid lr values':>14}  winner")
    wins = {"random": 0, "grid": 0, "tie": 0}
    for seed, results in rows:
        r, g = results["random"], results["grid"]
        rb, gb = r.best.score, g.best.score
        winner = "random" if rb > gb else "grid" if gb > rb else "tie"
        wins[winner] += 1
        print(f"{seed:>4}  {rb:>11.4f}  {gb:>9.4f}  {len({t.config['lr'] for t in r.trials}):>16}  "
              f"{len({t.config['lr'] for t in g.trials}):>14}  {winner}")
    mean_r = sum(res["random"].best.score for _, res in rows) / len(rows)
    mean_g = sum(res["grid"].best.score for _, res in rows) / len(rows)
    print(f"mean  {mean_r:>11.4f}  {mean_g:>9.4f}")
    print(f"random search won {wins['random']}, grid search {wins['grid']}, ties {wins['tie']} "
          f"of {len(rows)} repetitions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
