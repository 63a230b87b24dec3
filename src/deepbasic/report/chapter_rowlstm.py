"""Chapter: sequence classification (many to one): an LSTM reads an image row by row and
classifies it from its last hidden state.

Quick: the 8x8 digits (8 steps of 8 values), hidden 64, 15 epochs. Full: Fashion-MNIST (28 steps
of 28 values; the digits when it is not on disk), hidden 128, 10 epochs.
"""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, on_disk, register

QUICK = dict(dataset="digits", epochs=15, lr=1e-2, batch_size=64, schedule="cosine",
             model_kwargs={"hidden": 64})
FULL = dict(dataset="fashion-mnist", epochs=10, lr=2e-3, batch_size=128, schedule="cosine",
            model_kwargs={"hidden": 128})


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os

    from deepbasic.data import load_dataset
    from deepbasic.train.recipes import train_classifier

    settings = dict(QUICK if quick or not on_disk() else FULL)
    run_dir = os.path.join(out_dir, "rowlstm")
    r = train_classifier("rowlstm", out_dir=run_dir, progress=False, verbose=False, **settings)
    c, h, w = load_dataset(settings["dataset"]).train.x.shape[1:]
    numbers = [
        ("setup", f"{settings['dataset']}: each image read as {h} steps of {c * w} values; LSTM "
                  f"of {settings['model_kwargs']['hidden']}, {r['parameters']:,} parameters, "
                  f"{r['epochs']} epochs"),
        ("test accuracy", f"{r['test_accuracy']:.4f} ({r['test_examples']:,} images, "
                          f"{r['train_time_s']:.1f} s of training)"),
    ]
    return ChapterResult(
        numbers=numbers,
        figures=[("rowlstm/curves.png", "Loss and validation accuracy per epoch"),
                 ("rowlstm/confusion.png", "Test confusion matrix")],
    )


register(Chapter(
    key="rowlstm",
    title="Recurrent networks: reading an image row by row",
    idea=("Many to one: the LSTM sees one row of pixels per time step and only its last hidden "
          "state goes to the classifier, so everything it needs must survive in its state to "
          "the end of the sequence."),
    command="deepbasic train rowlstm --dataset fashion-mnist --epochs 10 --lr 2e-3 "
            "--batch-size 128 --schedule cosine --out runs/rowlstm",
    run=run,
))
