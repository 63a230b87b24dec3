"""The ``deepbasic`` command: thin wrappers that parse arguments, call the library and print.

    deepbasic info                       versions, backend, BLAS threads
    deepbasic train mlp [--dataset digits] [--epochs 30] [--lr 1e-3] [--batch-size 64] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return value


def _hidden_sizes(text: str) -> tuple:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths like 256,128, got {text!r}"
        ) from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"expected positive layer widths like 256,128, got {text!r}")
    return sizes


def cmd_info(args) -> int:
    import deepbasic
    from deepbasic import backend

    print(f"deepbasic {deepbasic.__version__}")
    print(f"python    {sys.version.split()[0]}")
    print(f"numpy     {np.__version__}")
    try:
        import cupy  # type: ignore

        gpu = "available" if backend.cupy_available() else "no GPU found"
        print(f"cupy      {cupy.__version__} ({gpu})")
    except Exception:
        print("cupy      not installed (CPU only)")
    print(f"backend   {'cuda' if backend.cupy_available() else 'cpu'}")
    print(f"blas      {backend.blas_threads()}")
    print(f"dtype     {backend.get_default_dtype()}")
    return 0


def cmd_train(args) -> int:
    import deepbasic
    from deepbasic import nn, optim
    from deepbasic.data import load_dataset
    from deepbasic.models import MLP
    from deepbasic.train import evaluate, train_epoch

    deepbasic.manual_seed(args.seed)
    data = load_dataset(args.dataset)
    in_features = int(np.prod(data.train.x.shape[1:]))
    model = MLP(in_features, len(data.classes), hidden=args.hidden,
                batch_norm=args.batch_norm, dropout=args.dropout)
    optimizer = optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    print(f"training {args.model} {args.hidden} on {args.dataset}: "
          f"{len(data.train)} train, {len(data.val)} val, {len(data.test)} test examples")
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        loss = train_epoch(model, loss_fn, optimizer, data.train.x, data.train.y, args.batch_size)
        if epoch == args.epochs or epoch % max(1, args.epochs // 10) == 0:
            val = evaluate(model, data.val.x, data.val.y)
            print(f"epoch {epoch:3d}  loss {loss:.4f}  val acc {val:.4f}")
    elapsed = time.perf_counter() - start
    test = evaluate(model, data.test.x, data.test.y)
    print(f"test accuracy {test:.4f}  ({len(data.test)} examples, {elapsed:.1f} s training)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepbasic",
        description="deepbasic: the fundamentals of deep learning for computer vision.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("info", help="versions, backend and BLAS threads")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("train", help="train a model and report test accuracy")
    p.add_argument("model", choices=["mlp"], help="the model to train")
    p.add_argument("--dataset", default="digits", choices=["digits", "fashion-mnist", "mnist"])
    p.add_argument("--epochs", type=_positive_int, default=30)
    p.add_argument("--lr", type=_positive_float, default=1e-3)
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--hidden", type=_hidden_sizes, default=(256, 128),
                   help="hidden layer widths, e.g. 256,128")
    p.add_argument("--batch-norm", action="store_true", help="batch norm after each hidden layer")
    p.add_argument("--dropout", type=_probability, default=0.0)
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.set_defaults(func=cmd_train)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CLIError, FileNotFoundError, ValueError) as e:
        print(f"deepbasic: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepbasic: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
