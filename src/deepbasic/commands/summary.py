"""``deepbasic summary``: a model's layers with output shapes, parameters and multiply-adds.

    deepbasic summary resnet18                       # ImageNet models: input 3x224x224
    deepbasic summary convnet --input 1,28,28 --classes 10 --depth 2
    deepbasic summary --checkpoint runs/convnet/best.safetensors

Builds the model from the registry (:func:`deepbasic.models.build_model`, its weights left at
zero by :func:`deepbasic.init.skip_init`: the table depends on shapes only) or, with
``--checkpoint``, rebuilds the model saved by ``deepbasic train``
(:func:`deepbasic.train.recipes.load_model`), runs it once on a zero example and prints
:func:`deepbasic.models.format_summary`'s table (like torchinfo). The default input is 3x224x224
for the ImageNet architectures, 1x28x28 for the small models, and the training input for a
checkpoint. An input the architecture cannot take (too small for its convolutions and pooling)
is a one-line error naming the layer that failed and the smallest square input that works.
"""
from __future__ import annotations

import argparse
import os

from deepbasic.cli_args import CLIError, positive_int

IMAGENET_INPUT = (3, 224, 224)
SMALL_INPUT = (1, 28, 28)


def input_shape(text: str) -> tuple:
    """An argparse type: an input shape without the batch dim, ``C,H,W`` (images) or ``D``
    (the MLP's features), positive integers, e.g. ``3,224,224``."""
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an input shape C,H,W like 3,224,224 (or D for the MLP), got {text!r}"
        ) from None
    if not 1 <= len(shape) <= 3 or any(s <= 0 for s in shape):
        raise argparse.ArgumentTypeError(
            f"expected an input shape C,H,W of positive sizes like 3,224,224 (or D for the MLP), "
            f"got {text!r}")
    return shape


def _small_models() -> list:
    """The registry's models sized for 8x8 to 32x32 images (``deepbasic train``'s models)."""
    from deepbasic.cli import TRAINABLE_MODELS

    return list(TRAINABLE_MODELS)


def default_input(model_name: str) -> tuple:
    """3x224x224 for the ImageNet architectures, 1x28x28 for the small models."""
    return SMALL_INPUT if model_name in _small_models() else IMAGENET_INPUT


def _shape_text(shape) -> str:
    return "x".join(map(str, shape))


def _from_checkpoint(args):
    """(model, name shown, input shape) of the model saved in ``args.checkpoint``."""
    from deepbasic.train.recipes import load_model

    if args.classes is not None:
        raise CLIError("--classes does not apply to --checkpoint: the checkpoint's model has as "
                       "many outputs as its training set had classes")
    if not os.path.isfile(args.checkpoint):
        raise CLIError(f"no checkpoint at {args.checkpoint}")
    model, ckpt = load_model(args.checkpoint)
    config = ckpt.extra["config"]
    if args.model is not None and args.model != config["model"]:
        raise CLIError(f"{args.checkpoint} holds a {config['model']} model, not {args.model}")
    trained = tuple(config["input_shape"])
    shape = args.input or trained
    name = f"{config['model']} from {args.checkpoint} (epoch {ckpt.epoch}, {config['dataset']})"
    return model, name, shape, trained


def cmd_summary(args) -> int:
    from deepbasic.init import skip_init
    from deepbasic.models import build_model, format_summary, summary
    from deepbasic.models.summary import smallest_square_input

    if args.checkpoint:
        model, name, shape, trained = _from_checkpoint(args)
    else:
        if args.model is None:
            from deepbasic.models import MODELS

            raise CLIError(f"expected a model name ({', '.join(MODELS)}) or --checkpoint CKPT, "
                           f"got neither")
        shape = args.input or default_input(args.model)
        small = args.model in _small_models()
        classes = args.classes or (10 if small else 1000)
        try:
            with skip_init():       # the table needs the shapes, not random weights
                model = build_model(args.model, shape, classes)
        except ValueError as e:
            raise CLIError(f"cannot build {args.model} for input {_shape_text(shape)}: "
                           f"{e}") from None
        name, trained = args.model, None
    try:
        s = summary(model, shape, depth=args.depth, model_name=name)
    except ValueError as e:
        if trained is not None and tuple(shape) != trained:
            hint = f"the checkpoint's model was trained on inputs {_shape_text(trained)}"
        else:
            side = smallest_square_input(model, shape[0]) if len(shape) == 3 else None
            hint = (f"the smallest square input it takes is {shape[0]}x{side}x{side}" if side
                    else "check the number of channels")
        raise CLIError(f"{e}; {hint}") from None
    print(format_summary(s))
    return 0


def register(subparsers) -> None:
    from deepbasic.models import MODELS

    p = subparsers.add_parser(
        "summary", help="a model's layers, output shapes, parameters and multiply-adds")
    p.add_argument("model", nargs="?", choices=list(MODELS), metavar="MODEL",
                   help=f"one of {', '.join(MODELS)} (optional with --checkpoint)")
    p.add_argument("--input", type=input_shape, default=None, metavar="C,H,W",
                   help="input shape without the batch dim (default 3,224,224 for the ImageNet "
                        "models, 1,28,28 for the small ones, the training input for --checkpoint)")
    p.add_argument("--classes", type=positive_int, default=None, metavar="N",
                   help="outputs of the classifier (default 1000 for the ImageNet models, 10 for "
                        "the small ones)")
    p.add_argument("--depth", type=positive_int, default=3, metavar="D",
                   help="levels of nesting shown; deeper layers are folded into their ancestor")
    p.add_argument("--checkpoint", metavar="CKPT",
                   help="summarize the model saved in a checkpoint of deepbasic train")
    p.set_defaults(func=cmd_summary)
