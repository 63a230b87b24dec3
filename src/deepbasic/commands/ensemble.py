"""``deepbasic ensemble``: train several MLPs (or one run's snapshots) and average their predictions.

    deepbasic ensemble --dataset fashion-mnist --members 5 --epochs 12 --hidden 256,128 \\
        --schedule cosine --batch-size 128 --out runs/ensemble
    deepbasic ensemble --snapshots --members 5 --epochs 15 --snapshot-every 3 --out runs/snapshots

Independent ensemble: member i is a complete ``deepbasic train mlp`` run with seed ``--seed + i - 1``
in ``DIR/member_<i>``. ``--snapshots``: one run in ``DIR/run`` keeps a checkpoint every
``--snapshot-every`` epochs and the last ``--members`` of them are the ensemble. Prints each
member's test accuracy, the best single one, the ensemble's (mean of the softmax probabilities)
and the gain; writes ``DIR/ensemble.json`` and ``DIR/ensemble.png``.
"""
from __future__ import annotations

import json
import os
import time

from deepbasic.cli_args import (CLIError, hidden_sizes, non_negative_float, non_negative_int,
                                positive_float, positive_int, probability)
from deepbasic.train.recipes import SCHEDULES


def cmd_ensemble(args) -> int:
    from deepbasic.data import load_dataset
    from deepbasic.serialization import atomic_write
    from deepbasic.tune.ensemble import (ensemble_report, format_ensemble_report,
                                         plot_ensemble_report, snapshot_ensemble, train_ensemble)

    every = args.snapshot_every
    if every is not None and not args.snapshots:
        raise CLIError("--snapshot-every needs --snapshots")
    if args.snapshots:
        every = every or max(1, args.epochs // args.members)
        if args.epochs // every < args.members:
            raise CLIError(f"--snapshots: {args.epochs} epochs with a snapshot every {every} keep "
                           f"{args.epochs // every} snapshot(s), fewer than --members "
                           f"{args.members}; raise --epochs or lower --snapshot-every")
    data = load_dataset(args.dataset, root=args.data_root)
    train_kwargs = dict(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                        weight_decay=args.weight_decay, schedule=args.schedule,
                        data_root=args.data_root,
                        model_kwargs={"hidden": list(args.hidden), "batch_norm": args.batch_norm,
                                      "dropout": args.dropout})
    kind = "snapshot ensemble" if args.snapshots else "ensemble"
    what = (f"the last {args.members} of the snapshots every {every} epochs of one run"
            if args.snapshots else f"{args.members} MLPs (seeds {args.seed}..{args.seed + args.members - 1})")
    print(f"{kind} on {args.dataset}: {what}, hidden {list(args.hidden)}, {args.epochs} epochs, "
          f"lr {args.lr:g} ({args.schedule})" + (f", into {args.out}" if args.out else ""))
    t0 = time.perf_counter()
    if args.snapshots:
        run_dir = os.path.join(args.out, "run") if args.out else None
        ens, result = snapshot_ensemble(args.dataset, members=args.members, snapshot_every=every,
                                        out_dir=run_dir, seed=args.seed, verbose=not args.quiet,
                                        **train_kwargs)
        run_dirs = [result["run_dir"]]
    else:
        ens, results = train_ensemble(args.members, args.dataset, out_dir=args.out, seed=args.seed,
                                      checkpoint=args.checkpoint, verbose=not args.quiet,
                                      **train_kwargs)
        run_dirs = [r["run_dir"] for r in results]
    seconds = time.perf_counter() - t0
    report = ensemble_report(ens, data.test.x, data.test.y)
    print(format_ensemble_report(report, title=kind))
    print(f"{seconds:.1f} s training and loading")
    if args.out:
        report.update(kind=kind, dataset=args.dataset, seconds=seconds, run_dirs=run_dirs,
                      settings={k: v for k, v in vars(args).items() if k != "func"})
        path = os.path.join(args.out, "ensemble.json")
        with atomic_write(path, "w") as f:
            json.dump(report, f, indent=1)
        png = plot_ensemble_report(report, os.path.join(args.out, "ensemble.png"),
                                   title=f"{kind} on {args.dataset}")
        print(f"result: {path}\nplot: {png}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("ensemble", help="average the predictions of several MLPs "
                                               "(or of one run's snapshots)")
    p.add_argument("--dataset", default="digits", choices=["digits", "fashion-mnist", "mnist"])
    p.add_argument("--members", type=positive_int, default=5, help="models in the ensemble")
    p.add_argument("--epochs", type=positive_int, default=15, help="epochs of each run")
    p.add_argument("--hidden", type=hidden_sizes, default=(256, 128),
                   help="hidden layer widths, e.g. 256,128")
    p.add_argument("--batch-norm", action="store_true", help="batch norm after each hidden layer")
    p.add_argument("--dropout", type=probability, default=0.0)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--weight-decay", type=non_negative_float, default=0.0)
    p.add_argument("--schedule", default="constant", choices=list(SCHEDULES),
                   help="learning rate over epochs (see deepbasic train --help)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the first member; member i uses seed + i - 1")
    p.add_argument("--checkpoint", default="last", choices=["last", "best"],
                   help="each member's final weights or its best validation checkpoint "
                        "(independent members only)")
    p.add_argument("--snapshots", action="store_true",
                   help="a snapshot ensemble: the last --members checkpoints of one run")
    p.add_argument("--snapshot-every", type=positive_int, default=None, metavar="K",
                   help="with --snapshots: keep a checkpoint every K epochs "
                        "(default epochs // members)")
    p.add_argument("--out", metavar="DIR",
                   help="the runs (member_<i>/ or run/), ensemble.json and ensemble.png")
    p.add_argument("--data-root", metavar="DIR")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.set_defaults(func=cmd_ensemble)
