"""Chapter: a convolutional network, with and without data augmentation, and its first-layer
filters.

Trains the registry's ``convnet`` (3x3 conv -> batch norm -> ReLU -> 2x2 max pool blocks, then
dropout and a linear classifier) twice with the same seed and settings, once on the plain
training images and once with random crops (and, except for digits, horizontal flips: see
:func:`deepbasic.train.recipes.augmentation`), and reports both test accuracies. Each run lives
in ``convnet/plain`` or ``convnet/augment`` (checkpoints, curves.png, confusion.png, result.json)
plus ``filters.png``: the first convolution's filters of the final weights (the ones tested),
drawn by :func:`deepbasic.visualize.plot_filters`.

Quick: the 8x8 ``digits`` (1,078 training images), channels (16, 32), 8 epochs each (about 40 s
in all on two cores busy with other work; about a quarter of it the per-epoch checkpoints and
curves.png). Full: Fashion-MNIST (falls back to digits when it is not on disk), channels
(32, 64), 15 epochs each.
"""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, register

QUICK = dict(dataset="digits", epochs=8, lr=3e-3, batch_size=32, schedule="cosine",
             model_kwargs={"channels": [16, 32]})
FULL = dict(dataset="fashion-mnist", epochs=15, lr=1e-3, batch_size=128, schedule="cosine",
            model_kwargs={"channels": [32, 64]})


def train_pair(out_dir: str, dataset: str, **kwargs) -> dict:
    """Train ``convnet`` on ``dataset`` without and with augmentation into ``out_dir/plain`` and
    ``out_dir/augment``, and draw each run's first-layer filters into ``filters.png`` there.

    Returns ``{"plain": result, "augment": result}`` with :func:`train_classifier`'s results, each
    with ``run_dir`` and ``filters_shape`` (F, C, kh, kw) added."""
    import os

    from deepbasic.train.recipes import load_model, train_classifier
    from deepbasic.visualize import first_conv, plot_filters

    results = {}
    for key, augment in (("plain", False), ("augment", True)):
        run_dir = os.path.join(out_dir, key)
        r = train_classifier("convnet", dataset, augment=augment, out_dir=run_dir,
                             progress=False, verbose=False, **kwargs)
        model, ckpt = load_model(os.path.join(run_dir, "last.safetensors"))
        weight = first_conv(model).weight
        plot_filters(weight, os.path.join(run_dir, "filters.png"),
                     title=f"first-layer filters, {dataset}, "
                           f"{'with' if augment else 'no'} augmentation (epoch {ckpt.epoch})")
        results[key] = dict(r, run_dir=run_dir, filters_shape=tuple(weight.shape))
    return results


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os
    import time

    from deepbasic.data import load_dataset
    from deepbasic.data.errors import DatasetNotFoundError

    settings = dict(QUICK if quick else FULL)
    notes = []
    if not quick:
        try:
            load_dataset(settings["dataset"], download=False)
        except DatasetNotFoundError:
            notes.append(f"{settings['dataset']} is not on disk: this run used digits instead "
                         f"(deepbasic train convnet --dataset fashion-mnist downloads it).")
            settings["dataset"] = "digits"
    name = settings.pop("dataset")
    t0 = time.perf_counter()
    results = train_pair(os.path.join(out_dir, "convnet"), name, **settings)
    seconds = time.perf_counter() - t0
    plain, aug = results["plain"], results["augment"]
    f, c, kh, kw = plain["filters_shape"]
    flips = "" if name in ("digits", "mnist") else " and horizontal flips"
    numbers = [
        ("setup", f"{name} ({plain['test_examples']} test images), ConvNet channels "
                  f"{settings['model_kwargs']['channels']} ({plain['parameters']:,} parameters), "
                  f"Adam lr {settings['lr']:g} ({settings['schedule']}), batch "
                  f"{settings['batch_size']}, {settings['epochs']} epochs, seed 0 for both runs "
                  f"({seconds:.1f} s in all)"),
        ("test accuracy without augmentation",
         f"{plain['test_accuracy']:.4f} (best validation {plain['best_val_accuracy']:.4f}, "
         f"{plain['train_time_s']:.1f} s training)"),
        (f"test accuracy with augmentation (random crops{flips})",
         f"{aug['test_accuracy']:.4f} (best validation {aug['best_val_accuracy']:.4f}, "
         f"{aug['train_time_s']:.1f} s training)"),
        ("gain from augmentation", f"{aug['test_accuracy'] - plain['test_accuracy']:+.4f}"),
        ("final training loss (without, with augmentation)",
         f"{plain['history'][-1]['train_loss']:.4f}, {aug['history'][-1]['train_loss']:.4f}"),
        ("first layer", f"{f} filters of {c}x{kh}x{kw}"),
    ]
    notes.append("Augmentation shows the network a slightly different image every epoch, so it "
                 "cannot memorize the training set: its training loss stays higher, and the "
                 "gain on the test set, if any, comes with longer training; in a short run it "
                 "can cost accuracy.")
    notes.append("Each filter is scaled to [0, 1] on its own (black: its most negative weight, "
                 "white: its most positive); look for oriented edges (a dark and a bright side) "
                 "and spots.")
    return ChapterResult(
        numbers=numbers,
        figures=[("convnet/plain/filters.png", "First-layer filters without augmentation"),
                 ("convnet/augment/filters.png", "First-layer filters with augmentation"),
                 ("convnet/plain/curves.png", "Loss and validation accuracy without "
                                              "augmentation"),
                 ("convnet/augment/curves.png", "Loss and validation accuracy with "
                                                "augmentation")],
        notes=notes,
    )


register(Chapter(
    key="convnet",
    title="A convolutional network and data augmentation",
    idea=("Small shared filters slid over the image (convolution), batch norm, ReLU and "
          "pooling learn local features with far fewer weights than an MLP; randomly shifted "
          "and flipped copies of the training images make it robust to where the object is."),
    command=("deepbasic train convnet --dataset fashion-mnist --epochs 15 --batch-size 128 "
             "--schedule cosine --augment --out runs/convnet-fashion"),
    run=run,
))
