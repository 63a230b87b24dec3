"""The ``deepbasic`` command: thin wrappers that parse arguments, call the library and print.

    deepbasic info                       versions, backend, BLAS threads
    deepbasic train mlp|convnet|resnet20|... [--dataset digits] [--epochs 30] [--lr 1e-3]
                        [--batch-size 64] [--seed 0] [--augment] [--out RUN_DIR [--resume]]
                        [--device cpu|cuda]
    deepbasic eval RUN_DIR/best.safetensors
    deepbasic tour [--out DIR] [--quick|--full]
    deepbasic knn | linear | optimizers | search | ensemble | decay | summary | transfer ...
        (one module per chapter under deepbasic/commands)
"""
from __future__ import annotations

import argparse
import importlib
import sys

import numpy as np

from deepbasic.cli_args import (
    CLIError,
    Parser,
    hidden_sizes,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)

# The models of deepbasic.models.MODELS sized for 8x8 to 32x32 images (the ImageNet architectures
# are built with deepbasic.models and shown by ``deepbasic summary``).
TRAINABLE_MODELS = ["mlp", "threelayer", "convnet", "vgg-small", "resnet20", "rowlstm"]

# Chapters add their commands as modules with ``register(subparsers)``, in curriculum order.
COMMAND_MODULES: list[str] = ["deepbasic.commands.knn", "deepbasic.commands.linear",
                              "deepbasic.commands.optimizers",
                              "deepbasic.commands.search", "deepbasic.commands.ensemble",
                              "deepbasic.commands.decay", "deepbasic.commands.summary",
                              "deepbasic.commands.transfer", "deepbasic.commands.charlm",
                              "deepbasic.commands.caption", "deepbasic.commands.segment",
                              "deepbasic.commands.localize", "deepbasic.commands.detect",
                              "deepbasic.commands.visualize", "deepbasic.commands.generate",
                              "deepbasic.commands.rl"]


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


def _model_kwargs(args) -> dict:
    """The options of ``deepbasic train`` that shape the model, checked against the model."""
    if args.model == "mlp":
        if args.channels is not None:
            raise CLIError("--channels is for convnet; the MLP's layers are set by --hidden")
        return {"hidden": list(args.hidden), "batch_norm": args.batch_norm,
                "dropout": 0.0 if args.dropout is None else args.dropout}
    if args.model == "rowlstm" and not args.batch_norm:
        if args.channels is not None or args.dropout is not None:
            raise CLIError("--channels and --dropout are not options of rowlstm (--hidden N sets "
                           "its LSTM width)")
        if not args.hidden_given:
            return {}
        if len(args.hidden) != 1:
            raise CLIError(f"rowlstm has one LSTM layer: give --hidden one width, got "
                           f"{','.join(map(str, args.hidden))}")
        return {"hidden": args.hidden[0]}
    if args.batch_norm or args.hidden_given:
        raise CLIError(f"--hidden and --batch-norm are for the MLP; {args.model} has its own "
                       f"layers (see deepbasic summary {args.model})")
    kwargs = {}
    if args.channels is not None:
        if args.model != "convnet":
            raise CLIError(f"--channels is for convnet, not {args.model}")
        kwargs["channels"] = list(args.channels)
    if args.dropout is not None:
        if args.model != "convnet":
            raise CLIError(f"--dropout is for mlp and convnet, not {args.model}")
        kwargs["dropout"] = args.dropout
    return kwargs


class _HiddenAction(argparse.Action):
    """Store --hidden and remember that it was given (it only applies to the MLP)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.hidden_given = True


def cmd_train(args) -> int:
    from deepbasic.train.recipes import train_classifier

    if args.resume and not args.out:
        raise CLIError("--resume needs --out RUN_DIR (the run to continue)")
    if args.device == "cuda":
        from deepbasic import backend

        if not backend.cupy_available():
            raise CLIError("--device cuda needs CuPy and a GPU that it sees "
                           "(pip install 'deepbasic[gpu]'); `deepbasic info` says what it found")
    model_kwargs = _model_kwargs(args)
    shown = f" {args.hidden}" if args.model == "mlp" else (
        f" (hidden {model_kwargs['hidden']})" if "hidden" in model_kwargs else "")
    print(f"training {args.model}{shown} on {args.dataset} for {args.epochs} epochs"
          + (" with augmentation" if args.augment else "")
          + (" on the GPU" if args.device == "cuda" else "")
          + (f" into {args.out}" if args.out else ""))
    r = train_classifier(args.model, args.dataset, epochs=args.epochs, lr=args.lr,
                         batch_size=args.batch_size, weight_decay=args.weight_decay,
                         seed=args.seed, out_dir=args.out, resume=args.resume,
                         model_kwargs=model_kwargs, progress=not args.no_progress,
                         patience=args.patience, data_root=args.data_root,
                         schedule=args.schedule, augment=args.augment, device=args.device)
    print(r["confusion_text"])
    print(f"test accuracy {r['test_accuracy']:.4f}  ({r['test_examples']} examples, "
          f"{r['train_time_s']:.1f} s training, {r['train_examples_per_s']:,.0f} examples/s)")
    if args.out:
        print(f"run directory: {args.out} (last.safetensors, best.safetensors, metrics.jsonl, "
              f"curves.png, confusion.png, result.json)")
    return 0


def cmd_eval(args) -> int:
    import os

    from deepbasic.train.recipes import evaluate_checkpoint

    if not os.path.exists(args.checkpoint):
        raise CLIError(f"no checkpoint at {args.checkpoint}")
    r = evaluate_checkpoint(args.checkpoint, dataset=args.dataset, data_root=args.data_root)
    print(r["confusion_text"])
    print(f"test accuracy {r['accuracy']:.4f} on {r['test_examples']} {r['dataset']} test "
          f"examples (checkpoint of epoch {r['epoch']}); confusion matrix: {r['confusion_png']}")
    return 0


def cmd_tour(args) -> int:
    from deepbasic.report import run_tour

    path = run_tour(args.out, quick=not args.full, only=args.chapters or None)
    print(f"open {path}")
    return 0


def build_parser() -> Parser:
    parser = Parser(
        prog="deepbasic",
        description="deepbasic: the fundamentals of deep learning for computer vision.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    p = sub.add_parser("info", help="versions, backend and BLAS threads")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("train", help="train a model and report test accuracy")
    p.add_argument("model", choices=TRAINABLE_MODELS, help="the model to train")
    p.add_argument("--dataset", default="digits",
                   choices=["digits", "fashion-mnist", "mnist", "cifar10"])
    p.add_argument("--epochs", type=positive_int, default=30)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--weight-decay", type=non_negative_float, default=0.0)
    p.add_argument("--hidden", type=hidden_sizes, default=(256, 128), action=_HiddenAction,
                   help="mlp: hidden layer widths, e.g. 256,128; rowlstm: the LSTM's width "
                        "(default 128)")
    p.add_argument("--batch-norm", action="store_true",
                   help="mlp: batch norm after each hidden layer")
    p.add_argument("--channels", type=hidden_sizes, default=None,
                   help="convnet: filters of each conv block, e.g. 32,64")
    p.add_argument("--dropout", type=probability, default=None,
                   help="mlp (default 0) and convnet (default 0.25)")
    p.add_argument("--augment", action="store_true",
                   help="random crops (padding 1/8 of the side) and horizontal flips (not for "
                        "digits) of the training images")
    p.set_defaults(hidden_given=False)
    p.add_argument("--schedule", default="constant", choices=["constant", "step", "exponential", "cosine"],
                   help="lr over epochs: constant, step, exponential (both to lr/100) or cosine to 0")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--out", metavar="RUN_DIR", help="write checkpoints, metrics and plots here")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--patience", type=positive_int, default=None,
                   help="stop after this many epochs without a better validation accuracy")
    p.add_argument("--data-root", metavar="DIR", help="where the dataset's files are")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="train on the CPU (NumPy) or on a GPU (CuPy)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint on the test split")
    p.add_argument("checkpoint", help="a .safetensors checkpoint written by deepbasic train")
    p.add_argument("--dataset", default=None,
                   choices=["digits", "fashion-mnist", "mnist", "cifar10"],
                   help="defaults to the dataset the model was trained on")
    p.add_argument("--data-root", metavar="DIR")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("tour", help="run every chapter and write an illustrated HTML report")
    p.add_argument("--out", default="tour", metavar="DIR")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="short versions (default, < 10 min)")
    mode.add_argument("--full", action="store_true", help="the full versions")
    p.add_argument("--chapters", nargs="*", metavar="KEY", help="run only these chapters")
    p.set_defaults(func=cmd_tour)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from deepbasic.train.trainer import NonFiniteLossError

    try:
        return args.func(args)
    except (CLIError, OSError, ValueError, NonFiniteLossError) as e:
        print(f"deepbasic: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepbasic: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
