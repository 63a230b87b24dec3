"""Chapter: a multilayer perceptron trained with minibatch Adam."""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, register


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os

    from deepbasic.train.recipes import train_classifier

    run_dir = os.path.join(out_dir, "mlp")
    if quick:
        r = train_classifier("mlp", "digits", epochs=15, out_dir=run_dir, progress=False,
                             verbose=False)
    else:
        r = train_classifier("mlp", "fashion-mnist", epochs=20, out_dir=run_dir, progress=False,
                             verbose=False, model_kwargs={"hidden": [512, 256], "dropout": 0.2})
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
    command="deepbasic train mlp --dataset fashion-mnist --epochs 20 --hidden 512,256 --dropout 0.2",
    run=run,
))
