"""Chapter: a multilayer perceptron trained with minibatch Adam."""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, register


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os

    from deepbasic.train.recipes import train_classifier

    run_dir = os.path.join(out_dir, "mlp")
    if quick:
        r = train_classifier("mlp", "digits", epochs=40, lr=3e-3, schedule="cosine",
                             model_kwargs={"batch_norm": True, "dropout": 0.1},
                             out_dir=run_dir, progress=False, verbose=False)
    else:
        r = train_classifier("mlp", "fashion-mnist", epochs=30, lr=1e-3, batch_size=128,
                             schedule="cosine", out_dir=run_dir, progress=False, verbose=False,
                             model_kwargs={"hidden": [512, 256], "batch_norm": True,
                                           "dropout": 0.2})
    numbers = [
        ("dataset", f"{r['dataset']} ({r['test_examples']} test images)"),
        ("parameters", f"{r['parameters']:,}"),
        ("epochs", r["epochs"]),
        ("test accuracy", f"{r['test_accuracy']:.4f}"),
        ("training time", f"{r['train_time_s']:.1f} s ({r['train_examples_per_s']:,.0f} examples/s)"),
    ]
    return ChapterResult(
        numbers=numbers,
        figures=[("mlp/curves.png", "Training and validation loss, validation accuracy per epoch"),
                 ("mlp/confusion.png", "Confusion matrix on the test set")],
    )


register(Chapter(
    key="mlp",
    title="A multilayer perceptron",
    idea=("Stacked linear layers with ReLU between them, He-initialized, trained by minibatch "
          "gradient descent with Adam on softmax cross-entropy: the first network that learns "
          "its own features."),
    command=("deepbasic train mlp --dataset fashion-mnist --epochs 30 --hidden 512,256 --batch-norm "
             "--dropout 0.2 --schedule cosine --batch-size 128 --out runs/mlp-fashion"),
    run=run,
))
