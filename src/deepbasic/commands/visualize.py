"""``deepbasic visualize``: what a trained classifier looks at and what it learned, as PNGs.

    deepbasic train convnet --dataset digits --epochs 5 --out runs/digits
    deepbasic visualize saliency  --checkpoint runs/digits/best.safetensors --index 0 1 2 3
    deepbasic visualize guided    --checkpoint ... --index 0 [--layer features.2 --unit 3]
    deepbasic visualize occlusion --checkpoint ... --index 5 --patch 2 --stride 1
    deepbasic visualize class     --checkpoint ... --target 3 [--steps 200]
    deepbasic visualize fooling   --checkpoint ... --index 0 --target 7
    deepbasic visualize filters   --checkpoint ... --index 0     # filters + activation grids
    deepbasic visualize neighbors --checkpoint ... --index 0 1 --k 6

The checkpoint is one written by ``deepbasic train`` (the model is rebuilt from its saved
configuration). Images are PNG files of the training size (``--image``; grey for 1-channel
models, RGB for 3-channel ones) or, without ``--image``, the test images of the checkpoint's
dataset at ``--index``. ``--target`` is a class index or a class name; without it saliency,
guided backprop and occlusion explain the predicted class. See :mod:`deepbasic.visualize`.
"""
from __future__ import annotations

import os

import numpy as np

from deepbasic.cli_args import (CLIError, non_negative_float, non_negative_int, positive_float,
                                positive_int)
from deepbasic.commands._images import open_image

METHODS = ("saliency", "guided", "occlusion", "class", "fooling", "filters", "neighbors")


def _read_grey(paths, shape, option="--image") -> np.ndarray:
    """Grey (mode L) PNG files as a float32 batch (N, 1, H, W) in [0, 1]."""
    _, h, w = shape
    out = []
    for p in paths:
        mode, pixels = open_image(p, option)
        if mode != "L":
            raise CLIError(f"{option} {p}: the model takes 1-channel grey images, got a {mode} "
                           f"image")
        if pixels.shape != (h, w):
            raise CLIError(f"{option} {p}: the model takes {h}x{w} images, got "
                           f"{pixels.shape[0]}x{pixels.shape[1]}")
        out.append(pixels.astype(np.float32)[None] / np.float32(255.0))
    return np.stack(out)


def _class_index(text, classes, option="--target") -> int:
    if text in classes:
        return classes.index(text)
    try:
        k = int(text)
    except ValueError:
        raise CLIError(f"{option}: expected a class index in [0, {len(classes)}) or one of "
                       f"{', '.join(classes)}, got {text!r}") from None
    if not 0 <= k < len(classes):
        raise CLIError(f"{option}: expected a class index in [0, {len(classes)}), got {k}")
    return k


class _Context:
    """The model, its classes, and the dataset (loaded on first use)."""

    def __init__(self, args):
        from deepbasic.commands._images import load_model_checkpoint
        from deepbasic.train.recipes import load_model

        self.args = args
        self.model, ckpt = load_model_checkpoint(args.checkpoint, load_model, "classifier")
        self.config = ckpt.extra.get("config") or {}
        self.classes = [str(c) for c in self.config["classes"]]
        self.shape = tuple(int(s) for s in self.config["input_shape"])
        self._data = None

    def data(self):
        if self._data is None:
            from deepbasic.data import load_dataset

            name = self.config.get("dataset")
            if not name:
                raise CLIError(f"--checkpoint {self.args.checkpoint}: the checkpoint does not say "
                               f"which dataset it was trained on; give --image")
            self._data = load_dataset(name, root=self.args.data_root)
        return self._data

    def images(self):
        """(images (N, C, H, W) float32, true labels or None, names for titles)."""
        a = self.args
        if a.image:
            if len(self.shape) != 3 or self.shape[0] not in (1, 3):
                raise CLIError(f"--image: the model takes inputs {self.shape}, not images")
            if self.shape[0] == 3:
                from deepbasic.commands._images import read_images

                x = read_images(a.image, self.shape)
            else:
                x = _read_grey(a.image, self.shape)
            return x, None, [os.path.basename(p) for p in a.image]
        test = self.data().test
        n = len(test.x)
        for i in a.index:
            if not 0 <= i < n:
                raise CLIError(f"--index {i}: the test split has {n} images (0..{n - 1})")
        labels = np.asarray(test.y)[a.index]
        return (np.asarray(test.x)[a.index], labels,
                [f"#{i} ({self.classes[int(y)]})" for i, y in zip(a.index, labels)])

    def target(self, required=False):
        if self.args.target is None:
            if required:
                raise CLIError(f"visualize {self.args.method} needs --target (a class index or "
                               f"name: {', '.join(self.classes)})")
            return None
        return _class_index(self.args.target, self.classes)

    def out(self):
        return self.args.out or f"{self.args.method}.png"


def _predicted(model, x):
    from deepbasic.visualize.saliency import scores_of, softmax

    p = softmax(scores_of(model, x.astype(np.float64)))
    return p.argmax(axis=1), p


def _cmd_saliency(ctx, guided: bool):
    from deepbasic.visualize import guided_backprop, saliency
    from deepbasic.visualize.figures import plot_gradients, plot_saliency

    x, _, names = ctx.images()
    target = ctx.target()
    pred, p = _predicted(ctx.model, x)
    t = pred if target is None else np.full(len(x), target)
    titles = [f"{nm}\n{ctx.classes[int(k)]} p={p[i, k]:.2f}" for i, (nm, k) in
              enumerate(zip(names, t))]
    layer, unit = ctx.args.layer, ctx.args.unit
    if (layer is None) != (unit is None):
        raise CLIError("--layer and --unit go together (a neuron of an intermediate layer)")
    if layer is not None and not guided:
        raise CLIError("--layer/--unit are for guided and class")
    if guided:
        unit_index = None if unit is None else (tuple(unit) if len(unit) > 1 else unit[0])
        g = guided_backprop(ctx.model, x, target=None if layer else t, layer=layer,
                            unit=unit_index)
        what = f"neuron {layer}{list(unit)}" if layer else "class score"
        path = plot_gradients(x, g, ctx.out(), titles,
                              title=f"guided backprop of the {what}")
    else:
        path = plot_saliency(x, saliency(ctx.model, x, target=t), ctx.out(), titles)
    for nm, k, i in zip(names, t, range(len(x))):
        print(f"{nm}: explaining class {ctx.classes[int(k)]} (p={p[i, k]:.3f}, predicted "
              f"{ctx.classes[int(pred[i])]})")
    print(f"{'guided backprop' if guided else 'saliency'}: {path}")


def _cmd_occlusion(ctx):
    from deepbasic.visualize import occlusion_map
    from deepbasic.visualize.figures import plot_occlusion

    x, _, names = ctx.images()
    a = ctx.args
    h, w = x.shape[2:]
    if a.patch > min(h, w):
        raise CLIError(f"--patch {a.patch} is larger than the {h}x{w} image")
    pred, p = _predicted(ctx.model, x[:1])
    t = ctx.target()
    t = int(pred[0]) if t is None else t
    drop = occlusion_map(ctx.model, x[0], target=t, patch=a.patch, stride=a.stride,
                         fill=a.fill, per_pixel=True)
    path = plot_occlusion(x[0], drop, ctx.out(),
                          title=f"{names[0]}: drop in p({ctx.classes[t]}) = {p[0, t]:.3f}, "
                                f"patch {a.patch}, stride {a.stride}")
    i, j = np.unravel_index(np.argmax(drop), drop.shape)
    print(f"{names[0]}: p({ctx.classes[t]}) = {p[0, t]:.3f}; the largest drop "
          f"{drop[i, j]:.3f} hiding around pixel ({i}, {j})")
    print(f"occlusion: {path}")


def _cmd_class(ctx):
    from deepbasic.visualize import activation_maximization, class_visualization
    from deepbasic.visualize.figures import plot_images

    a = ctx.args
    kw = dict(shape=ctx.shape, steps=a.steps, lr=a.lr, l2=a.l2, blur_every=a.blur_every,
              blur_sigma=a.blur_sigma, jitter=a.jitter, seed=a.seed)
    if (a.layer is None) != (a.unit is None):
        raise CLIError("--layer and --unit go together (a neuron of an intermediate layer)")
    if a.layer is not None:
        unit = tuple(a.unit) if len(a.unit) > 1 else a.unit[0]
        r = activation_maximization(ctx.model, a.layer, unit, **kw)
        label = f"{a.layer}{list(a.unit)}"
    else:
        t = ctx.target(required=True)
        r = class_visualization(ctx.model, t, **kw)
        label = ctx.classes[t]
    pred, p = _predicted(ctx.model, r.image[None])
    first, last = r.history[0]["score"], r.history[-1]["score"]
    path = plot_images(r.image[None], ctx.out(),
                       [f"{label}\n(model: {ctx.classes[int(pred[0])]} p={p[0, pred[0]]:.2f})"],
                       title=f"maximizing {label}")
    print(f"maximizing {label}: score {first:.3f} -> {last:.3f} in {a.steps} steps; the model "
          f"calls the image {ctx.classes[int(pred[0])]} (p={p[0, pred[0]]:.3f})")
    print(f"class visualization: {path}")


def _cmd_fooling(ctx):
    from deepbasic.visualize import fooling_image
    from deepbasic.visualize.figures import plot_fooling

    x, _, names = ctx.images()
    t = ctx.target(required=True)
    a = ctx.args
    pred, _ = _predicted(ctx.model, x[:1])
    r = fooling_image(ctx.model, x[0], t, lr=a.lr, max_steps=a.steps)
    change = float(np.linalg.norm(r.image - x[0]))
    path = plot_fooling(x[0], r.image, ctx.out(),
                        labels=(f"{names[0]}: {ctx.classes[int(pred[0])]}",
                                f"now {ctx.classes[r.predicted]} (p={r.probability:.2f})"))
    if r.success:
        print(f"{names[0]}: {ctx.classes[int(pred[0])]} -> {ctx.classes[t]} after {r.steps} "
              f"steps of {a.lr:g} (L2 change {change:.3f}, max pixel change "
              f"{np.abs(r.image - x[0]).max():.3f})")
    else:
        print(f"{names[0]}: still {ctx.classes[r.predicted]} after {r.steps} steps "
              f"(p({ctx.classes[t]}) = {r.probability:.3f}); try more --steps or a larger --lr")
    print(f"fooling image: {path}")


def _cmd_filters(ctx):
    from deepbasic.visualize import activations, first_conv, plot_filters
    from deepbasic.visualize.figures import plot_activations

    conv = first_conv(ctx.model)
    w = conv.weight
    if w.shape[1] not in (1, 3):
        raise CLIError(f"the first convolution takes {w.shape[1]} channels; only 1 (grey) or 3 "
                       f"(RGB) filters can be drawn")
    out = ctx.out()
    path = plot_filters(w, out, title=f"first-layer filters {tuple(w.shape)}")
    print(f"filters: {path}")
    x, _, names = ctx.images()
    acts = activations(ctx.model, x[:1], ctx.args.layers)
    stem, ext = os.path.splitext(out)
    apath = plot_activations(acts, f"{stem}_activations{ext or '.png'}")
    print(f"activations of {names[0]} ({', '.join(acts)}): {apath}")


def _cmd_neighbors(ctx):
    from deepbasic.visualize import neighbors
    from deepbasic.visualize.figures import plot_neighbors

    a = ctx.args
    x, labels, names = ctx.images()
    train = ctx.data().train
    m = min(a.database, len(train.x))
    if a.k > m:
        raise CLIError(f"--k {a.k} is more than the {m} database images")
    db_x, db_y = np.asarray(train.x)[:m], np.asarray(train.y)[:m]
    r = neighbors(ctx.model, x, db_x, k=a.k)
    path = plot_neighbors(x, db_x, r, ctx.out(), labels=[ctx.classes[int(y)] for y in db_y])
    if labels is None:
        pred, _ = _predicted(ctx.model, x)
        labels = pred
    for space in ("feature", "pixel"):
        same = float(np.mean(db_y[r[space]] == np.asarray(labels)[:, None]))
        print(f"{space} space: {same:.2f} of the {a.k} nearest training images share the "
              f"query's class")
    print(f"neighbours of {len(x)} image(s) among {m} training images: {path}")


def cmd_visualize(args) -> int:
    ctx = _Context(args)
    method = args.method
    try:
        if method in ("saliency", "guided"):
            _cmd_saliency(ctx, guided=method == "guided")
        elif method == "occlusion":
            _cmd_occlusion(ctx)
        elif method == "class":
            _cmd_class(ctx)
        elif method == "fooling":
            _cmd_fooling(ctx)
        elif method == "filters":
            _cmd_filters(ctx)
        else:
            _cmd_neighbors(ctx)
    except ValueError as e:
        raise CLIError(str(e).splitlines()[0]) from None
    return 0


def _unit(text: str) -> tuple:
    import argparse

    try:
        unit = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a channel like 3 or an index like 3,1,2, got "
                                         f"{text!r}") from None
    if any(u < 0 for u in unit):
        raise argparse.ArgumentTypeError(f"expected non-negative indices, got {text!r}")
    return unit


def register(subparsers) -> None:
    p = subparsers.add_parser("visualize", help="saliency, guided backprop, occlusion, class "
                                                "visualization, fooling images, filters and "
                                                "neighbours of a trained classifier, as PNGs")
    p.add_argument("method", choices=METHODS, metavar="|".join(METHODS))
    p.add_argument("--checkpoint", required=True, help="a checkpoint written by deepbasic train")
    p.add_argument("--image", nargs="+", metavar="PNG",
                   help="image files of the training size (grey or RGB as the model takes)")
    p.add_argument("--index", nargs="+", type=non_negative_int, default=[0], metavar="I",
                   help="test images of the checkpoint's dataset (without --image; occlusion, "
                        "fooling and filters use the first)")
    p.add_argument("--target", help="class index or name (saliency/guided/occlusion: default "
                                    "the predicted class; needed by class and fooling)")
    p.add_argument("--out", metavar="PNG", help="the figure (default METHOD.png)")
    p.add_argument("--data-root", metavar="DIR", help="where the dataset's files are")
    g = p.add_argument_group("guided / class: an intermediate neuron instead of a class")
    g.add_argument("--layer", help="a layer name as in model.named_modules(), e.g. features.2")
    g.add_argument("--unit", type=_unit, help="a channel (3) or a full index (3,1,2)")
    g = p.add_argument_group("occlusion")
    g.add_argument("--patch", type=positive_int, default=2, help="side of the grey patch")
    g.add_argument("--stride", type=positive_int, default=1)
    g.add_argument("--fill", type=float, default=0.5, help="the patch's value")
    g = p.add_argument_group("class / fooling")
    g.add_argument("--steps", type=positive_int, default=None,
                   help="gradient steps (class: 200; fooling: at most 200)")
    g.add_argument("--lr", type=positive_float, default=None,
                   help="step length in pixel space (class: 0.5; fooling: 0.05)")
    g.add_argument("--l2", type=non_negative_float, default=1e-3, help="class: L2 penalty")
    g.add_argument("--blur-every", type=non_negative_int, default=10, help="class: 0 = never")
    g.add_argument("--blur-sigma", type=non_negative_float, default=0.5)
    g.add_argument("--jitter", type=non_negative_int, default=1, help="class: pixels, 0 = off")
    g.add_argument("--seed", type=non_negative_int, default=0)
    g = p.add_argument_group("filters / neighbors")
    g.add_argument("--layers", nargs="+", metavar="NAME",
                   help="filters: layers whose activations to draw (default: every ReLU)")
    g.add_argument("--k", type=positive_int, default=5, help="neighbors: how many")
    g.add_argument("--database", type=positive_int, default=500, metavar="N",
                   help="neighbors: search the first N training images")
    p.set_defaults(func=_run)


def _run(args) -> int:
    defaults = {"class": (200, 0.5), "fooling": (200, 0.05)}.get(args.method, (200, 0.5))
    if args.steps is None:
        args.steps = defaults[0]
    if args.lr is None:
        args.lr = defaults[1]
    return cmd_visualize(args)
