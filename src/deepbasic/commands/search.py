"""``deepbasic search``: random, grid or coarse-to-fine search of an MLP's learning rate and L2
regularization, trials run in parallel processes (or serially, or on Ray).

    deepbasic search --dataset digits --method compare --budget 16 --epochs 10 --out runs/search
    deepbasic search --dataset fashion-mnist --train-size 10000 --epochs 5 --method random \\
        --budget 32 --workers 2
    deepbasic search --method coarse-to-fine --budget 24 --rounds 3 --backend ray --address auto

Each trial trains the MLP with Adam for ``--epochs`` and scores it by its best validation
accuracy. ``--out DIR`` writes ``search_<method>.json`` per search and ``search.png``.
"""
from __future__ import annotations

import argparse
import os
import time

from deepbasic.cli_args import CLIError, hidden_sizes, non_negative_int, positive_int

METHODS = ("random", "grid", "coarse-to-fine", "compare")


def log_range(text: str) -> tuple:
    """argparse type: ``LOW,HIGH`` with 0 < LOW < HIGH (a log-uniform range)."""
    expected = f"two numbers LOW,HIGH with 0 < LOW < HIGH, like 1e-4,1e-1, got {text!r}"
    parts = [p.strip() for p in text.split(",")]
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}") from None
    if not 0 < low < high < float("inf"):
        raise argparse.ArgumentTypeError(f"expected {expected}")
    return low, high


def _progress(label: str, total: int):
    done = [0]

    def report(trial):
        done[0] += 1
        cfg = "  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in trial.config.items())
        what = f"score {trial.score:.4f}" if trial.ok else f"failed: {trial.error}"
        print(f"  [{done[0]:>{len(str(total))}}/{total}] {label:<6} {what}  {cfg}  "
              f"({trial.seconds:.1f} s)", flush=True)

    return report


def cmd_search(args) -> int:
    from deepbasic.tune import LogUniform
    from deepbasic.tune.search import (coarse_to_fine, comparison_line, grid_search,
                                       random_search)
    from deepbasic.tune.trial import MLPObjective, trial_data

    if args.address and args.backend != "ray":
        raise CLIError(f"--address is for --backend ray, got --backend {args.backend}")
    if args.method == "coarse-to-fine" and args.budget < args.rounds:
        raise CLIError(f"--budget {args.budget} is smaller than --rounds {args.rounds}: "
                       f"coarse-to-fine needs at least one trial per round")
    # load the data here once: a missing dataset or a too-large --train-size is one error now,
    # not one failed trial per configuration (and the serial backend reuses it)
    x, _, xv, _, _ = trial_data(args.dataset, args.data_root, None)
    if args.train_size is not None and args.train_size > len(x):
        raise CLIError(f"--train-size {args.train_size} is larger than the {len(x)} training "
                       f"images of {args.dataset}")
    n_train = args.train_size or len(x)
    space = {"lr": LogUniform(*args.lr_range), "weight_decay": LogUniform(*args.reg_range)}
    objective = MLPObjective(args.dataset, epochs=args.epochs, train_size=args.train_size,
                             hidden=tuple(args.hidden), batch_size=args.batch_size, seed=args.seed,
                             data_root=args.data_root)
    print(f"search on {args.dataset} ({n_train} training / {len(xv)} validation images): MLP "
          f"{','.join(map(str, args.hidden))}, Adam, {args.epochs} epochs per trial; lr in "
          f"[{args.lr_range[0]:g}, {args.lr_range[1]:g}], weight_decay (L2) in "
          f"[{args.reg_range[0]:g}, {args.reg_range[1]:g}], both log-uniform; backend "
          f"{args.backend}" + (f" ({args.workers} workers)" if args.workers else ""))
    common = dict(backend=args.backend, workers=args.workers, address=args.address)
    methods = ["random", "grid"] if args.method == "compare" else [args.method]
    results = {}
    t0 = time.perf_counter()
    try:
        for method in methods:
            budget = args.budget
            if method == "coarse-to-fine":
                per_round = args.budget // args.rounds
                print(f"coarse-to-fine: {args.rounds} rounds of {per_round} trials, narrowing "
                      f"around the best {args.keep_top}")
                r = coarse_to_fine(objective, space, per_round, args.rounds, args.seed,
                                   keep_top=args.keep_top,
                                   callback=None if args.quiet else _progress("c2f", per_round * args.rounds),
                                   **common)
            else:
                search = random_search if method == "random" else grid_search
                print(f"{method} search: {budget} trials")
                r = search(objective, space, budget, args.seed,
                           callback=None if args.quiet else _progress(method, budget), **common)
            results[method] = r
    except ImportError as e:  # the ray backend without Ray
        raise CLIError(str(e)) from None
    print()
    for method, r in results.items():
        print(r.to_table(top=args.top))
        for note in r.notes:
            print(f"  ({note})")
        if r.rounds:
            for k, sp in enumerate(r.rounds, 1):
                ranges = ", ".join(f"{n} [{d['low']:.3g}, {d['high']:.3g}]" for n, d in sp.items()
                                   if "low" in d)
                print(f"  round {k}: {ranges}")
        print()
    if len(results) > 1:
        print(comparison_line(results))
    print(f"total {time.perf_counter() - t0:.1f} s")
    if args.out:
        from deepbasic.tune.plots import plot_search

        for method, r in results.items():
            path = r.save_json(os.path.join(args.out, f"search_{method}.json"))
            print(f"results: {path}")
        png = plot_search(results, os.path.join(args.out, "search.png"),
                          title=f"{args.dataset}: validation accuracy over lr and L2 "
                                f"({args.budget} trials per search)")
        print(f"scatter: {png}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("search", help="hyperparameter search (random / grid / coarse-to-fine)")
    p.add_argument("--dataset", default="digits", choices=["digits", "fashion-mnist", "mnist"])
    p.add_argument("--method", default="random", choices=METHODS,
                   help="compare: random and grid search with the same budget")
    p.add_argument("--budget", type=positive_int, default=16,
                   help="trials per search (coarse-to-fine: in all, split over --rounds)")
    p.add_argument("--rounds", type=positive_int, default=3, help="coarse-to-fine rounds")
    p.add_argument("--keep-top", type=positive_int, default=3,
                   help="coarse-to-fine: narrow around this many best trials")
    p.add_argument("--epochs", type=positive_int, default=10, help="epochs per trial")
    p.add_argument("--train-size", type=positive_int, default=None,
                   help="train on a stratified subset of this many images (default: all)")
    p.add_argument("--lr-range", type=log_range, default=(1e-4, 1e-1), metavar="LOW,HIGH",
                   help="learning rate range, log-uniform (default 1e-4,1e-1)")
    p.add_argument("--reg-range", type=log_range, default=(1e-6, 1e-2), metavar="LOW,HIGH",
                   help="L2 regularization (weight decay) range, log-uniform (default 1e-6,1e-2)")
    p.add_argument("--hidden", type=hidden_sizes, default=(256, 128),
                   help="hidden layer widths, e.g. 256,128")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--backend", default="process", choices=["process", "serial", "ray"],
                   help="where trials run: worker processes (default), this process, or Ray")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (auto, ray://host:10001); default: a local Ray")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="parallel trials (default: one per core)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seeds the sampled configurations and every trial's training")
    p.add_argument("--top", type=positive_int, default=None, help="show only the best N trials")
    p.add_argument("--out", metavar="DIR", help="write search_<method>.json and search.png")
    p.add_argument("--data-root", metavar="DIR")
    p.add_argument("--quiet", action="store_true", help="no line per finished trial")
    p.set_defaults(func=cmd_search)
