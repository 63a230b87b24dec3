"""Chapter: transfer learning, a pretrained network's features reused for new classes."""
from __future__ import annotations

from deepbasic.report.chapters import Chapter, ChapterResult, on_disk, register

#: the settings of the quick (digits) and full (Fashion-MNIST) versions
# (digits: a few steps per epoch, so a larger fine-tuning lr; at 1e-3 the new head underfits)
QUICK = dict(dataset="digits", per_class=10, pretrain_epochs=10, finetune_epochs=20, lr=1e-2,
             batch_size=32, pretrain_batch_size=64, finetune="all")
FULL = dict(dataset="fashion-mnist", per_class=100, pretrain_epochs=5, finetune_epochs=30,
            batch_size=64, pretrain_batch_size=128, finetune="all")


def run(out_dir: str, quick: bool) -> ChapterResult:
    import os

    from deepbasic.train.transfer import plot_transfer, transfer_experiment

    settings = dict(QUICK if quick else FULL)
    if not quick and not on_disk():
        settings = dict(QUICK, per_class=50)
    root = os.path.join(out_dir, "transfer")
    # quick: no run directories (checkpoints, curves per epoch), only the summary figure
    r = transfer_experiment(settings.pop("dataset"), "0-4", "5-9", seed=0,
                            out_dir=None if quick else root, **settings)
    if quick:
        plot_transfer(r, os.path.join(root, "transfer.png"))
    t, s, pre = r["transfer"], r["scratch"], r["pretrain"]

    def classes(ids, names):
        text = ",".join(map(str, ids))
        return text if names == [str(i) for i in ids] else f"{text} ({', '.join(names)})"

    numbers = [
        ("setup", f"{r['dataset']}: {r['model']} pretrained on classes "
                  f"{classes(r['source_classes'], r['source_names'])} for {pre['epochs']} "
                  f"epochs; target classes {classes(r['target_classes'], r['target_names'])} "
                  f"with {r['per_class']} labelled images each ({r['train_examples']} in all)"),
        (f"pretrained network, test accuracy on its {len(r['source_classes'])} classes",
         f"{pre['source_test_accuracy']:.4f} ({pre['seconds']:.1f} s)"),
        (f"from scratch ({s['parameters']['trainable']:,} parameters, {s['epochs']} epochs)",
         f"{s['test_accuracy']:.4f} ({s['train_seconds']:.1f} s of training steps)"),
        (f"transfer, new last layer only ({t['parameters']['trainable']:,} of "
         f"{t['parameters']['total']:,} parameters, {r['finetune_epochs']} epochs)",
         f"{t['head_test_accuracy']:.4f}"),
        (f"transfer, then every layer at lr/10 ({r['finetune_epochs']} more epochs)",
         f"{t['test_accuracy']:.4f} ({t['train_seconds']:.1f} s of training steps, both "
         f"stages)"),
        ("gain of transfer over scratch", f"{r['gain']:+.4f} on {r['test_examples']:,} test "
                                          f"images of the target classes"),
    ]
    return ChapterResult(
        numbers=numbers,
        figures=[("transfer/transfer.png", "Test accuracy on the target classes (from scratch, "
                                           "transferred head, then all layers) and validation "
                                           "accuracy per fine-tuning epoch")],
        notes=["Scratch and transfer see the same labelled images in the same order, with the "
               "same optimizer, learning rate and number of epochs; both are measured with "
               "their final weights (the validation curve is only drawn, never used to pick "
               "a model)."] + [f"warning: {w}" for w in r["warnings"]],
    )


register(Chapter(
    key="transfer",
    title="Transfer learning",
    idea=("Features learned on one task are a good start for a related one: keep a trained "
          "network, replace its last fully connected layer by a new one for the new classes, "
          "freeze the rest and train only that layer (then, optionally, everything at a lower "
          "learning rate). With few labels this can beat training the same network from "
          "scratch."),
    command=("deepbasic transfer --dataset fashion-mnist --source 0-4 --target 5-9 "
             "--per-class 100 --pretrain-epochs 5 --epochs 30 --finetune all --out runs/transfer"),
    run=run,
))
